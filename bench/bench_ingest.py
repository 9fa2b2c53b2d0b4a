"""Webhook ingest and event processing throughput, each against a baseline in the same run.

Runs gunicorn (2 workers) and one Celery worker (2 processes) on PostgreSQL and Redis, against a
database of its own (``<database>_bench_ingest``, dropped and recreated each run):

- ingest: 16 concurrent senders post signed Shopify ``orders/create`` webhooks (one customer each)
  while the worker is stopped; then the same senders GET a trivial Django view (``/healthz``).
- processing: the worker starts with those events waiting and the time until all are processed
  is measured; then the same number of ``segments.ping`` no-op tasks wait and are drained.

Options: ``--events=N`` (default 10000), ``--concurrency=C`` (default 16), ``--threads=T``
(gunicorn threads per worker, default 4, the same for both views: the webhook waits on its commit's
disk flush, and threads let commits of one worker overlap; ``--threads=1`` is the sync worker).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def _option(argv: list[str], name: str, default: int) -> int:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return int(arg.split("=", 1)[1])
    return default


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bench_database() -> tuple[str, dict]:
    """Recreate ``<name>_bench`` and point this process at it; return its URL."""
    import psycopg
    from django.db import connection

    s = dict(connection.settings_dict)
    name = f"{s['NAME'].removeprefix('test_')}_bench_ingest"
    user, host, port = (
        s.get("USER") or "postgres",
        s.get("HOST") or "127.0.0.1",
        s.get("PORT") or 5432,
    )
    password = s.get("PASSWORD") or None
    with psycopg.connect(
        host=host, port=port, user=user, password=password, dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    secret = f":{password}" if password else ""
    url = f"postgres://{user}{secret}@{host}:{port}/{name}"
    connection.close()
    connection.settings_dict["NAME"] = name
    return url, s


def _env(database_url: str) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


class Worker:
    def __init__(self, env: dict):
        self.log = tempfile.NamedTemporaryFile(prefix="bench-worker-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                "ingest,default",
                "-c",
                "2",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "info",
            ],
            cwd=ROOT,
            env={**env, "LOG_LEVEL": "INFO"},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in Path(self.log.name).read_text(errors="replace"):
                return time.perf_counter()
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("worker did not start:\n" + Path(self.log.name).read_text()[-3000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def _requests(store, count: int) -> list[tuple[bytes, dict]]:
    from segments.ingest.signatures import sign_shopify
    from tests.fixtures.payloads import load

    base = load("shopify_orders_create")
    prepared = []
    for n in range(count):
        payload = dict(base)
        payload["id"] = 9_000_000 + n
        payload["name"] = f"#{10_000 + n}"
        payload["order_number"] = 10_000 + n
        payload["email"] = f"bench{n}@example.com"
        payload["customer"] = {**base["customer"], "id": 6_000_000 + n, "email": payload["email"]}
        body = json.dumps(payload).encode()
        prepared.append(
            (
                body,
                {
                    "Content-Type": "application/json",
                    "X-Shopify-Topic": "orders/create",
                    "X-Shopify-Shop-Domain": store.shopify_domain,
                    "X-Shopify-Hmac-Sha256": sign_shopify(store.shopify_webhook_secret, body),
                    "X-Shopify-Event-Id": str(uuid.uuid4()),
                    "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                },
            )
        )
    return prepared


async def _send_all(base_url: str, jobs: list, concurrency: int) -> tuple[float, list[float], dict]:
    """Send every job with ``concurrency`` senders; return elapsed seconds, latencies, statuses."""
    import httpx

    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def sender(client):
        while not queue.empty():
            method, path, body, headers = queue.get_nowait()
            started = time.perf_counter()
            response = await client.request(method, path, content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(sender(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, statuses


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def _purge(app) -> None:
    with app.connection_for_write() as conn:
        for queue in ("ingest", "default"):
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:  # noqa: BLE001 - nothing to purge yet
                pass


def _pings_done(worker: Worker) -> int:
    return Path(worker.log.name).read_text(errors="replace").count("] succeeded in")


def main(argv: list[str]) -> None:
    from celery import current_app
    from django.core.management import call_command
    from django.db import connection

    from segments.models import InboundEvent
    from tests.fixtures.factories import make_store

    logging.getLogger("httpx").setLevel(logging.WARNING)
    events = _option(argv, "events", 10_000)
    concurrency = _option(argv, "concurrency", 16)
    threads = _option(argv, "threads", 4)
    if connection.vendor != "postgresql" or not current_app.conf.broker_url.startswith("redis"):
        print("bench ingest needs DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis)")
        return
    database_url, _ = _bench_database()
    call_command("migrate", verbosity=0)
    store = make_store(slug="bench", shopify_domain="bench.myshopify.com")
    env = _env(database_url)
    _purge(current_app)
    port = _free_port()
    web = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    worker = None
    try:
        _wait_port(port)
        base = f"http://127.0.0.1:{port}"
        print(
            f"{events} events, {concurrency} concurrent senders,"
            f" gunicorn -w 2 --threads {threads}, worker -c 2"
        )
        jobs = [("POST", "/webhooks/shopify/", b, h) for b, h in _requests(store, events)]
        asyncio.run(_send_all(base, [("GET", "/healthz", None, {})] * 200, concurrency))  # warm up
        hook_s, hook_lat, hook_status = asyncio.run(_send_all(base, jobs, concurrency))
        trivial = [("GET", "/healthz", None, {})] * events
        view_s, view_lat, view_status = asyncio.run(_send_all(base, trivial, concurrency))
        hook_rate, view_rate = events / hook_s, events / view_s
        print(
            f"ingest  webhook : {hook_rate:8.0f} req/s  p50 {_percentile(hook_lat, 0.5):6.1f} ms"
            f"  p99 {_percentile(hook_lat, 0.99):6.1f} ms  statuses {hook_status}"
        )
        print(
            f"ingest  trivial : {view_rate:8.0f} req/s  p50 {_percentile(view_lat, 0.5):6.1f} ms"
            f"  p99 {_percentile(view_lat, 0.99):6.1f} ms  statuses {view_status}"
        )
        print(f"ingest  ratio   : {hook_rate / view_rate:.2f} of the trivial view (aim >= 0.5)")
        web.send_signal(signal.SIGTERM)
        web.wait(30)

        pending = InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).count()
        worker = Worker(env)
        started = worker.wait_ready()
        from segments.ingest.actions import wake_processing

        wake_processing(force=True)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            left = InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).count()
            if left == 0:
                break
            time.sleep(0.05)
        process_s = time.perf_counter() - started
        failed = InboundEvent.objects.filter(status=InboundEvent.Status.FAILED).count()
        worker.stop()

        for _ in range(events):
            current_app.send_task("segments.ping", queue="default")
        worker = Worker(env)
        started = worker.wait_ready()
        while time.monotonic() < deadline and _pings_done(worker) < events:
            time.sleep(0.05)
        noop_s = time.perf_counter() - started
        worker.stop()
        worker = None
        process_rate, noop_rate = pending / process_s, events / noop_s
        print(
            f"process events  : {process_rate:8.0f} events/s ({pending} events, {failed} failed,"
            f" {process_s:.1f} s)"
        )
        print(
            f"process no-op   : {noop_rate:8.0f} tasks/s ({events} segments.ping, {noop_s:.1f} s)"
        )
        print(f"process ratio   : {process_rate / noop_rate:.2f} of the no-op rate (aim >= 0.5)")
    finally:
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(30)
        if worker is not None:
            worker.stop()
        _purge(current_app)
