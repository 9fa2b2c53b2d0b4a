"""Assemble settings from the environment.

With no environment at all the product runs on embedded defaults that need no server of yours: a
private PostgreSQL server started under ``var/`` and a Celery broker kept in files there (kombu's
filesystem transport). Set
``DATABASE_URL`` and ``CELERY_BROKER_URL`` to run on PostgreSQL and Redis (or RabbitMQ).
"""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab  # noqa: F401  (kept for schedules written as crontab)
from django.core.exceptions import ImproperlyConfigured

from config.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# Off unless the environment turns it on (`make run` does, for the embedded default).
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or ""
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off (or set DEBUG=1 to develop).")
    SECRET_KEY = "dev-only-insecure-key-set-SECRET_KEY-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

# --- HTTPS (production shape) ----------------------------------------------------------------
# Cookies only over HTTPS, HSTS and the HTTPS redirect are on whenever DEBUG is off; each can be
# turned off for a deployment that terminates TLS elsewhere and says so.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Webhooks and the health check are answered over plain HTTP inside a cluster too.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS") or (0 if DEBUG else 31536000))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
# Only makes the site eligible for browsers' preload lists; submitting it is a separate step.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Behind a proxy that terminates TLS: SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https
# (only when that proxy always sets or strips the header, or clients could claim HTTPS).
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    _header, _, _value = os.environ["SECURE_PROXY_SSL_HEADER"].partition(",")
    SECURE_PROXY_SSL_HEADER = (_header.strip(), _value.strip() or "https")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Webhook secrets are encrypted at rest with this key (Fernet); derived from SECRET_KEY if unset.
FIELD_ENCRYPTION_KEY = os.environ.get("FIELD_ENCRYPTION_KEY") or ""

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "segments",
    "rewards",
    "experiences",
    "ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from gunicorn itself (compressed, cached), no separate file server needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.middleware.ApiErrorMiddleware",
    "config.middleware.PageInputMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# A real server from DATABASE_URL; without it, the embedded default: a private PostgreSQL server
# under VAR_DIR (config/embedded_postgres.py), started on first use. PostgreSQL either way.
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
else:
    from config.embedded_postgres import database_settings

    DATABASES = {"default": database_settings(VAR_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# whitenoise serves STATIC_ROOT (`collectstatic`, which `make stack` runs) with gzip/brotli copies;
# no manifest, so pages render before collectstatic has run (tests, runserver).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATICFILES_DIRS = [d for d in [BASE_DIR / "frontend" / "dist"] if d.exists()]
LOGIN_URL = "/admin/login/"
# The merchant app's own login page (segments.web.merchant_view sends signed-out merchants there).
APP_LOGIN_URL = "/app/login/"

# Webhook bodies larger than this are refused with 413 before they are read.
WEBHOOK_MAX_BODY_BYTES = 1024 * 1024
# API request bodies larger than this are refused with 413 before they are read.
API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES") or 1024 * 1024)
# Segment CSV uploads (admin and merchant app) larger than this are refused.
SEGMENT_CSV_MAX_BYTES = int(os.environ.get("SEGMENT_CSV_MAX_BYTES") or 64 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
# Segment previews and rule validation stop after this long (a 400 says the rule is too costly).
SEGMENT_PREVIEW_TIMEOUT_MS = int(os.environ.get("SEGMENT_PREVIEW_TIMEOUT_MS") or 5000)

# The console in development; SMTP (EMAIL_HOST, EMAIL_PORT, ...) in production.
_DEFAULT_EMAIL_BACKEND = (
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend"
)
_EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or _DEFAULT_EMAIL_BACKEND
MAILERS = {"default": {"BACKEND": _EMAIL_BACKEND}}
if _EMAIL_BACKEND.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": os.environ.get("EMAIL_HOST", "localhost"),
        "port": int(os.environ.get("EMAIL_PORT") or 25),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
    }
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "experiences@localhost")

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous caller gets 401 with `WWW-Authenticate: Token`, and the schema
    # lists the token scheme first (integrations and generated clients use it).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["config.api_filters.StrictFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "config.api_filters.StrictPageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "config.api_schema.ApiSchema",
    # JSON only: the parser refuses NUL characters, lone surrogates, huge numbers, deep nesting.
    "DEFAULT_PARSER_CLASSES": ["config.api_input.StrictJSONParser"],
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Subscription Experiences API",
    "DESCRIPTION": "Store-scoped API for segments, experiences and rewards.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "MembershipSourceEnum": "segments.models.segmentation.MembershipSource",
        "RewardKindEnum": "rewards.models.RewardKind",
        "CreditEntryKindEnum": "rewards.models.CreditEntry.Kind",
        "ExperienceKindEnum": "experiences.models.graph.Experience.Kind",
    },
}

SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "ExperienceStatusEnum": "experiences.models.Experience.Status",
        "RunStatusEnum": "experiences.models.Run.Status",
        "PauseBehaviourEnum": "experiences.models.Experience.PauseBehaviour",
        "ExperienceKindEnum": "experiences.models.Experience.Kind",
        "SegmentKindEnum": "segments.models.Segment.Kind",
        "SimulationModeEnum": "experiences.models.Simulation.Mode",
        "SimulationStatusEnum": "experiences.models.Simulation.Status",
    }
)

# --- Celery ---------------------------------------------------------------------------------
# Embedded default: kombu's filesystem transport, a broker made of files that needs no server.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
    }
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection around every task unless this is set, so
# each task paid a new PostgreSQL backend (fork, authentication, cold catalog caches): a third of
# an engine batch's time. Workers keep their connection; ``config.celery`` closes it when Django
# would at a request's end (older than CONN_MAX_AGE, or unusable after an error), and the fixup
# still recycles it after this many tasks.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing to a broker that is down must fail fast: the event is safe in the database and the
# outbox sweep dispatches it later, so a webhook request never waits on the broker.
CELERY_BROKER_TRANSPORT_OPTIONS.setdefault("max_retries", 1)
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY = False
# Queues: ingest (webhook processing), segments (recomputes, imports), analytics (summary
# refreshes), experiences (runs),
# scheduled (sweeps). Tasks are routed by the prefix of their name, so a slow segment recompute
# never delays order events: name tasks "ingest.*", "segments.*", "experiences.*", "scheduled.*".
CELERY_TASK_QUEUES_NAMES = [
    "default",
    "ingest",
    "segments",
    "analytics",
    "experiences",
    "scheduled",
]
CELERY_TASK_ROUTES = {
    "segments.ping": {"queue": "default"},
    # Analytics refreshes read a store's history at length: their own queue (and, at scale, a
    # worker on a read replica) keeps them from delaying segment evaluations.
    "segments.refresh_analytics": {"queue": "analytics"},
    # A simulation replays up to a year of history (minutes): with the other long reads, never
    # in front of the engine's order events or the segments' evaluations.
    "experiences.simulate": {"queue": "analytics"},
    "ingest.*": {"queue": "ingest"},
    "segments.*": {"queue": "segments"},
    "experiences.*": {"queue": "experiences"},
    # Ledger work after commerce events (spend credit, redeem, revoke) shares the engine's queue.
    "rewards.*": {"queue": "experiences"},
    "scheduled.*": {"queue": "scheduled"},
}
# The beat schedule lives here (no database scheduler). Apps add their entries below.
CELERY_BEAT_SCHEDULE: dict = {
    # The transactional outbox: dispatch inbound events the broker never delivered.
    "ingest-sweep": {
        "task": "scheduled.ingest_sweep",
        "schedule": 15.0,
        "options": {"queue": "scheduled", "expires": 14},
    },
    # The outbox of domain events: deliver those whose delivery after commit failed.
    "outbox-sweep": {
        "task": "scheduled.outbox_sweep",
        "schedule": float(os.environ.get("OUTBOX_SWEEP_SECONDS") or 30),
        "options": {"queue": "scheduled", "expires": 29},
    },
    # The task journal: send again the tasks whose work lived only in a broker that lost it.
    "task-journal-sweep": {
        "task": "scheduled.task_journal_sweep",
        "schedule": float(os.environ.get("TASK_JOURNAL_SWEEP_SECONDS") or 60),
        "options": {"queue": "scheduled", "expires": 55},
    },
    # Resume waiting runs whose time has come; restart runs stranded by a lost worker.
    "experiences-sweep": {
        "task": "scheduled.experiences_sweep",
        "schedule": float(os.environ.get("EXPERIENCES_SWEEP_SECONDS") or 60),
        "options": {"queue": "scheduled", "expires": 55},
    },
    # The safety net: recompute every dynamic segment in full.
    "segments-recompute-dynamic": {
        "task": "scheduled.recompute_dynamic_segments",
        "schedule": float(os.environ.get("SEGMENT_FULL_RECOMPUTE_SECONDS", 6 * 3600)),
    },
    # Rewards: expire unanswered offers, open grants and credit lots whose time has passed.
    "rewards-sweep": {
        "task": "scheduled.rewards_sweep",
        "schedule": 60.0,
        "options": {"queue": "scheduled", "expires": 55},
    },
    # Analytics: restart a refresh whose heartbeat stopped, queue the stores that are due.
    "analytics-sweep": {
        "task": "scheduled.analytics_sweep",
        "schedule": 60.0,
        "options": {"queue": "scheduled", "expires": 55},
    },
    # Simulations: replays whose worker died, queued ones the broker lost, shadows' refreshes.
    "simulations-sweep": {
        "task": "scheduled.simulations_sweep",
        "schedule": 60.0,
        "options": {"queue": "scheduled", "expires": 55},
    },
    # Monthly partitions created ahead (segments/partitions.py); raw payloads past retention.
    "maintain-partitions": {
        "task": "scheduled.maintain_partitions",
        "schedule": float(os.environ.get("PARTITIONS_MAINTAIN_SECONDS") or 6 * 3600),
        "options": {"queue": "scheduled", "expires": 3600},
    },
    # Restart segment calculations that stopped making progress.
    "segments-sweep-stuck-calculations": {
        "task": "scheduled.sweep_stuck_segment_calculations",
        "schedule": float(os.environ.get("SEGMENT_STUCK_SWEEP_SECONDS") or 120),
    },
}

