"""Faults under load, then proof by SQL that nothing was lost or done twice (``make chaos``).

Everything runs on this machine, on loopback, in processes of its own: a private redis-server on
a free port (the broker), a database of its own on the local PostgreSQL (``--database-url``),
gunicorn on a free port and a Celery worker (with beat embedded) started and killed here. A
load generator posts the demo store's signed webhooks through the live experiences (orders,
charges, subscription changes: segments change, rewards are granted) at ``--rate`` per second for
``--seconds``; 10% are delivered twice and 5% out of order, and a refused or unanswered delivery
is retried the way the platforms retry. Meanwhile: the worker is killed with SIGKILL and a new
one started; the broker is stopped for ``--outage`` seconds and started again; the broker is
restarted without its data (every queued task forgotten); PostgreSQL is restarted.

Afterwards it waits for the queues to drain and checks, by SQL: every accepted webhook is
processed, once; no event failed; no grant twice for one source; no credit lot below zero;
every customer's figures equal their orders; every rule segment's members equal its rule now;
no run stuck; nothing unsent in the outbox. It prints the figures and exits 1 when a check fails.

``python -m ops.chaos --short`` is the CI version (about a minute).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class PrivateRedis:
    """A redis-server of the run's own on a free loopback port, stopped and started again.

    It keeps its data in an append-only file (fsync on every write), as a broker should; one
    fault restarts it without that file (``restart_empty``), as a broker without persistence or
    a failover to an empty replica would: every task's work must have a row in the database
    (inbound events, runs, the task journal) for a sweep to find.
    """

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.data_dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(self.port, 10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def restart_empty(self) -> None:
        """Stop the server, throw its data away, start it again: every queue is forgotten."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for path in self.data_dir.iterdir():
            subprocess.run(["rm", "-rf", str(path)], check=True)
        self.start()


class Process:
    """A child in its own process group, logging to a file; stopped (or killed) as a group."""

    def __init__(self, name: str, args: list[str], env: dict, logs: Path):
        self.name, self.args, self.env = name, args, env
        self.log = logs / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.crashes = 0

    def start(self) -> None:
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def revive(self) -> bool:
        """Start the process again if it exited on its own (what a supervisor does); say so."""
        if self.proc is None or self.proc.poll() is None:
            return False
        print(f"  ({self.name} exited on its own, code {self.proc.returncode}: started again)")
        self.crashes += 1
        self.start()
        return True

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass


class Load:
    """Post the demo stream at a steady rate with duplicates and late deliveries; retry failures."""

    def __init__(self, store, url: str, rate: float, seconds: float, seed: int):
        from segments.demo_events import demo_stream

        self.url, self.rate, self.seconds = url, rate, seconds
        self.rnd = random.Random(seed)
        self.deliveries = list(demo_stream(store, int(rate * seconds), seed=seed))
        self.answers: Counter = Counter()
        self.sent = self.retries = self.twice = self.late = 0
        self.answered: set[int] = set()  # deliveries answered 202 or 200 (stored once)
        self.accepted = 0
        self.unanswered = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def _post(self, n: int, delivery) -> int:
        from segments.demo_events import post

        for attempt in range(30):  # Shopify and Recharge retry for hours; we for 30 s or so
            try:
                status = post(self.url, delivery, timeout=5)
            except (OSError, urllib.error.URLError):
                status = 0
            self.sent += 1
            self.answers[status] += 1
            if status in (200, 202):
                self.answered.add(n)
                self.accepted += status == 202
                return status
            self.retries += 1
            time.sleep(min(0.2 * 2**attempt, 2.0))
        self.unanswered += 1
        return 0

    def run(self) -> None:
        interval = 1.0 / self.rate
        started = time.monotonic()
        held: list = []
        for i, delivery in enumerate(self.deliveries):
            delay = started + i * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if self.rnd.random() < 0.05:  # out of order: sent after the next two or three
                held.append((i + self.rnd.randint(2, 3), i, delivery))
                self.late += 1
            else:
                self._post(i, delivery)
                if self.rnd.random() < 0.10:  # the platform delivers it twice
                    self._post(i, delivery)
                    self.twice += 1
            for entry in [h for h in held if h[0] <= i]:
                held.remove(entry)
                self._post(entry[1], entry[2])
        for _, n, late in held:
            self._post(n, late)


