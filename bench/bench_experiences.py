"""Experience engine throughput: events evaluated per second end to end on one worker of two
processes, next to the rate of a no-op task (``segments.ping``) measured in the same run, and
queries per event.

Setup: one store, 20 live experiences (mixed triggers and segment conditions), 10,000 customers.
Twelve experiences start on orders; their conditions (segment membership and a milestone count, or
a large order) let roughly one order in twelve into each, so an order starts about one run.
Run it against its own database: ``DATABASE_URL=postgres://.../subexp_bench_experiences``; the
database is created and migrated if needed, and this benchmark's store is rebuilt each run.
Options: ``--customers=N --events=N --pings=N --scale=1,20,100,500``.

Batch walks: the same store's events in process, in the worker's batches (``CHUNK``), next to a
hand-written set-based SQL baseline that inserts the same runs, steps, memberships and their
history for the same batches (``INSERT ... SELECT`` copies of what the engine wrote), and events/s
with 1, 20, 100 and 500 live experiences on one store of which only two listen to orders.

Rewards: two more stores of the same size with 20 live experiences each, the same triggers; in
one every run grants store credit (fixed or 3% of the order, under a reward budget), in the other
the credit node is left out. The same events go to both on the same worker: grants per second end
to end, next to the engine's rate without rewards.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUEUES = "default,experiences"


def _batch_size() -> int:
    """Events per engine task, as the receivers cut them."""
    from experiences.receivers import CHUNK

    return CHUNK


def _options(argv: list[str]) -> dict:
    opts: dict = {"customers": 10_000, "events": 1_000, "pings": 2_000, "scale": [1, 20, 100, 500]}
    for arg in argv:
        name, _, value = arg.lstrip("-").partition("=")
        if name == "scale":
            opts["scale"] = [int(v) for v in value.split(",") if v.isdigit()]
        elif name in opts and value.isdigit():
            opts[name] = int(value)
    return opts


def _ensure_database() -> None:
    import psycopg
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("bench_experiences needs PostgreSQL (set DATABASE_URL).")
    dsn = dict(
        host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"], dbname="postgres"
    )
    if s.get("PASSWORD"):
        dsn["password"] = s["PASSWORD"]
    with psycopg.connect(**dsn, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [s["NAME"]]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{s["NAME"]}"')
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _build(n_customers: int):
    from django.db import transaction

    from experiences import actions
    from segments.models import Customer, Order, Segment, SegmentMembership, Store

    Store.objects.filter(slug="bench-experiences").delete()
    store = Store.objects.create(
        name="Bench experiences",
        slug="bench-experiences",
        experiences_enabled=True,
        rewards_enabled=True,
    )
    rng = random.Random(7)
    customers = Customer.objects.bulk_create(
        [
            Customer(
                store=store,
                email=f"bench{i}@example.com",
                first_name="Bench",
                subscription_orders_count=rng.randint(0, 12),
                orders_count=rng.randint(0, 20),
                total_spent=Decimal(rng.randint(0, 2000)),
            )
            for i in range(n_customers)
        ],
        batch_size=2000,
    )
    segments = [
        Segment.objects.create(store=store, name=f"Bench segment {i}", kind="static")
        for i in range(8)
    ]
    SegmentMembership.objects.bulk_create(
        [
            SegmentMembership(store=store, segment=seg, customer=c, source="manual")
            for seg in segments[:4]
            for c in customers
            if rng.random() < 0.3
        ],
        batch_size=5000,
    )
    orders = Order.objects.bulk_create(
        [
            Order(
                store=store,
                customer=c,
                external_id=f"bench-{c.pk}",
                total=Decimal(rng.randint(10, 200)),
                currency="USD",
                is_subscription=True,
                type="recurring",
            )
            for c in customers
        ],
        batch_size=2000,
    )

    def graph(i: int):
        seg = segments[i % 4]
        target = segments[4 + i % 4]
        if i % 5 == 4:
            trigger = {"event": "subscription_cancelled", "confirm_every_order": True}
        elif i % 5 == 3:
            trigger = {
                "event": "customer_entered_segment",
                "segment_id": segments[4 + (i + 1) % 4].pk,
                "confirm_every_order": True,
            }
        else:
            trigger = {
                "event": "order_processed",
                "conditions": [
                    [
                        {"field": "segment", "operator": "in", "value": seg.pk},
                        {"field": "subscription_orders_count", "operator": "eq", "value": i % 12},
                    ],
                    [{"field": "order.total", "operator": "gt", "value": 190}],
                ],
            }
        nodes = [
            {"key": "trigger", "type": "trigger", "config": trigger},
            {
                "key": "branch",
                "type": "condition",
                "config": {
                    "branches": [
                        {
                            "label": "big",
                            "conditions": [
                                [{"field": "total_spent", "operator": "gt", "value": 1000}]
                            ],
                        },
                        {
                            "label": "vip",
                            "conditions": [
                                [{"field": "segment", "operator": "in", "value": seg.pk}]
                            ],
                        },
                    ]
                },
            },
            {"key": "add", "type": "segment", "config": {"segment_id": target.pk}},
            {
                "key": "mail",
                "type": "notification",
                "config": {"subject": "Hi {{ customer.first_name }}", "body": "{{ order.total }}"},
            },
            {"key": "end", "type": "end", "config": {}},
        ]
        edges = [
            {"source": "trigger", "target": "branch"},
            {"source": "branch", "target": "add", "branch": "big"},
            {"source": "branch", "target": "mail", "branch": "vip"},
            {"source": "branch", "target": "end", "branch": "else"},
            {"source": "add", "target": "end"},
            {"source": "mail", "target": "end"},
        ]
        return nodes, edges

    with transaction.atomic():
        for i in range(20):
            experience = actions.create_experience(
                store, name=f"Bench {i}", kind="reward_strategy", reentry="every_time"
            )
            nodes, edges = graph(i)
            _, report = actions.save_draft(experience, revision=1, nodes=nodes, edges=edges)
            assert report.ok, report.as_dict()
            actions.publish_draft(experience)
    _analyze()
    return store, orders


def _analyze() -> None:
    """Vacuum away the previous run's rows and refresh the planner's statistics after the bulk
    load, as autovacuum does within a minute on a live database (this benchmark measures seconds
    after loading; without statistics, PostgreSQL plans a membership test as a hash of the whole
    segment instead of an index probe)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def _build_rewards(n_customers: int, *, grant: bool):
    """A store whose 20 experiences start on orders by milestone count; each run grants credit
    (``grant``) or goes straight to its end. Returns the store's orders."""
    from django.db import transaction

    from experiences import actions
    from rewards.models import CreditEntry, RewardGrant
    from segments.models import Customer, Order, Store

    slug = "bench-rewards-on" if grant else "bench-rewards-off"
    # The ledger protects its rows from cascades; this benchmark owns its database.
    CreditEntry.objects.filter(store__slug=slug).delete()
    RewardGrant.objects.filter(store__slug=slug).delete()
    Store.objects.filter(slug=slug).delete()
    store = Store.objects.create(
        name=slug, slug=slug, experiences_enabled=True, rewards_enabled=True
    )
    rng = random.Random(13)
    customers = Customer.objects.bulk_create(
        [
            Customer(
                store=store,
                email=f"{slug}-{i}@example.com",
                subscription_orders_count=rng.randint(0, 11),
            )
            for i in range(n_customers)
        ],
        batch_size=2000,
    )
    orders = Order.objects.bulk_create(
        [
            Order(
                store=store,
                customer=c,
                external_id=f"{slug}-{c.pk}",
                total=Decimal(rng.randint(10, 200)),
                currency="USD",
                is_subscription=True,
                type="recurring",
            )
            for c in customers
        ],
        batch_size=2000,
    )
    with transaction.atomic():
        for i in range(20):
            trigger = {
                "event": "order_processed",
                "conditions": [
                    [{"field": "subscription_orders_count", "operator": "eq", "value": i % 10}]
                ],
            }
            nodes = [{"key": "trigger", "type": "trigger", "config": trigger}]
            if grant:
                amount = {"amount_type": "fixed", "amount": "2.00"}
                if i % 2:
                    amount = {"amount_type": "percent", "amount": "3", "expires_in_days": 90}
                nodes.append({"key": "credit", "type": "credit", "config": amount})
            nodes.append({"key": "end", "type": "end", "config": {}})
            pairs = zip(nodes, nodes[1:], strict=False)
            edges = [{"source": a["key"], "target": b["key"]} for a, b in pairs]
            experience = actions.create_experience(
                store,
                name=f"Rewards {i}",
                kind="reward_strategy",
                reentry="every_time",
                reward_budget=Decimal("1000000.00") if grant else None,
            )
            _, report = actions.save_draft(experience, revision=1, nodes=nodes, edges=edges)
            assert report.ok, report.as_dict()
            actions.publish_draft(experience)
    _analyze()
    return orders


