"""Smoke test of the embedded defaults: with no DATABASE_URL and no CELERY_BROKER_URL the product
migrates, seeds, answers and processes tasks on an SQLite file and a filesystem broker."""

import os
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
from django.db import connection
from segments.figures import count_inconsistent_customers
from segments.models import Store
assert connection.vendor == "sqlite"
assert count_inconsistent_customers(Store.objects.get(slug="demo").id) == 0
print("answers-ok")
"""

PING_SCRIPT = """
import django
django.setup()
from segments.tasks import ping
ping.delay("through-the-filesystem-broker")
"""


@pytest.fixture
def embedded_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="config.settings")
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


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


def test_product_runs_on_sqlite_and_the_filesystem_broker(embedded_env, tmp_path):
    # given an environment with no database or broker server configured
    # when it migrates, seeds and checks
    _run(embedded_env, "manage.py", "migrate", "--noinput", "-v0")
    seeded = _run(embedded_env, "manage.py", "seed_demo", "--customers", "20")
    _run(embedded_env, "manage.py", "check")
    # then the SQLite file exists under VAR_DIR and the app answers from it
    assert "20 customers added" in seeded
    assert (tmp_path / "var" / "db.sqlite3").stat().st_size > 0
    assert "answers-ok" in _run(embedded_env, "-c", CLIENT_SCRIPT)

    # and a worker started in that environment processes a task sent through the file broker
    log = tmp_path / "worker.log"
    worker_args = ["-l", "info", "-c", "1", "-Q", "default,ingest,segments,experiences,scheduled"]
    with _worker(embedded_env, log, "-A", "config", "worker", *worker_args, *QUICK_START) as worker:
        _run(embedded_env, "-c", PING_SCRIPT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "succeeded" not in log.read_text():
            assert worker.poll() is None, log.read_text()
            time.sleep(0.2)
        output = log.read_text()
        assert "segments.ping" in output and "succeeded" in output, output