def _broker_backlog(url: str) -> int:
    """Messages waiting in the broker's queues plus those delivered but not acknowledged."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    waiting = sum(client.llen(k) for k in client.scan_iter() if client.type(k) == b"list")
    return waiting + client.hlen("unacked")


def _drained(store_id: int, broker_url: str) -> bool:
    from experiences.models import Run
    from ops.queries import backlog
    from segments.models import JobStatus, SegmentCalculation

    now = backlog()
    calculating = SegmentCalculation.objects.filter(
        store_id=store_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).exists()
    running = Run.objects.filter(store_id=store_id, status=Run.Status.RUNNING).exists()
    return (
        now.received == 0
        and now.unsent_outbox == 0
        and now.queued_tasks == 0
        and not running
        and not calculating
        and _broker_backlog(broker_url) == 0
    )


def _wait_drained(store_id: int, broker_url: str, timeout: float) -> float | None:
    """Seconds until nothing waits anywhere for 3 s in a row (None: not within ``timeout``)."""
    started = time.monotonic()
    quiet_since = None
    while time.monotonic() - started < timeout:
        _supervise()
        if _asking(lambda: _drained(store_id, broker_url), default=False):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 3:
                return quiet_since - started
        else:
            quiet_since = None
        time.sleep(0.5)
    return None


# The processes a supervisor would restart (systemd Restart=always): see Process.revive.
SUPERVISED: list = []


def _supervise() -> None:
    for process in SUPERVISED:
        process.revive()


def _asking(question, default=None):
    """Ask the database; a connection cut by a restart is dropped and the answer is ``default``."""
    from django.db import DatabaseError, InterfaceError, connections

    try:
        return question()
    except (DatabaseError, InterfaceError):
        connections.close_all()
        return default


def _lag_recovered(timeout: float, below: float = 5.0) -> float | None:
    """Seconds until the oldest waiting event is younger than ``below`` (the lag is back)."""
    from ops.queries import backlog

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        _supervise()
        lag = _asking(lambda: backlog().oldest_received_seconds, default=float("inf"))
        if lag < below:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


# Tasks whose work has no row but their journal's (segments.task_journal).
JOURNALLED = {"segments.evaluate_customers", "experiences.process_events", "rewards.process_events"}


def _waiting_tasks(url: str) -> Counter:
    """The names of the tasks waiting in the broker's queues or delivered but unacknowledged."""
    import json

    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    raw = [
        m for k in client.scan_iter() if client.type(k) == b"list" for m in client.lrange(k, 0, -1)
    ]
    raw += [json.dumps(json.loads(m)[0]).encode() for m in client.hvals("unacked")]
    names = Counter()
    for message in raw:
        try:
            names[json.loads(message)["headers"]["task"]] += 1
        except (ValueError, KeyError, TypeError):
            names["?"] += 1
    return names