# --- Analytics ------------------------------------------------------------------------------
# Summaries older than this are refreshed by the sweep; a refresh whose heartbeat is older than
# ANALYTICS_STALE_SECONDS is taken for dead and restarted.
ANALYTICS_REFRESH_SECONDS = int(os.environ.get("ANALYTICS_REFRESH_SECONDS") or 900)
ANALYTICS_STALE_SECONDS = int(os.environ.get("ANALYTICS_STALE_SECONDS") or 300)
# A running simulation whose heartbeat (written between pages) is older is restarted; a shadow
# replays the live events so far this often.
SIMULATION_STALE_SECONDS = int(os.environ.get("SIMULATION_STALE_SECONDS") or 300)
SHADOW_REFRESH_SECONDS = int(os.environ.get("SHADOW_REFRESH_SECONDS") or 900)

# --- Inbound events (webhooks) --------------------------------------------------------------
INGEST_BATCH_SIZE = int(os.environ.get("INGEST_BATCH_SIZE") or 100)
INGEST_DRAIN_SECONDS = float(os.environ.get("INGEST_DRAIN_SECONDS") or 10)
INGEST_MAX_ATTEMPTS = int(os.environ.get("INGEST_MAX_ATTEMPTS") or 5)
INGEST_RETRY_BASE_SECONDS = float(os.environ.get("INGEST_RETRY_BASE_SECONDS") or 10)
INGEST_RETRY_MAX_SECONDS = float(os.environ.get("INGEST_RETRY_MAX_SECONDS") or 600)
# Outbox rows older than this and still unsent are delivered by the outbox sweep.
OUTBOX_SWEEP_GRACE_SECONDS = float(os.environ.get("OUTBOX_SWEEP_GRACE_SECONDS") or 30)
# Monthly partitions (segments/partitions.py): how many months ahead exist at any time, and after
# how many days the raw payload of an applied inbound event is emptied (0: kept forever).
PARTITION_MONTHS_AHEAD = int(os.environ.get("PARTITION_MONTHS_AHEAD") or 3)
INBOUND_PAYLOAD_RETENTION_DAYS = int(os.environ.get("INBOUND_PAYLOAD_RETENTION_DAYS") or 90)
# Delivery keys (the webhook's exactly-once record) are deleted after this many days: far beyond
# Shopify's 4 hours and Recharge's 48 hours of retries (0: kept forever).
INBOUND_DEDUPE_RETENTION_DAYS = int(os.environ.get("INBOUND_DEDUPE_RETENTION_DAYS") or 30)
if 0 < INBOUND_DEDUPE_RETENTION_DAYS < 3:
    # Shorter than the platforms' retries: a redelivered webhook could be applied twice.
    raise ImproperlyConfigured(
        "INBOUND_DEDUPE_RETENTION_DAYS must be 0 (keep forever) or at least 3 days: Recharge"
        " retries a webhook for 48 hours."
    )
