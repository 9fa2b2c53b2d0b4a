"""Smoke test of the embedded defaults: with no DATABASE_URL and no CELERY_BROKER_URL the product
starts its private PostgreSQL server under VAR_DIR, migrates, seeds, answers, computes rule-based
segments and processes tasks on a filesystem broker, and the worker `make run` starts applies
signed webhooks exactly once."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CLIENT_SCRIPT = """
import django
django.setup()
from django.test import Client
client = Client()
assert client.get("/healthz").json() == {"ok": True}
assert client.get("/admin/login/").status_code == 200
assert client.login(username="staff", password="demo-password")
page = client.get("/admin/segments/store/")
assert page.status_code == 200 and b"Demo Coffee Co" in page.content, page.status_code
assert client.get("/admin/segments/customer/").status_code == 200
import os
from django.db import connection
from segments.actions import create_segment
from segments.figures import count_inconsistent_customers
from segments.models import Customer, SegmentCalculation, Store
from segments.recompute import run_calculation
assert connection.vendor == "postgresql"
assert connection.settings_dict["NAME"] == "subexp", connection.settings_dict
store = Store.objects.get(slug="demo")
assert count_inconsistent_customers(store.id) == 0
# the headline feature works on the embedded default: a rule-based segment computes its members
segment = create_segment(store, name="Two or more orders", kind="dynamic", rule="orders_count >= 2")
run_calculation(SegmentCalculation.objects.filter(segment=segment).latest("id").pk)
two_or_more = Customer.objects.filter(store=store, orders_count__gte=2)
expected = set(two_or_more.values_list("pk", flat=True))
members = set(segment.memberships.values_list("customer_id", flat=True))
assert expected and members == expected, (len(expected), len(members))
print("answers-ok")
"""

PING_SCRIPT = """
import django
django.setup()
from segments.tasks import ping
ping.delay("through-the-filesystem-broker")
"""


@pytest.fixture(scope="module")
def embedded_var():
    """A var folder of its own under the checkout's var/ (not pytest's 0700 temp root, which
    another pytest session on the machine may lock down again while the server runs as its own
    user); removed afterwards."""
    import shutil
    import tempfile

    base = ROOT / "var" / "test-embedded"
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=base))
    folder.chmod(0o755)
    yield folder / "var"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def embedded_env(embedded_var):
    """One embedded product for the module: its server is started and migrated once."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(VAR_DIR=str(embedded_var), DJANGO_SETTINGS_MODULE="config.settings")
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    yield env
    # the private server outlives the commands that started it: stop it, as `make run` does
    _run(env, "-m", "config.embedded_postgres", "stop")


# The worker of `make run`, as its Makefile target starts it (beat embedded, both processes, all
# queues); read from the Makefile so this test follows the target when it changes.
MAKE_RUN_WORKER = re.search(
    r"celery (-A config worker [^&\n]*?)\s*&", (ROOT / "Makefile").read_text()
)
# Skip the cluster chatter (mingle waits for replies no one sends on the file broker).
QUICK_START = ["--without-heartbeat", "--without-gossip", "--without-mingle"]


def _run(env, *args, timeout=180) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@contextmanager
def _worker(env, log: Path, *args: str):
    """Run a Celery worker in its own process group; kill the whole group on the way out."""
    with log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", *args],
            cwd=ROOT, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield worker
    finally:
        worker.send_signal(signal.SIGTERM)  # a warm shutdown: the main process stops its pool
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(worker.pid, signal.SIGKILL)  # whatever of the group is left
        except ProcessLookupError:
            pass
        worker.wait(5)