def _checks(store, load: Load) -> list[tuple[str, bool, str]]:
    from django.db import connection

    from experiences.models import Run
    from segments.figures import count_inconsistent_customers
    from segments.models import Customer, InboundEvent, OutboxEvent, QueuedTask, Segment
    from segments.rules import compile_for_store

    def one(sql: str, params=()) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    events = InboundEvent.objects.filter(store=store)
    results = [
        (
            "every accepted webhook is stored, once",
            load.accepted <= events.count() <= len(load.answered),
            f"{load.accepted} answered 202, {events.count()} stored, {len(load.answered)}"
            " deliveries answered 202 or 200 (some carry the same event)",
        ),
        (
            "every event is processed",
            not events.exclude(status__in=["processed", "ignored"]).exists(),
            str(dict(Counter(events.values_list("status", flat=True)))),
        ),
        ("every delivery was answered", load.unanswered == 0, f"{load.unanswered} unanswered"),
        (
            "no delivery key stored twice, each naming its event",
            not one(
                "SELECT count(*) FROM segments_inboundevent e LEFT JOIN segments_inbounddelivery d"
                " ON d.event_id = e.id AND (d.store_id, d.source, d.dedupe_key) ="
                " (e.store_id, e.source, e.dedupe_key) WHERE e.store_id = %s AND d.id IS NULL",
                [store.pk],
            )
            and not one(
                "SELECT count(*) FROM (SELECT 1 FROM segments_inboundevent WHERE store_id = %s"
                " GROUP BY source, dedupe_key HAVING count(*) > 1) d",
                [store.pk],
            ),
            "every event has its segments_inbounddelivery row; no key has two events",
        ),
        (
            "no reward granted twice",
            one(
                "SELECT count(*) FROM (SELECT 1 FROM rewards_rewardgrant WHERE store_id = %s"
                " GROUP BY source_key HAVING count(*) > 1) d",
                [store.pk],
            )
            == 0,
            f"{one('SELECT count(*) FROM rewards_rewardgrant WHERE store_id = %s', [store.pk])}"
            " grants",
        ),
        (
            "no credit lot or balance below zero",
            one(
                "SELECT count(*) FROM (SELECT 1 FROM rewards_creditentry WHERE store_id = %s"
                " GROUP BY customer_id, grant_id HAVING sum(amount) < 0) d",
                [store.pk],
            )
            == 0,
            f"{one('SELECT count(*) FROM rewards_creditentry WHERE store_id = %s', [store.pk])}"
            " entries",
        ),
        (
            "every customer's figures equal their orders",
            count_inconsistent_customers(store.pk) == 0,
            f"{count_inconsistent_customers(store.pk)} inconsistent",
        ),
        (
            "no run stuck",
            not Run.objects.filter(store=store, status=Run.Status.RUNNING).exists(),
            str(dict(Counter(Run.objects.filter(store=store).values_list("status", flat=True)))),
        ),
        (
            "nothing unsent in the outbox",
            not OutboxEvent.objects.filter(store=store, sent_at__isnull=True).exists(),
            f"{OutboxEvent.objects.filter(store=store).count()} rows",
        ),
    ]
    from segments.models import JobStatus, SegmentCalculation

    unfinished = SegmentCalculation.objects.filter(
        store=store, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).count()
    results.append(("no recompute left queued or running", not unfinished, f"{unfinished} left"))
    results.append(
        (
            "nothing left in the task journal",
            not QueuedTask.objects.exists(),
            f"{QueuedTask.objects.count()} rows",
        )
    )
    for segment in Segment.objects.filter(store=store, kind=Segment.Kind.DYNAMIC):
        sql, params = compile_for_store(segment.rule, store, alias=Customer._meta.db_table)
        from django.db.models import BooleanField
        from django.db.models.expressions import RawSQL

        wanted = set(
            Customer.objects.filter(store=store)
            .filter(RawSQL(sql, params, output_field=BooleanField()))
            .values_list("pk", flat=True)
        )
        members = set(segment.memberships.values_list("customer_id", flat=True))
        results.append(
            (
                f"rule segment {segment.name!r} holds exactly its rule's customers",
                wanted == members,
                f"{len(members)} members, rule matches {len(wanted)}, "
                f"{len(wanted ^ members)} differ",
            )
        )
    return results


def _faults(args, worker, redis_server, started, load_started, drains) -> None:
    """SIGKILL the worker and start a new one; restart the broker without its data; stop it for
    --outage seconds; restart PostgreSQL (the embedded one only)."""
    worker.kill()
    print(f"{time.monotonic() - started:6.1f}s worker killed (SIGKILL)")
    time.sleep(1)
    worker.start()
    drains["worker killed"] = _lag_recovered(args.seconds)

    # fault 2: the broker restarts without its data (queued tasks, unacknowledged ones, bindings).
    # For 4 s before, only ingest is consumed, so that the segment evaluations and engine batches
    # the events hand off are waiting in the queues when they go.
    time.sleep(max(1.0, args.seconds * 0.4 - (time.monotonic() - load_started)))
    worker.kill()
    ingest_args = [a for a in worker.args if a != "-B"]
    ingest_args[ingest_args.index("-Q") + 1] = "ingest,default"
    ingest_only = Process("worker-ingest", ingest_args, worker.env, worker.log.parent)
    ingest_only.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not JOURNALLED & set(_waiting_tasks(redis_server.url)):
        time.sleep(0.5)
    time.sleep(1)
    ingest_only.kill()
    lost = _waiting_tasks(redis_server.url)
    redis_server.restart_empty()
    worker.start()
    print(f"{time.monotonic() - started:6.1f}s broker restarted without its data, losing"
          f" {dict(lost) or 'nothing'}")  # fmt: skip
    drains["broker forgot"] = _lag_recovered(args.seconds + 60)

    # fault 3: the broker is down for --outage seconds
    time.sleep(max(1.0, args.seconds * 0.55 - (time.monotonic() - load_started)))
    redis_server.stop()
    print(f"{time.monotonic() - started:6.1f}s broker stopped for {args.outage:.0f}s")
    time.sleep(args.outage)
    redis_server.start()
    print(f"{time.monotonic() - started:6.1f}s broker started again")
    drains["broker down"] = _lag_recovered(args.seconds + 60)
    if args.database_url:
        return  # a shared server is not ours to restart

    # fault 4: PostgreSQL stops (fast shutdown: connections cut) and starts again
    from config.embedded_postgres import ensure_running, stop

    time.sleep(max(1.0, args.seconds * 0.75 - (time.monotonic() - load_started)))
    stop(ROOT / "var" / "chaos")
    print(f"{time.monotonic() - started:6.1f}s PostgreSQL stopped for {args.pg_down:.0f}s")
    time.sleep(args.pg_down)
    ensure_running((ROOT / "var" / "chaos" / "postgres").resolve())
    print(f"{time.monotonic() - started:6.1f}s PostgreSQL started again")
    drains["PostgreSQL down"] = _lag_recovered(args.seconds + 60)


