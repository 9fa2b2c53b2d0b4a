# Two commands: `make run` sets up everything and runs the product on embedded defaults;
# `make test` sets up and runs the whole suite against PostgreSQL and Redis.

PYTHON ?= $(shell command -v python3.12 2>/dev/null || echo python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

# The tests run on the local PostgreSQL and Redis unless told otherwise.
TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/subexp)
TEST_BROKER_URL ?= $(or $(CELERY_BROKER_URL),redis://127.0.0.1:6379/0)
# DEBUG is off unless the environment turns it on. The embedded default (`make run`) and the tests
# turn it on for the settings (plain-HTTP cookies, a development key; pytest-django still runs the
# views with DEBUG off); tests/test_production_settings.py checks the production shape.
EMBEDDED := DEBUG=$(or $(DEBUG),1)

.PHONY: setup frontend run demo-events test lint format bench migrate seed worker beat web clean stop-db stack chaos

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv==0.13.8
	$(VENV)/bin/uv pip sync -q --python $(PY) requirements.lock
	touch $(STAMP)

setup: $(STAMP) frontend

frontend:
	@if [ -f frontend/package.json ]; then \
		cd frontend && (test -d node_modules || npm ci --no-audit --no-fund) && npm run build; \
	fi
	@# The canvas (experiences/frontend): npm ci when the lock changed, build when sources did.
	@cd experiences/frontend && \
		{ test node_modules/.package-lock.json -nt package-lock.json || npm ci --no-audit --no-fund; } && \
		{ test -f ../static/experiences/builder/builder.js && \
		  test -z "$$(find src vite.config.js package-lock.json -newer ../static/experiences/builder/builder.js)" || \
		  npm run build; }

migrate: setup
	$(EMBEDDED) $(PY) manage.py migrate --noinput

seed: migrate
	$(EMBEDDED) $(PY) manage.py seed_demo

# A stream of realistic signed webhooks through the running app's real endpoints (`make run` in
# another terminal): DEMO_ARGS="--count 500 --rate 5" for more.
DEMO_ARGS ?= --count 200 --rate 2
demo-events: setup
	$(EMBEDDED) $(PY) manage.py send_demo_events --url http://$(HOST):$(PORT) $(DEMO_ARGS)

# Embedded defaults (unless DATABASE_URL / CELERY_BROKER_URL are set): a private PostgreSQL server
# (started by the settings, data in var/postgres, unix socket only) and a filesystem Celery broker
# under var/; web, and a worker with beat embedded, in one go. On the way out it stops the
# processes, then the private server.
run: seed
	@echo ""
	@echo "  App:       http://$(HOST):$(PORT)/app/   (log in as owner, editor or viewer)"
	@echo "  Live demo: make demo-events   (in a second terminal: signed webhooks through the app)"
	@echo "  Admin:     http://$(HOST):$(PORT)/admin/   (store \"Demo Coffee Co\", slug demo)"
	@echo "  API docs:  http://$(HOST):$(PORT)/api/docs/"
	@echo "  Log in as: staff / demo-password   (Django staff: the admin)"
	@echo "  Merchant users: owner, editor, viewer / demo-password"
	@echo "  API token: DEBUG=1 $(PY) manage.py create_api_token owner"
	@echo ""
	@trap 'trap - INT TERM EXIT; kill $$(jobs -p) 2>/dev/null; wait; \
	      [ -n "$$DATABASE_URL" ] || $(PY) -m config.embedded_postgres stop' INT TERM EXIT; \
	export $(EMBEDDED); rm -rf var/prometheus; \
	$(VENV)/bin/celery -A config worker -B -l info -Q default,ingest,segments,analytics,experiences,scheduled -c 2 & \
	$(PY) manage.py runserver $(HOST):$(PORT) --noreload

# The production shape on this machine: the Procfile's processes (gunicorn, a Celery worker per
# queue, one beat) under honcho, on PostgreSQL and Redis from the environment (the local ones by
# default), DEBUG off, static files collected and served by whitenoise, metrics from every
# process summed through PROMETHEUS_MULTIPROC_DIR (emptied at each start).
STACK_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/subexp)
STACK_BROKER_URL ?= $(or $(CELERY_BROKER_URL),redis://127.0.0.1:6379/0)
STACK_ENV = DEBUG=$(or $(DEBUG),0) SECRET_KEY=$(or $(SECRET_KEY),stack-local-key-set-SECRET_KEY) \
	SECURE_SSL_REDIRECT=$(or $(SECURE_SSL_REDIRECT),0) SESSION_COOKIE_SECURE=0 CSRF_COOKIE_SECURE=0 \
	DATABASE_URL=$(STACK_DATABASE_URL) CELERY_BROKER_URL=$(STACK_BROKER_URL) \
	PROMETHEUS_MULTIPROC_DIR=$(or $(PROMETHEUS_MULTIPROC_DIR),$(CURDIR)/var/prometheus) \
	WEB_BIND=$(HOST):$(PORT) PATH=$(CURDIR)/$(VENV)/bin:$$PATH

stack: setup
	$(STACK_ENV) $(PY) -m config.ensure_database
	$(STACK_ENV) $(PY) manage.py migrate --noinput
	$(STACK_ENV) $(PY) manage.py collectstatic --noinput -v0
	rm -rf $(or $(PROMETHEUS_MULTIPROC_DIR),var/prometheus)
	@echo "  Stack: http://$(HOST):$(PORT)/app/   health /healthz, /readyz   metrics /metrics"
	$(STACK_ENV) $(VENV)/bin/honcho start -f Procfile

web: setup
	$(VENV)/bin/gunicorn config.wsgi -c config/gunicorn.conf.py -b $(HOST):$(PORT) -w 2

worker: setup
	$(VENV)/bin/celery -A config worker -l info -Q default,ingest,segments,analytics,experiences,scheduled

beat: setup
	$(VENV)/bin/celery -A config beat -l info

# The suite's metrics files (its own web and worker processes) live apart from make run's.
TEST_METRICS_DIR := $(CURDIR)/var/prometheus-test

test: setup
	rm -rf $(TEST_METRICS_DIR)
	$(EMBEDDED) DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m config.ensure_database
	$(EMBEDDED) DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		PROMETHEUS_MULTIPROC_DIR=$(TEST_METRICS_DIR) \
		$(PY) -m pytest -q $(PYTEST_ARGS)

# Faults under load (ops/chaos.py): a private redis-server, embedded PostgreSQL, gunicorn and
# worker on loopback; SIGKILL of the worker, a broker outage, a PostgreSQL restart, duplicate and
# late webhooks; then SQL checks. CHAOS_ARGS="--short" is CI's version (about a minute);
# CHAOS_DATABASE_URL=postgres://... runs on a real server instead (no restart of it).
chaos: setup
	$(PY) -m ops.chaos $(CHAOS_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup
	$(EMBEDDED) DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		$(PY) -m bench $(BENCH_ARGS)

# Stop the embedded PostgreSQL server (make run does on its way out; a manage.py command run on
# its own leaves it running for the next one).
stop-db:
	-$(PY) -m config.embedded_postgres stop

clean: stop-db
	rm -rf $(VENV) var experiences/frontend/node_modules experiences/static/experiences/builder