def _send_and_drain(events) -> float:
    from segments import domain

    started = time.perf_counter()
    for start in range(0, len(events), 100):  # through the receivers, as a batch announces
        domain.send_now(events[start : start + 100])
    return _drain_seconds(started)


def _order_event(order, key: str):
    from segments.domain import DomainEvent

    return DomainEvent(
        name="order_processed",
        store_id=order.store_id,
        customer_id=order.customer_id,
        key=key,
        data={
            "order_id": order.pk,
            "is_subscription": True,
            "is_first_subscription_order": False,
            "order_type": "recurring",
            "total": str(order.total),
        },
    )


def _queue_busy() -> int:
    from config.celery import app

    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        waiting = sum(client.llen(q) for q in QUEUES.split(","))
        return waiting + client.hlen("unacked")


def _purge() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        for q in QUEUES.split(","):
            conn.default_channel.queue_purge(q)
        # Messages a killed worker left unacknowledged (a test's SIGKILL, say) would keep the
        # drain check waiting for an hour; the bench owns the broker while it runs.
        conn.default_channel.client.delete("unacked", "unacked_index")


def _drain_seconds(started: float, timeout: float = 600) -> float:
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if _queue_busy() == 0:
            return time.perf_counter() - started
        time.sleep(0.02)
    raise SystemExit("the worker did not drain the queue in time")