def _wait_ready(worker: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while " ready." not in log.read_text():
        assert worker.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"worker not ready after {timeout}s:\n{log.read_text()}"
        time.sleep(0.1)


def test_product_runs_on_embedded_postgres_and_the_filesystem_broker(
    embedded_env, embedded_var, tmp_path
):
    # given an environment with no database or broker server configured
    # when it migrates, seeds and checks
    _run(embedded_env, "manage.py", "migrate", "--noinput", "-v0")
    seeded = _run(embedded_env, "manage.py", "seed_demo", "--customers", "20")
    _run(embedded_env, "manage.py", "check")
    # then the server's data lives under VAR_DIR and the app answers from it
    assert "20 customers added" in seeded
    assert (embedded_var / "postgres" / "PG_VERSION").exists()
    assert "answers-ok" in _run(embedded_env, "-c", CLIENT_SCRIPT)

    # and a worker started in that environment processes a task sent through the file broker
    log = tmp_path / "worker.log"
    queues = "default,ingest,segments,analytics,experiences,scheduled"
    worker_args = ["-l", "info", "-c", "1", "-Q", queues]
    with _worker(embedded_env, log, "-A", "config", "worker", *worker_args, *QUICK_START) as worker:
        _run(embedded_env, "-c", PING_SCRIPT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "succeeded" not in log.read_text():
            assert worker.poll() is None, log.read_text()
            time.sleep(0.2)
        output = log.read_text()
        assert "segments.ping" in output and "succeeded" in output, output


# Post signed Shopify orders/create webhooks through the web stack, then wait (with a deadline,
# and keeping this "web process" alive so its background waker publishes) until none is left
# `received`; print what the worker made of them.
INGEST_SCRIPT = """
import json, sys, time
import django
django.setup()
from django.db.models import Count
from django.test import Client
from segments.figures import count_inconsistent_customers
from segments.models import Customer, InboundEvent, Order, OrderLine, Store
from tests.fixtures.payloads import load, post_shopify

store = Store.objects.get(slug="demo")
client = Client()
ORDER_IDS = [str(7_000_000 + n) for n in range(20)]

def order(n, customer, total):
    payload = load("shopify_orders_create")
    email = f"embedded-{customer}@example.com"
    payload.update(id=7_000_000 + n, name=f"#E{n}", order_number=9000 + n, total_price=total,
                   email=email, contact_email=email)
    payload["customer"].update(id=8_000_000 + customer, email=email)
    return payload

answers = []
for n in range(20):
    # orders 0..19 of customers 0..18: customer 0 places orders 0 and 19
    customer = 0 if n == 19 else n
    answers.append(post_shopify(client, store, "orders/create", order(n, customer, f"{10 + n}.25"),
                                event_id=f"embedded-evt-{n}").status_code)
    time.sleep(0.1)  # spread over two seconds, so batches are applied while others arrive
# Shopify delivers order 5 a second time, exactly as before
answers.append(post_shopify(client, store, "orders/create", order(5, 5, "15.25"),
                            event_id="embedded-evt-5").status_code)

deadline = time.monotonic() + float(sys.argv[1])
pending = InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED)
while pending.exists() and time.monotonic() < deadline:
    time.sleep(0.25)

repeat = Customer.objects.filter(store=store, email="embedded-0@example.com").first()
print(json.dumps({
    "answers": answers,
    "events": dict(InboundEvent.objects.values_list("status").annotate(n=Count("id"))),
    "errors": list(InboundEvent.objects.exclude(last_error="").values_list("id", "last_error")),
    "orders": sorted(
        Order.objects.filter(store=store, external_id__in=ORDER_IDS)
        .values_list("external_id", "customer__email")
    ),
    "lines": OrderLine.objects.filter(order__external_id__in=ORDER_IDS).count(),
    "customers": Customer.objects.filter(store=store, email__startswith="embedded-").count(),
    "repeat": repeat and [repeat.orders_count, str(repeat.total_spent)],
    "inconsistent": count_inconsistent_customers(store.id),
}))
"""


def test_embedded_worker_processes_signed_webhooks_exactly_once(embedded_env, tmp_path):
    # given the embedded product, migrated and seeded, and the worker `make run` starts
    assert MAKE_RUN_WORKER, "no `celery -A config worker ... &` line in the Makefile's run target"
    _run(embedded_env, "manage.py", "migrate", "--noinput", "-v0")
    _run(embedded_env, "manage.py", "seed_demo", "--customers", "5")
    log = tmp_path / "worker.log"
    with _worker(embedded_env, log, *MAKE_RUN_WORKER[1].split(), *QUICK_START) as worker:
        _wait_ready(worker, log)  # so the worker drains while the webhooks are still arriving
        # when 20 signed orders/create webhooks and one duplicate are posted to the web stack
        summary = json.loads(_run(embedded_env, "-c", INGEST_SCRIPT, "40", timeout=90))
        assert worker.poll() is None, log.read_text()
    output = log.read_text()
    # then each delivery is answered, the duplicate as such, and every event is processed once
    assert summary["answers"] == [202] * 20 + [200], summary
    assert summary["events"] == {"processed": 20}, (summary, output)
    assert summary["errors"] == [], summary
    assert summary["orders"] == sorted(
        [str(7_000_000 + n), f"embedded-{0 if n == 19 else n}@example.com"] for n in range(20)
    ), summary
    assert summary["lines"] == 20 * 2, summary
    assert summary["customers"] == 19, summary
    # and the customer with two orders holds both in their figures, like every other customer
    assert summary["repeat"] == [2, "39.50"], summary
    assert summary["inconsistent"] == 0, summary
    assert re.search(r"ingest\.process_pending\[[^]]+\] succeeded", output), output
