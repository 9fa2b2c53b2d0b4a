"""Webhook ingest and event processing throughput, each against a baseline in the same run.

Runs gunicorn (2 workers) and one Celery worker (2 processes) on PostgreSQL and Redis, against a
database of its own (``<database>_bench_ingest``, dropped and recreated each run):

- ingest: 16 concurrent senders post signed Shopify ``orders/create`` webhooks (one customer each)
  while the worker is stopped; then the same senders GET a trivial Django view (``/healthz``).
- processing: the worker starts with those events waiting and the time until all are processed
  is measured; then the same number of ``segments.ping`` no-op tasks wait and are drained.

The store is set up like a real one: three dynamic segments and a live experience listening to
``order_processed``, so the receivers queue segment evaluations and engine work (on the
``segments`` and ``experiences`` queues, which this worker does not consume: what is measured is
the ingest path, up to the hand-off).

Options: ``--customers=N`` (default 10000; the stream holds about 1.6 events per customer),
``--concurrency=C`` (default 16), ``--threads=T``
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


def _bench_database(suffix: str = "ingest") -> tuple[str, dict]:
    """Recreate ``<name>_bench_<suffix>`` and point this process at it; return its URL."""
    import psycopg
    from django.db import connection

    s = dict(connection.settings_dict)
    name = f"{s['NAME'].removeprefix('test_')}_bench_{suffix}"
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


# The benches talk plain HTTP on loopback: production's HTTPS redirect and secure-only cookies
# are turned off the way a deployment that terminates TLS elsewhere would.
PLAIN_HTTP = {
    "SECURE_SSL_REDIRECT": "0",
    "SESSION_COOKIE_SECURE": "0",
    "CSRF_COOKIE_SECURE": "0",
    "SECURE_HSTS_SECONDS": "0",
}


def _env(database_url: str) -> dict:
    from django.conf import settings

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        # this process's key: the webhook secrets it stored are encrypted with a key derived from it
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **PLAIN_HTTP,
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


def _worker(env: dict, queues: str = "ingest,default"):
    """Start a worker of two processes on the bench database (the tests' real-worker process)."""
    from tests.fixtures.worker import WorkerProcess

    return WorkerProcess(concurrency=2, queues=queues, extra_env={**env, "LOG_LEVEL": "INFO"})


def _shopify(store, topic: str, payload: dict) -> tuple[str, bytes, dict]:
    from segments.ingest.signatures import sign_shopify

    body = json.dumps(payload).encode()
    return (
        "/webhooks/shopify/",
        body,
        {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": store.shopify_domain,
            "X-Shopify-Hmac-Sha256": sign_shopify(store.shopify_webhook_secret, body),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        },
    )


def _recharge(store, topic: str, payload: dict) -> tuple[str, bytes, dict]:
    from segments.ingest.signatures import sign_recharge_legacy

    body = json.dumps(payload).encode()
    return (
        f"/webhooks/recharge/{store.slug}/",
        body,
        {
            "Content-Type": "application/json",
            "X-Recharge-Topic": topic,
            "X-Recharge-Hmac-Sha256": sign_recharge_legacy(store.recharge_webhook_secret, body),
        },
    )


def _requests(store, customers: int, first: int = 0) -> list[tuple[str, bytes, dict]]:
    """A realistic stream for ``customers`` customers, shuffled as deliveries interleave.

    Every customer places a first order (Shopify ``orders/create``; a third of them pending and
    paid later by ``orders/paid``); a third are subscribers whose Recharge ``subscription/created``
    comes too; a third place a second order (a recurring one for subscribers).
    """
    import random

    from tests.fixtures.payloads import load

    rng = random.Random(7)
    base, sub_base = load("shopify_orders_create"), load("recharge_subscription_created")
    prepared = []
    for n in range(first, first + customers):
        email = f"bench{n}@example.com"
        customer = {**base["customer"], "id": 6_000_000 + n, "email": email}
        subscriber = n % 3 == 0
        orders = [(9_000_000 + n, "Subscription, Subscription First Order" if subscriber else "")]
        if n % 3 == 1 or (subscriber and n % 2 == 0):
            orders.append(
                (19_000_000 + n, "Subscription, Subscription Recurring Order" if subscriber else "")
            )
        for k, (order_id, tags) in enumerate(orders):
            pending = k == 0 and n % 3 == 2
            payload = {
                **base,
                "id": order_id,
                "name": f"#{order_id}",
                "order_number": order_id % 10**7,
                "email": email,
                "customer": customer,
                "tags": tags,
                "financial_status": "pending" if pending else "paid",
                "processed_at": f"2026-11-{2 + 10 * k:02d}T09:14:05-05:00",
                "updated_at": f"2026-11-{2 + 10 * k:02d}T09:14:05-05:00",
            }
            prepared.append(_shopify(store, "orders/create", payload))
            if pending:
                paid = {**payload, "financial_status": "paid"}
                paid["updated_at"] = "2026-11-02T10:14:05-05:00"
                prepared.append(_shopify(store, "orders/paid", paid))
        if subscriber:
            subscription = {
                **sub_base["subscription"],
                "id": 55_000_000 + n,
                "customer_id": 87_000_000 + n,
                "email": email,
            }
            wrapped = {"subscription": subscription}
            prepared.append(_recharge(store, "subscription/created", wrapped))
    rng.shuffle(prepared)
    return prepared


def _listening_store(store) -> None:
    """Give the store what a real one has: dynamic segments and a live experience on orders."""
    from experiences.actions import authoring
    from segments.actions import create_segment

    for name, rule in (
        ("Repeat buyers", "orders_count >= 2"),
        ("Subscribers", "active_subscriptions_count >= 1"),
        ("Big spenders", "total_spent >= 80"),
    ):
        create_segment(store, name=name, kind="dynamic", rule=rule)
    reached = create_segment(store, name="Second order reached")
    experience = authoring.create_experience(
        store, name="Second subscription order", kind="reward_strategy"
    )
    nodes = [
        {
            "key": "trigger",
            "type": "trigger",
            "config": {
                "event": "order_processed",
                "conditions": [
                    [{"field": "subscription_orders_count", "operator": "eq", "value": 2}]
                ],
            },
        },
        {"key": "add", "type": "segment", "config": {"segment_id": reached.pk}},
        {"key": "end", "type": "end", "config": {}},
    ]
    edges = [{"source": "trigger", "target": "add"}, {"source": "add", "target": "end"}]
    _, report = authoring.save_draft(experience, revision=1, nodes=nodes, edges=edges)
    assert report.ok, report.as_dict()
    authoring.publish_draft(experience)


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
            try:
                response = await client.request(method, path, content=body, headers=headers)
            except httpx.TransportError:
                # A connection the server closed as it was reused (keep-alive's race): counted
                # as status 0 and sent again, as the platforms retry a failed delivery.
                statuses[0] = statuses.get(0, 0) + 1
                queue.put_nowait((method, path, body, headers))
                continue
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


def _wait_ready(port: int, timeout: float = 60) -> None:
    """Wait until both gunicorn workers answer (the port opens before the workers have booted)."""
    import httpx

    deadline, answered = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                answered += 1
                if answered >= 10:
                    return
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def _purge(app) -> None:
    with app.connection_for_write() as conn:
        for queue in ("ingest", "default", "segments", "experiences", "scheduled"):
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:  # noqa: BLE001 - nothing to purge yet
                pass
        # Leftovers of killed test workers would count as work in flight.
        conn.default_channel.client.delete("unacked", "unacked_index")


def _queued(app, queues) -> dict[str, int]:
    with app.connection_for_write() as conn:
        return {q: conn.default_channel.client.llen(q) for q in queues}


def _busy(app, queues) -> bool:
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        return bool(sum(client.llen(q) for q in queues) + client.hlen("unacked"))


def _pings_done(worker) -> int:
    return worker.output().count("] succeeded in")


def main(argv: list[str]) -> None:
    from celery import current_app
    from django.core.management import call_command
    from django.db import connection

    from segments.models import InboundEvent
    from tests.fixtures.factories import make_store

    logging.getLogger("httpx").setLevel(logging.WARNING)
    customers = _option(argv, "customers", 10_000)
    concurrency = _option(argv, "concurrency", 16)
    threads = _option(argv, "threads", 4)
    if connection.vendor != "postgresql" or not current_app.conf.broker_url.startswith("redis"):
        print("bench ingest needs DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis)")
        return
    database_url, _ = _bench_database()
    call_command("migrate", verbosity=0)
    store = make_store(slug="bench", shopify_domain="bench.myshopify.com")
    _listening_store(store)
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
        _wait_ready(port)
        base = f"http://127.0.0.1:{port}"
        jobs = [("POST", path, b, h) for path, b, h in _requests(store, customers)]
        events = len(jobs)
        print(
            f"{events} events for {customers} customers, {concurrency} concurrent senders,"
            f" gunicorn -w 2 --threads {threads}, worker -c 2"
        )
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
        # The same paths unloaded, one sender: their own latency, without the queueing that 16
        # senders against 2 workers on 2 shared cores add.
        alone = [("POST", p, b, h) for p, b, h in _requests(store, 300, first=customers)][:500]
        _, alone_lat, _ = asyncio.run(_send_all(base, alone, 1))
        _, view_alone, _ = asyncio.run(_send_all(base, trivial[: len(alone)], 1))
        print(
            f"ingest  1 sender: webhook p50 {_percentile(alone_lat, 0.5):.1f} ms"
            f" p99 {_percentile(alone_lat, 0.99):.1f} ms; trivial p50"
            f" {_percentile(view_alone, 0.5):.1f} ms p99 {_percentile(view_alone, 0.99):.1f} ms"
        )
        web.send_signal(signal.SIGTERM)
        web.wait(30)

        pending = InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).count()
        worker = _worker(env)
        started = time.perf_counter()
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
        from segments.figures import count_inconsistent_customers

        queued = _queued(current_app, ("segments", "experiences"))
        wrong = count_inconsistent_customers(store.pk)

        # Downstream: the segment evaluations and engine batches the events handed off (and the
        # entered/left events those announce in turn), drained by a worker of the same size.
        from experiences.models import Run
        from segments.models import SegmentHistory

        worker = _worker(env, queues="segments,experiences")
        started = time.perf_counter()
        while time.monotonic() < deadline and _busy(current_app, ("segments", "experiences")):
            time.sleep(0.05)
        downstream_s = time.perf_counter() - started
        worker.stop()
        moved = SegmentHistory.objects.filter(store=store, reference__startswith="event:").count()
        runs = Run.objects.filter(store=store).count()

        for _ in range(events):
            current_app.send_task("segments.ping", queue="default")
        worker = _worker(env)
        started = time.perf_counter()
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
        print(f"process checks  : {wrong} customers with wrong figures; handed off {queued}")
        print(
            f"downstream      : drained in {downstream_s:.1f} s ({moved} segment entries and"
            f" exits, {runs} experience runs); all {pending} events settled in"
            f" {process_s + downstream_s:.1f} s = {pending / (process_s + downstream_s):.0f}"
            " events/s"
        )
        print(
            f"process no-op   : {noop_rate:8.0f} tasks/s ({events} segments.ping, {noop_s:.1f} s)"
        )
        print(f"process ratio   : {process_rate / noop_rate:.2f} of the no-op rate (aim >= 0.5)")
        settled_rate = pending / (process_s + downstream_s)
        print(
            f"settled ratio   : {settled_rate / noop_rate:.2f} of the no-op rate (all events"
            " through ingest, segments and experiences; aim >= 0.8)"
        )
    finally:
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(30)
        if worker is not None:
            worker.stop()
        _purge(current_app)