def _start_worker() -> subprocess.Popen:
    log = tempfile.NamedTemporaryFile(prefix="bench-worker-", suffix=".log", delete=False)
    # The production shape: DEBUG off (no per-query logging in the worker), a key of its own.
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or f"bench-{time.time_ns()}",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", QUEUES, "-c", "2",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    proc.log_path = log.name
    from segments.tasks import ping

    ping.delay("warm-up")
    _drain_seconds(time.perf_counter(), timeout=60)
    return proc


def main(argv: list[str]) -> None:
    from django.test.utils import override_settings

    opts = _options(argv)
    quiet_mail = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    with override_settings(MAILERS=quiet_mail):
        _run(opts)


def _run(opts: dict[str, int]) -> None:
    import signal

    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from experiences import actions
    from experiences.models import Run
    from segments import domain
    from segments.tasks import ping

    _ensure_database()
    t0 = time.perf_counter()
    store, orders = _build(opts["customers"])
    print(
        f"setup: {opts['customers']} customers, 20 live experiences"
        f" in {time.perf_counter() - t0:.1f}s"
    )

    # Queries per event, in process (no broker), on events for distinct customers.
    rng = random.Random(11)
    sample = rng.sample(orders, 50)
    counts = []
    in_process_started = time.perf_counter()
    for i, order in enumerate(sample):
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            actions.process_event(_order_event(order, f"bench-q-{i}"))
        counts.append(len(ctx))
    in_process_ms = (time.perf_counter() - in_process_started) / len(sample) * 1000
    runs_sample = Run.objects.filter(trigger_event_key__startswith="bench-q-").count()
    print(
        f"queries per order event (50 events, {runs_sample} runs started): "
        f"mean {sum(counts) / len(counts):.1f}, max {max(counts)}, min {min(counts)}; "
        f"{in_process_ms:.1f} ms per event in process"
    )

    _batches_against_sql(orders, rng)
    if opts["scale"]:
        _scaling(opts["scale"], min(opts["customers"], 5_000))

    t0 = time.perf_counter()
    with_rewards = _build_rewards(opts["customers"], grant=True)
    without_rewards = _build_rewards(opts["customers"], grant=False)
    print(
        f"setup: 2 x {opts['customers']} customers, 20 live experiences each (with and without"
        f" a credit node) in {time.perf_counter() - t0:.1f}s"
    )
    per_run = {}
    for name, store_orders in (("without", without_rewards), ("with", with_rewards)):
        queries = runs_started = 0
        for i, k in enumerate(rng.sample(range(len(store_orders)), 50)):
            key = f"bench-rq-{name}-{i}"
            reset_queries()
            with CaptureQueriesContext(connection) as ctx:
                actions.process_event(_order_event(store_orders[k], key))
            queries += len(ctx)
            runs_started += Run.objects.filter(trigger_event_key=key).count()
        per_run[name] = queries / max(runs_started, 1)
    print(
        f"queries per run in process (50 events each): {per_run['without']:.1f} without rewards,"
        f" {per_run['with']:.1f} with a credit grant"
    )

    _purge()
    worker = _start_worker()
    try:
        started = time.perf_counter()
        for i in range(opts["pings"]):
            ping.delay(str(i))
        ping_seconds = _drain_seconds(started)
        ping_rate = opts["pings"] / ping_seconds

        events = [
            _order_event(orders[rng.randrange(len(orders))], f"bench-e-{time.time_ns()}-{i}")
            for i in range(opts["events"])
        ]
        started = time.perf_counter()
        for start in range(0, len(events), 100):  # through the receivers, as a batch announces
            domain.send_now(events[start : start + 100])
        event_seconds = _drain_seconds(started)
        event_rate = opts["events"] / event_seconds
        runs = Run.objects.filter(trigger_event_key__startswith="bench-e-").count()

        # The same customers' positions and the same order of events in both stores.
        picks = [rng.randrange(opts["customers"]) for _ in range(opts["events"])]
        stamp = time.time_ns()
        plain_seconds = _send_and_drain(
            [_order_event(without_rewards[k], f"bench-r0-{stamp}-{i}") for i, k in enumerate(picks)]
        )
        reward_seconds = _send_and_drain(
            [_order_event(with_rewards[k], f"bench-r1-{stamp}-{i}") for i, k in enumerate(picks)]
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            pass
        try:  # the pool's children too, whatever the main process managed before it exited
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    print(f"no-op task (segments.ping): {opts['pings']} in {ping_seconds:.2f}s = {ping_rate:.0f}/s")
    print(
        f"order events end to end: {opts['events']} in {event_seconds:.2f}s = {event_rate:.0f}/s "
        f"({runs} runs started and walked)"
    )
    print(f"ratio events/no-op: {event_rate / ping_rate:.2f}")
    _report_rewards(opts["events"], plain_seconds, reward_seconds)


def _report_rewards(events: int, plain_seconds: float, reward_seconds: float) -> None:
    from experiences.models import Run
    from rewards.models import RewardGrant

    plain_runs = Run.objects.filter(
        trigger_event_key__startswith="bench-r0-", status="completed"
    ).count()
    reward_runs = Run.objects.filter(
        trigger_event_key__startswith="bench-r1-", status="completed"
    ).count()
    grants = RewardGrant.objects.filter(
        run_id__in=Run.objects.filter(trigger_event_key__startswith="bench-r1-").values("pk")
    )
    issued = grants.filter(status="issued").count()
    skipped = grants.filter(status="skipped").count()
    plain_rate, reward_rate = plain_runs / plain_seconds, reward_runs / reward_seconds
    print(
        f"without rewards (same triggers, no credit node): {events} events, {plain_runs} runs"
        f" in {plain_seconds:.2f}s = {events / plain_seconds:.0f} events/s,"
        f" {plain_rate:.0f} runs/s"
    )
    print(
        f"with rewards (every run grants credit): {events} events, {reward_runs} runs,"
        f" {issued} grants issued ({skipped} skipped) in {reward_seconds:.2f}s ="
        f" {events / reward_seconds:.0f} events/s, {issued / reward_seconds:.0f} grants/s"
    )
    print(
        f"ratio runs/s with rewards / without: {reward_rate / plain_rate:.2f}"
        " (the ledger's cost per run)"
    )


def _batches_against_sql(orders, rng, n_events: int = 500) -> None:
    """The engine in process on batches of a task's size, then the same rows written by
    hand-made SQL."""
    from django.db import connection, reset_queries, transaction
    from django.test.utils import CaptureQueriesContext

    from experiences import actions
    from experiences.models import Experience, Run
    from segments.models import Segment

    stamp = time.time_ns()
    events = [
        _order_event(orders[rng.randrange(len(orders))], f"bench-b-{stamp}-{i}")
        for i in range(n_events)
    ]
    BATCH = _batch_size()
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    per_batch = []
    started = time.perf_counter()
    for batch in batches:
        reset_queries()  # DEBUG keeps the last 9,000 only: count from an empty log
        with CaptureQueriesContext(connection) as ctx:
            actions.process_events(batch)
        per_batch.append(len(ctx))
    engine_seconds = time.perf_counter() - started
    runs = Run.objects.filter(trigger_event_key__startswith=f"bench-b-{stamp}-").count()
    print(
        f"queries per order event in batches of {BATCH} ({n_events} events, {runs} runs):"
        f" mean {sum(per_batch) / n_events:.1f}, per batch mean"
        f" {sum(per_batch) / len(per_batch):.0f} max {max(per_batch)}"
    )
    baseline = Segment.objects.create(
        store_id=orders[0].store_id, name=f"SQL baseline {stamp}", kind="static"
    )
    experience_ids = list(
        Experience.objects.filter(store_id=baseline.store_id).values_list("pk", flat=True)
    )
    started = time.perf_counter()
    for batch in batches:
        with transaction.atomic():
            _copy_with_sql([e.key for e in batch], experience_ids, baseline.pk)
    sql_seconds = time.perf_counter() - started
    baseline.delete()
    engine_rate, sql_rate = n_events / engine_seconds, n_events / sql_seconds
    print(
        f"engine in process, batches of {BATCH}: {engine_rate:.0f} events/s;"
        f" hand-written set-based SQL (same runs, steps, memberships, history):"
        f" {sql_rate:.0f} events/s"
    )
    print(f"ratio engine/SQL baseline: {engine_rate / sql_rate:.2f}")


def _copy_with_sql(keys: list[str], experience_ids: list[int], segment_id: int) -> None:
    """Insert copies of the runs these events started, their steps, and the memberships (with
    history) their steps made, in three statements: what PostgreSQL allows for such a batch."""
    from django.db import connection

    from experiences.models import Run, RunStep
    from segments.models import SegmentHistory, SegmentMembership

    run_t, step_t = Run._meta.db_table, RunStep._meta.db_table
    mem_t, hist_t = SegmentMembership._meta.db_table, SegmentHistory._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH src AS (SELECT * FROM {run_t}
              WHERE trigger_event_key = ANY(%s) AND experience_id = ANY(%s)),
            ins AS (
              INSERT INTO {run_t} (store_id, experience_id, version_id, customer_id,
                trigger_event_key, trigger_event_name, trigger_event, chain_origin, depth, status,
                rotation, current_node_id, exit_reason, started_at, updated_at, finished_at,
                month)
              SELECT store_id, experience_id, version_id, customer_id, trigger_event_key || '/sql',
                trigger_event_name, trigger_event, chain_origin, depth, status,
                rotation + 1000000, current_node_id, exit_reason, now(), now(), finished_at, month
              FROM src RETURNING id, experience_id, trigger_event_key, month)
            INSERT INTO {step_t} (run_id, node_id, rotation, status, attempt, scheduled_at, due_at,
              wait_for, branch, result, error, finished_at, month)
            SELECT ins.id, st.node_id, st.rotation + 1000000, st.status, 1, now(), st.due_at,
              st.wait_for, st.branch, st.result, st.error, st.finished_at, ins.month
            FROM ins JOIN src ON src.experience_id = ins.experience_id
              AND src.trigger_event_key || '/sql' = ins.trigger_event_key
            JOIN {step_t} st ON st.run_id = src.id
            """,
            [keys, experience_ids],
        )
        # The memberships the steps added, with their history, into the baseline's own segment
        # (the engine's rows already hold the (segment, customer) keys).
        cursor.execute(
            f"""
            WITH h AS (
              SELECT h.store_id, h.customer_id, h.source, h.reference
              FROM {run_t} r JOIN {hist_t} h ON h.customer_id = r.customer_id
                AND h.reference LIKE 'run:' || r.id || '/%%'
              WHERE r.trigger_event_key = ANY(%s) AND r.experience_id = ANY(%s)
                AND h.action = 'added'),
            mem AS (
              INSERT INTO {mem_t} (store_id, segment_id, customer_id, source, reference, added_at)
              SELECT store_id, %s, customer_id, source, reference || '/sql', now() FROM h
              ON CONFLICT (segment_id, customer_id) DO NOTHING RETURNING customer_id, reference)
            INSERT INTO {hist_t} (store_id, segment_id, segment_name, customer_id, action, source,
              reference, at)
            SELECT h.store_id, %s, '', mem.customer_id, 'added', h.source, mem.reference, now()
            FROM mem JOIN h ON h.customer_id = mem.customer_id
              AND h.reference || '/sql' = mem.reference
            """,
            [keys, experience_ids, segment_id, segment_id],
        )


def _scaling(counts: list[int], n_customers: int, n_events: int = 300) -> None:
    """Events/s in process (in the worker's batches) with N live experiences, two of them
    listening to orders and the rest to a segment event that never comes."""
    BATCH = _batch_size()
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from experiences import actions
    from segments.models import Customer, Order, Segment, SegmentMembership, Store

    Store.objects.filter(slug="bench-scaling").delete()
    store = Store.objects.create(
        name="Bench scaling", slug="bench-scaling", experiences_enabled=True, rewards_enabled=True
    )
    rng = random.Random(5)
    customers = Customer.objects.bulk_create(
        [
            Customer(store=store, email=f"scale{i}@example.com", first_name="Scale",
                     subscription_orders_count=rng.randint(0, 12))
            for i in range(n_customers)
        ],
        batch_size=2000,
    )  # fmt: skip
    quiet = Segment.objects.create(store=store, name="Never left", kind="static")
    reached = Segment.objects.create(store=store, name="Reached", kind="static")
    SegmentMembership.objects.bulk_create(
        [SegmentMembership(store=store, segment=quiet, customer=c, source="manual")
         for c in customers[:10]]
    )  # fmt: skip
    orders = Order.objects.bulk_create(
        [
            Order(store=store, customer=c, external_id=f"scale-{c.pk}", currency="USD",
                  total=Decimal(rng.randint(10, 200)), is_subscription=True, type="recurring")
            for c in customers
        ],
        batch_size=2000,
    )  # fmt: skip
    _analyze()

    def publish(i: int) -> None:
        if i < 2:
            trigger = {
                "event": "order_processed",
                "conditions": [
                    [{"field": "subscription_orders_count", "operator": "gte", "value": 6 + i}]
                ],
            }
            middle = [{"key": "add", "type": "segment", "config": {"segment_id": reached.pk}}]
        else:
            trigger = {
                "event": "customer_left_segment",
                "segment_id": quiet.pk,
                "confirm_every_order": True,
            }
            middle = []
        nodes = [{"key": "trigger", "type": "trigger", "config": trigger}, *middle,
                 {"key": "end", "type": "end", "config": {}}]  # fmt: skip
        edges = [
            {"source": a["key"], "target": b["key"]} for a, b in zip(nodes, nodes[1:], strict=False)
        ]
        experience = actions.create_experience(
            store, name=f"Scale {i}", kind="reward_strategy", reentry="every_time"
        )
        _, report = actions.save_draft(experience, revision=1, nodes=nodes, edges=edges)
        assert report.ok, report.as_dict()
        actions.publish_draft(experience)

    live = 0
    figures = []
    for count in sorted(counts):
        while live < count:
            publish(live)
            live += 1
        stamp = time.time_ns()
        events = [
            _order_event(orders[rng.randrange(len(orders))], f"bench-s-{stamp}-{i}")
            for i in range(n_events)
        ]
        actions.process_events(  # warm-up: the listening graphs, caches after the publishes
            [_order_event(orders[rng.randrange(len(orders))], f"bench-w-{stamp}-{i}")
             for i in range(BATCH)]
        )  # fmt: skip
        queries = 0
        started = time.perf_counter()
        for start in range(0, n_events, BATCH):
            reset_queries()
            with CaptureQueriesContext(connection) as ctx:
                actions.process_events(events[start : start + BATCH])
            queries += len(ctx)
        rate = n_events / (time.perf_counter() - started)
        figures.append((count, rate))
        print(
            f"{count} live experiences ({min(count, 2)} listening to orders): {rate:.0f} events/s"
            f" in process, {queries / n_events:.1f} queries per event"
        )
    # From 2 live experiences on, the same two listen: the ratio shows what the others cost.
    base = next((f for f in figures if f[0] >= 2), None)
    if base is not None and figures[-1][0] > base[0]:
        print(
            f"ratio events/s {figures[-1][0]} / {base[0]} live experiences (the same 2 listening):"
            f" {figures[-1][1] / base[1]:.2f}"
        )