# An inbound event month's partition is dropped whole once the month ended this many days ago,
# unless it still holds an event to apply or a failed one (0: kept forever). Its events' payloads
# were emptied and their delivery keys deleted long before; the orders hold what they said.
INBOUND_EVENT_RETENTION_DAYS = int(os.environ.get("INBOUND_EVENT_RETENTION_DAYS") or 400)
if 0 < INBOUND_EVENT_RETENTION_DAYS < max(INBOUND_DEDUPE_RETENTION_DAYS, 35):
    # Dropping a month whose delivery keys are still kept would leave keys naming no event, and
    # the drains claim from the last week's months and the operations page shows 31 days.
    raise ImproperlyConfigured(
        "INBOUND_EVENT_RETENTION_DAYS must be 0 (keep forever) or at least 35 days and at least"
        " INBOUND_DEDUPE_RETENTION_DAYS."
    )
# Drains claim pending events received within this many days (the months they read); the sweep
# drains older ones.
INGEST_CLAIM_WINDOW_DAYS = int(os.environ.get("INGEST_CLAIM_WINDOW_DAYS") or 7)
# Journalled tasks (segments/task_journal.py) not run after this are sent again (with backoff).
TASK_JOURNAL_GRACE_SECONDS = float(os.environ.get("TASK_JOURNAL_GRACE_SECONDS") or 300)
# Running runs nobody moved for this long are restarted by the experiences sweep.
EXPERIENCES_STALLED_SECONDS = float(os.environ.get("EXPERIENCES_STALLED_SECONDS") or 300)
INGEST_SWEEP_GRACE_SECONDS = float(os.environ.get("INGEST_SWEEP_GRACE_SECONDS") or 30)
INGEST_SWEEP_MAX_WAKES = int(os.environ.get("INGEST_SWEEP_MAX_WAKES") or 2)
INGEST_WAKE_FLAG_SECONDS = int(os.environ.get("INGEST_WAKE_FLAG_SECONDS") or 20)
# Webhook requests leave the wake-up publish to a thread of the web process, batched this often.
INGEST_WAKE_IN_BACKGROUND = env_bool("INGEST_WAKE_IN_BACKGROUND", True)
INGEST_WAKE_COALESCE_SECONDS = float(os.environ.get("INGEST_WAKE_COALESCE_SECONDS") or 0.02)
# Tests only: seconds a batch sleeps inside its transaction, so a test can kill a worker mid-task.
INGEST_TEST_PAUSE_SECONDS = float(os.environ.get("INGEST_TEST_PAUSE_SECONDS") or 0)

# --- Segments ------------------------------------------------------------------------------
# Segment recomputes: customers per committed range, and how long without progress is stuck.
SEGMENT_RECOMPUTE_CHUNK = int(os.environ.get("SEGMENT_RECOMPUTE_CHUNK", 250_000))
SEGMENT_RECOMPUTE_STUCK_SECONDS = int(os.environ.get("SEGMENT_RECOMPUTE_STUCK_SECONDS", 600))

# --- Experiences ---------------------------------------------------------------------------
# Experiences that feed each other through segments stop at this depth of a chain of events.
EXPERIENCES_MAX_CHAIN_DEPTH = int(os.environ.get("EXPERIENCES_MAX_CHAIN_DEPTH", "5"))
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Logs: JSON lines with store, event and run ids (config/logs.py), or plain text for a terminal.
# Celery workers use this configuration too (config/celery.py) instead of their own.
LOG_FORMAT = os.environ.get("LOG_FORMAT") or ("text" if DEBUG else "json")
if LOG_FORMAT not in {"json", "text"}:
    raise RuntimeError(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}.")
LOGGING = logging_config(fmt=LOG_FORMAT, level=os.environ.get("LOG_LEVEL", "INFO"))

VAR_DIR.mkdir(parents=True, exist_ok=True)
# whitenoise warns on every request while its root is missing (before the first collectstatic).
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Metrics ------------------------------------------------------------------------------
# Every process (gunicorn workers, Celery pool processes) writes its counters to files here and
# /metrics sums them (ops/metrics.py). Set in the environment so the processes started from this
# one inherit it; it must be set before prometheus_client is imported, which settings are.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus"))
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
# Who reads /metrics: with a token, whoever sends `Authorization: Bearer <token>`; without one,
# the loopback addresses only.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
if CELERY_BROKER_URL.startswith("filesystem://"):
    (VAR_DIR / "broker" / "processed").mkdir(parents=True, exist_ok=True)