def _tune_embedded(run_dir: Path) -> None:
    """Start the private server without waiting on the disk (a throwaway database: its stops
    are clean shutdowns, so nothing written is lost; the faults are the product's, not disks')."""
    import psycopg

    from config.embedded_postgres import database_settings

    db = database_settings(run_dir)
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    ) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")


def _prepare_database(url: str) -> None:
    import dj_database_url
    import psycopg
    from psycopg import sql

    config = dj_database_url.parse(url)
    params = {
        "host": config.get("HOST") or "127.0.0.1",
        "port": config.get("PORT") or 5432,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        name = sql.Identifier(config["NAME"])
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="the CI version: 20 s of load")
    parser.add_argument("--seconds", type=float, default=120, help="seconds of load")
    parser.add_argument("--rate", type=float, default=15, help="webhooks per second")
    parser.add_argument("--outage", type=float, default=30, help="seconds the broker is down")
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-faults", action="store_true", help="the same load, no faults")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CHAOS_DATABASE_URL") or "",
        help="a database of its own on a real server (dropped and created); by default a private"
        " embedded PostgreSQL under var/chaos, which the run also restarts",
    )
    parser.add_argument("--pg-down", type=float, default=3, help="seconds PostgreSQL is down")
    args = parser.parse_args(argv)
    if args.short:
        args.seconds, args.outage, args.customers, args.pg_down = 20, 5, 100, 2

    run_dir = ROOT / "var" / "chaos"
    from config.embedded_postgres import stop as stop_embedded

    stop_embedded(run_dir)  # a server left by an interrupted run
    subprocess.run(["rm", "-rf", str(run_dir)], check=True)
    (run_dir / "prometheus").mkdir(parents=True)
    (run_dir / "redis").mkdir()
    redis_server = PrivateRedis(run_dir / "redis")
    redis_server.start()
    web_port = _free_port()
    env = {
        **os.environ,
        "CELERY_BROKER_URL": redis_server.url,
        "DEBUG": "1",
        "LOG_FORMAT": "text",
        "VAR_DIR": str(run_dir),
        "PROMETHEUS_MULTIPROC_DIR": str(run_dir / "prometheus"),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # a killed worker's unacknowledged tasks come back after 20 s, not an hour, and events
        # and outbox rows left waiting are swept after 5 s: the faults' leftovers are picked up
        # within the run
        "CELERY_VISIBILITY_TIMEOUT": "20",
        "INGEST_SWEEP_GRACE_SECONDS": "5",
        "OUTBOX_SWEEP_SECONDS": "5",
        "OUTBOX_SWEEP_GRACE_SECONDS": "5",
        # what the broker forgot is sent again from the task journal after 5 s, and runs whose
        # walk it forgot are restarted after 15 s without progress
        "TASK_JOURNAL_SWEEP_SECONDS": "5",
        "TASK_JOURNAL_GRACE_SECONDS": "5",
        "EXPERIENCES_STALLED_SECONDS": "15",
        "EXPERIENCES_SWEEP_SECONDS": "10",
        # a recompute whose task the broker forgot is restarted after 15 s without progress
        "SEGMENT_RECOMPUTE_STUCK_SECONDS": "15",
        "SEGMENT_STUCK_SWEEP_SECONDS": "5",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    else:  # the embedded server under var/chaos, started by the settings
        env.pop("DATABASE_URL", None)
        os.environ.pop("DATABASE_URL", None)
    os.environ.update(env)
    try:
        if args.database_url:
            _prepare_database(args.database_url)
        else:
            _tune_embedded(run_dir)
        import django

        django.setup()
    except BaseException:
        redis_server.stop()
        raise
    from django.core.management import call_command

    from segments.actions import create_segment
    from segments.models import Store

    started = time.monotonic()
    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_demo", "--customers", str(args.customers), verbosity=0)
    store = Store.objects.get(slug="demo")
    create_segment(store, name="Chaos: 3+ orders", kind="dynamic", rule="orders_count >= 3")
    create_segment(store, name="Chaos: spent 100+", kind="dynamic", rule="total_spent >= 100")
    print(f"prepared in {time.monotonic() - started:.1f}s: {args.customers} customers")

    web = Process(
        "web",
        [PY, "-m", "gunicorn", "config.wsgi", "-c", "config/gunicorn.conf.py",
         "-b", f"127.0.0.1:{web_port}", "-w", "2", "--access-logfile", "/dev/null"],
        env, run_dir,
    )  # fmt: skip
    worker_args = [
        PY, "-m", "celery", "-A", "config", "worker", "-B", "-c", "2", "-l", "info",
        "-Q", "default,ingest,segments,analytics,experiences,scheduled",
        "-s", str(run_dir / "celerybeat-schedule"),
        "--without-heartbeat", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    worker = Process("worker", worker_args, env, run_dir)
    SUPERVISED.append(worker)
    failures = 0
    try:
        web.start()
        worker.start()
        _wait_port(web_port)
        load = Load(store, f"http://127.0.0.1:{web_port}", args.rate, args.seconds, args.seed)
        print(f"load: {len(load.deliveries)} deliveries at {args.rate}/s for {args.seconds:.0f}s")
        load.thread.start()
        load_started = time.monotonic()
        drains = {}

        # fault 1: SIGKILL the worker (main process and pool) and start a new one
        time.sleep(args.seconds * 0.25)
        if not args.no_faults:
            _faults(args, worker, redis_server, started, load_started, drains)

        load.thread.join(args.seconds * 3 + args.outage + 120)
        load_done = time.monotonic()
        drained = _wait_drained(store.pk, redis_server.url, 120)
        print(f"{time.monotonic() - started:6.1f}s load done; drained in {drained}")

        from segments.models import InboundEvent

        processed = InboundEvent.objects.filter(store=store, status="processed").count()
        print("")
        print(f"  webhooks sent (with retries)  {load.sent}")
        print(f"  answers                       {dict(sorted(load.answers.items()))}")
        print(f"  accepted (202)                {load.accepted}")
        print(f"  processed                     {processed}")
        print(f"  duplicates absorbed (200)     {load.answers.get(200, 0)}")
        print(f"  delivered twice / late        {load.twice} / {load.late}")
        print(f"  retried deliveries            {load.retries}")
        print(f"  worker exits on its own       {worker.crashes} (started again by the run)")
        for fault, seconds in drains.items():
            shown = "did not recover" if seconds is None else f"{seconds:.1f}s"
            print(f"  lag back under 5 s after {fault:<15} {shown}")
        shown = "did not drain" if drained is None else f"{drained:.1f}s"
        print(f"  drained after the load stopped {shown}")
        print(f"  total                         {load_done - started:.0f}s")
        print("")
        for name, ok, detail in _checks(store, load):
            failures += not ok
            print(f"  {'ok  ' if ok else 'FAIL'} {name}: {detail}")
    finally:
        worker.stop()
        web.stop()
        redis_server.stop()
        if not args.database_url:
            from django.db import connections

            connections.close_all()
            stop_embedded(run_dir)
    print(f"\nchaos: {'passed' if not failures else f'{failures} check(s) failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
