"""Segments at a million customers: full recompute, incremental evaluation, CSV import.

Run: ``DATABASE_URL=postgres://.../subexp_segments_bench python -m bench segments``
Options: ``--customers=N`` (default 1,000,000), ``--store=SLUG`` (default ``bench``),
``--reseed`` (seed again), ``--only=recompute,incremental,import``.

Each figure is printed next to a baseline measured in the same run: the same diff written as one
hand-written SQL statement, and for the import a hand-written set-based insert.
"""

from __future__ import annotations

import argparse
import statistics
import time
from decimal import Decimal

from django.core.management import call_command, get_commands
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

RULE = "orders_count >= 3 AND total_spent > 100 AND last_order_date > -90d"
HAND_WHERE = (
    "c.orders_count >= 3 AND c.total_spent > 100"
    # "last_order_date > -90d": from the start of the day 89 days ago, in the store's zone
    " AND c.last_order_at >= (date_trunc('day', now() AT TIME ZONE %(tz)s) - interval '89 days')"
    " AT TIME ZONE %(tz)s"
)


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench segments")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--store", default="bench")
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument(
        "--only", default="recompute,incremental,import", help="comma-separated parts to run"
    )
    return parser.parse_args(argv)


def _sql(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall() if cursor.description else None


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def seed(slug: str, customers: int, reseed: bool):
    from segments.models import Store

    store = Store.objects.filter(slug=slug).first()
    have = (
        _sql("SELECT count(*) FROM segments_customer WHERE store_id = %s", [store.pk])[0][0]
        if (store)
        else 0
    )
    if store and have >= customers and not reseed:
        print(f"using {have:,} customers of store '{slug}'")
        return store
    if "seed_demo" in get_commands():
        print(f"seeding {customers:,} customers with seed_demo ...", flush=True)
        call_command("seed_demo", customers=customers, store=slug)
        return Store.objects.get(slug=slug)
    # seed_demo is not there yet: a generate_series with the same spread of figures.
    print(f"seeding {customers:,} customers with generate_series ...", flush=True)
    store, _ = Store.objects.get_or_create(slug=slug, defaults={"name": "Bench"})
    _sql("DELETE FROM segments_customer WHERE store_id = %s", [store.pk])
    _sql(
        """
        INSERT INTO segments_customer (store_id, shopify_id, recharge_id, email, first_name,
            last_name, tags, accepts_marketing, created_at, orders_count,
            subscription_orders_count, total_spent, subscription_aov, first_order_at,
            last_order_at, active_subscriptions_count, streak, updated_at)
        SELECT %s, '', '', 'customer' || i || '@bench.example', 'Cus', 'T' || i,
            CASE WHEN i %% 10 = 0 THEN '["vip"]'::jsonb ELSE '[]'::jsonb END, i %% 2 = 0,
            now() - (i %% 1000) * interval '1 day', (i * 7) %% 8, (i * 3) %% 5,
            ((i * 37) %% 500)::numeric, ((i * 11) %% 80)::numeric,
            now() - ((i * 13) %% 720 + 360) * interval '1 day',
            CASE WHEN i %% 9 = 0 THEN NULL ELSE now() - ((i * 17) %% 360) * interval '1 day' END,
            i %% 3, i %% 12, now()
        FROM generate_series(1, %s) AS i
        """,
        [store.pk, customers],
    )
    _sql("ANALYZE segments_customer")
    return store


def fresh_segments(store):
    from segments.models import Segment

    ids = list(Segment.objects.filter(store=store).values_list("id", flat=True))
    if ids:
        _sql("DELETE FROM segments_segmenthistory WHERE segment_id = ANY(%s)", [ids])
        _sql("DELETE FROM segments_segmentmembership WHERE segment_id = ANY(%s)", [ids])
        _sql("DELETE FROM segments_segmentcalculation WHERE segment_id = ANY(%s)", [ids])
        _sql(
            "DELETE FROM segments_segmentimportproblem WHERE segment_import_id IN"
            " (SELECT id FROM segments_segmentimport WHERE segment_id = ANY(%s))",
            [ids],
        )
        _sql("DELETE FROM segments_segmentimport WHERE segment_id = ANY(%s)", [ids])
        Segment.objects.filter(pk__in=ids).delete()
    ruled = Segment.objects.create(store=store, name="Bench rule", kind="dynamic", rule=RULE)
    hand = Segment.objects.create(store=store, name="Bench hand-written", kind="static")
    return ruled, hand


def hand_written_diff(store, segment) -> float:
    sql = f"""
    WITH target AS MATERIALIZED (
        SELECT c.id FROM segments_customer c WHERE c.store_id = %(store)s AND {HAND_WHERE}
    ),
    ins AS (
        INSERT INTO segments_segmentmembership
            (store_id, segment_id, customer_id, source, reference, added_at)
        SELECT %(store)s, %(seg)s, t.id, 'rule', 'hand', now() FROM target t
        WHERE NOT EXISTS (SELECT 1 FROM segments_segmentmembership m
                          WHERE m.segment_id = %(seg)s AND m.customer_id = t.id)
        RETURNING customer_id
    ),
    del AS (
        DELETE FROM segments_segmentmembership m WHERE m.segment_id = %(seg)s
          AND NOT EXISTS (SELECT 1 FROM target t WHERE t.id = m.customer_id)
        RETURNING customer_id
    )
    INSERT INTO segments_segmenthistory
        (store_id, segment_id, customer_id, action, source, reference, at)
    SELECT %(store)s, %(seg)s, customer_id, 'added', 'rule', 'hand', now() FROM ins
    UNION ALL SELECT %(store)s, %(seg)s, customer_id, 'removed', 'rule', 'hand', now() FROM del
    """

    def run():
        # One transaction, committed inside the timing: Django's foreign keys are checked at
        # commit (DEFERRABLE INITIALLY DEFERRED), which is part of the cost of writing rows.
        with transaction.atomic():
            # The same planner setting as the product's diff (see segments.recompute): with
            # fresh statistics a nested-loop anti-join over the matches can take minutes.
            _sql("SET LOCAL enable_nestloop = off")
            _sql(sql, {"store": store.pk, "seg": segment.pk, "tz": store.timezone})

    seconds, _ = _timed(run)
    return seconds


def product_recompute(segment):
    from segments.models import SegmentCalculation
    from segments.recompute import run_calculation

    segment.refresh_from_db()
    calculation = SegmentCalculation.objects.create(
        store_id=segment.store_id, segment=segment, version=segment.version, trigger="manual"
    )
    seconds, result = _timed(lambda: run_calculation(calculation.pk))
    assert result.status == "done", result.error
    return seconds, result


def change_five_percent(store):
    _sql(
        """
        UPDATE segments_customer SET
            orders_count = CASE WHEN orders_count >= 3 THEN 0 ELSE 5 END,
            total_spent = CASE WHEN orders_count >= 3 THEN total_spent ELSE 300 END,
            last_order_at = now() - interval '2 days'
        WHERE store_id = %s AND id %% 20 = 0
        """,
        [store.pk],
    )


def bench_recompute(store):
    from segments.rules import validate_rule

    validate_rule(RULE)  # build the parser once, outside the timings
    ruled, hand = fresh_segments(store)
    for table in ("segments_segmentmembership", "segments_segmenthistory", "segments_segment"):
        _sql(f"VACUUM ANALYZE {table}")
    for label in ("into an empty segment", "after 5% of customers changed"):
        if label.startswith("after"):
            change_five_percent(store)
        product, result = product_recompute(ruled)
        baseline = hand_written_diff(store, hand)
        counts = _sql(
            "SELECT segment_id, count(*) FROM segments_segmentmembership"
            " WHERE segment_id IN (%s, %s) GROUP BY segment_id ORDER BY segment_id",
            [ruled.pk, hand.pk],
        )
        print(
            f"full recompute {label}: {product:.2f}s (+{result.added:,} -{result.removed:,},"
            f" history included) vs hand-written SQL {baseline:.2f}s:"
            f" ratio {product / baseline:.2f}x; members {counts}"
        )


def bench_incremental(store, count: int = 50, rounds: int = 200):
    from segments.models import Customer, Segment
    from segments.recompute import evaluate_customer

    Segment.objects.bulk_create(
        Segment(
            store=store,
            name=f"Incremental {n}",
            kind="dynamic",
            rule=f"orders_count >= {n % 5 + 1} AND total_spent > {n * 3}"
            + (" AND tags CONTAINS 'vip'" if n % 7 == 0 else "")
            + (" OR last_order_date > -30d" if n % 4 == 0 else ""),
        )
        for n in range(count)
    )
    # The benchmark's own recomputes left dead row versions in the small segment table, which
    # autovacuum would clear in production; clear them so the figure measures the evaluation.
    _sql("VACUUM ANALYZE segments_segment")
    customer = Customer.objects.filter(store=store).order_by("id").first()
    evaluate_customer(store.pk, customer.pk)  # compile the 50 rules once, outside the timings

    def measure(change) -> tuple[float, int, int]:
        """Return the median time (the evaluation, its commit and the receivers of the
        entered/left events it announces), the evaluation's own queries and all queries."""
        times, queries, with_receivers = [], [], []
        for i in range(rounds):
            if change is not None:
                Customer.objects.filter(pk=customer.pk).update(**change(i))
            # A full query log (9,000 entries, e.g. after seeding in this process) makes the
            # capture count nothing: start each capture from an empty log.
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as everything:
                started = time.perf_counter()
                with transaction.atomic():
                    with CaptureQueriesContext(connection) as own:
                        evaluate_customer(store.pk, customer.pk)
                times.append(time.perf_counter() - started)
            queries.append(len(own))
            with_receivers.append(len(everything))
        return statistics.median(times) * 1000, max(queries), max(with_receivers)

    # An order that moves the customer across one threshold: one segment entered or left.
    one = measure(
        lambda i: {"orders_count": 5, "total_spent": Decimal("100.50" if i % 2 else "98.50")}
    )
    # A change that flips about half of the segments at once.
    half = measure(
        lambda i: (
            {"orders_count": 5, "total_spent": Decimal("500")}
            if i % 2
            else {"orders_count": 0, "total_spent": Decimal("0")}
        )
    )
    steady = measure(None)  # nothing changed: nothing to write
    baseline = []
    for _ in range(rounds):
        started = time.perf_counter()
        _sql("SELECT orders_count, total_spent FROM segments_customer WHERE id = %s", [customer.pk])
        baseline.append(time.perf_counter() - started)
    print(
        f"incremental evaluation of {count} dynamic segments for one customer"
        " (median, max queries):"
        f" one segment entered or left {one[0]:.2f} ms, {one[1]} queries ({one[2]} with the"
        " receivers of the announced events);"
        f" ~{count // 2} segments flip {half[0]:.2f} ms, {half[1]} queries ({half[2]});"
        f" nothing changed {steady[0]:.2f} ms, {steady[1]} queries ({steady[2]});"
        f" vs one primary-key SELECT {statistics.median(baseline) * 1000:.2f} ms"
    )


def bench_incremental_batch(store, size: int = 100, rounds: int = 10):
    """A batch of order events' customers evaluated together against one by one (the baseline:
    the per-customer evaluation), after bench_incremental created its 50 dynamic segments."""
    from segments.models import Customer
    from segments.recompute import evaluate_customer, evaluate_customers

    ids = list(Customer.objects.filter(store=store).order_by("id").values_list("pk", flat=True))
    ids = ids[1 : size + 1]

    def flip(i: int) -> None:
        Customer.objects.filter(pk__in=ids).update(
            orders_count=5 if i % 2 else 0, total_spent=Decimal("500" if i % 2 else "0")
        )

    alone, together = [], []
    for i in range(rounds):
        flip(2 * i)
        started = time.perf_counter()
        for pk in ids:
            with transaction.atomic():
                evaluate_customer(store.pk, pk)
        alone.append(time.perf_counter() - started)
        flip(2 * i + 1)
        started = time.perf_counter()
        with transaction.atomic():
            evaluate_customers(store.pk, [(pk, None) for pk in ids])
        together.append(time.perf_counter() - started)
    one_ms = statistics.median(alone) * 1000 / size
    batch_ms = statistics.median(together) * 1000 / size
    print(
        f"incremental evaluation of {size} customers whose segments flip: together"
        f" {batch_ms:.2f} ms per customer vs one by one {one_ms:.2f} ms"
        f" ({one_ms / batch_ms:.1f}x faster)"
    )


def bench_import(store, rows: int = 100_000):
    from segments.csv_import import run_import, start_import
    from segments.models import Segment

    target = Segment.objects.create(store=store, name="Bench import", kind="static")
    baseline_target = Segment.objects.create(store=store, name="Bench import baseline")
    emails = [
        e
        for (e,) in _sql(
            "SELECT email FROM segments_customer WHERE store_id = %s ORDER BY id LIMIT %s",
            [store.pk, rows - rows // 100],
        )
    ]
    lines = ["email"] + emails + [f"nobody{n}@nowhere.example" for n in range(rows // 200)]
    lines += ["not an email"] * (rows - len(lines) + 1)
    content = "\n".join(lines) + "\n"
    segment_import = start_import(target, content=content, filename="bench.csv")
    seconds, result = _timed(lambda: run_import(segment_import.pk))
    baseline, _ = _timed(
        lambda: _sql(
            """
            WITH c AS (SELECT id FROM segments_customer
                       WHERE store_id = %s AND lower(email) = ANY(%s))
            , ins AS (INSERT INTO segments_segmentmembership
                        (store_id, segment_id, customer_id, source, reference, added_at)
                      SELECT %s, %s, id, 'csv', 'hand', now() FROM c
                      ON CONFLICT DO NOTHING RETURNING customer_id)
            INSERT INTO segments_segmenthistory
                (store_id, segment_id, customer_id, action, source, reference, at)
            SELECT %s, %s, customer_id, 'added', 'csv', 'hand', now() FROM ins
            """,
            [store.pk, [e.lower() for e in emails], store.pk, baseline_target.pk]
            + [store.pk, baseline_target.pk],
        )
    )
    print(
        f"CSV import of {rows:,} rows: {seconds:.2f}s = {rows / seconds:,.0f} rows/s"
        f" (added {result.added:,}, unknown {result.unknown:,}, invalid {result.invalid:,})"
        f" vs one hand-written insert of the known emails {baseline:.2f}s"
        f" = {rows / baseline:,.0f} rows/s: ratio {seconds / baseline:.2f}x"
    )


def main(argv: list[str]) -> None:
    options = _options(argv)
    if connection.vendor != "postgresql":
        print("the segments benchmark needs PostgreSQL: set DATABASE_URL")
        return
    call_command("migrate", verbosity=0)
    store = seed(options.store, options.customers, options.reseed)
    # Fresh bulk-loaded rows have no statistics until autovacuum gets to them; plan on real ones.
    for table in ("segments_customer", "segments_orderline", "segments_subscription"):
        _sql(f"ANALYZE {table}")
    parts = set(options.only.split(","))
    fresh_segments(store)  # every part starts from a store without the last run's segments
    # Incremental first: after the bulk writes below, autovacuum and checkpoints of the bench's
    # own rows would be measured instead of the evaluation.
    if "incremental" in parts:
        bench_incremental(store)
        bench_incremental_batch(store)
    if "recompute" in parts:
        bench_recompute(store)
    if "import" in parts:
        bench_import(store)
