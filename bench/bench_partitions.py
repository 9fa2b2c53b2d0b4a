"""Monthly partitions of the membership history and the inbound events: the hot queries' plans,
and their time.

Run: ``make bench BENCH_ARGS="partitions --rows=1000000"`` (default 500,000 rows over 12 months).

Seeds history rows for one segment of a bench store spread over the last 12 months, then prints
the ``EXPLAIN`` of each hot query (which partitions it reads) and its median time, next to the
same query on an unpartitioned copy of the same rows with the same indexes (the baseline). Then
the same for inbound events (``bench_events``): the worker's claim, and the request's insert
(key table and event in one statement) against the single-table insert it replaced.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import time

from django.db import connection

from segments import partitions

TABLE = "segments_segmenthistory"
FLAT = "bench_history_unpartitioned"

QUERIES = {
    # the segment page's recent changes (segments.queries.segment_history(since=30 days ago))
    "segment, last 30 days": "SELECT id, customer_id, action, at FROM {t}"
    " WHERE segment_id = %(seg)s AND at >= now() - interval '30 days' AND at <= now()"
    " ORDER BY at DESC, id DESC LIMIT 50",
    # a customer's changes this month
    "customer, this month": "SELECT id, segment_id, action, at FROM {t} WHERE customer_id = %(cus)s"
    " AND at >= date_trunc('month', now()) AND at <= now() ORDER BY at DESC",
    # the daily sizes of one day (analytics)
    "segment, one day's moves": "SELECT action, count(*) FROM {t} WHERE segment_id = %(seg)s"
    " AND at >= date_trunc('day', now()) - interval '1 day' AND at < date_trunc('day', now())"
    " GROUP BY action",
}


def _options(argv):
    parser = argparse.ArgumentParser(prog="bench partitions")
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=20)
    return parser.parse_args(argv)


def _sql(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def seed(rows: int) -> dict:
    from segments.models import Segment, Store
    from tests.fixtures.factories import make_customer, make_store

    store = Store.objects.filter(slug="bench-partitions").first() or make_store(
        slug="bench-partitions", name="Bench partitions"
    )
    segment = Segment.objects.filter(store=store).first() or Segment.objects.create(
        store=store, name="Bench history"
    )
    for _ in range(max(0, 1000 - store.customers.count())):
        make_customer(store)
    customers = list(store.customers.values_list("pk", flat=True))
    this_month = partitions.month_start(dt.date.today())
    for n in range(-12, 1):
        partitions.create_month(TABLE, "at", partitions.add_months(this_month, n))
    _sql(f"DELETE FROM {TABLE} WHERE store_id = %s", [store.pk])
    _sql(
        f"INSERT INTO {TABLE} (store_id, segment_id, segment_name, customer_id, action, source,"
        " reference, at) SELECT %(store)s, %(seg)s, '', (%(cus)s::bigint[])[1 + i %% %(n)s],"
        " CASE WHEN i %% 2 = 0 THEN 'added' ELSE 'removed' END, 'rule', 'bench',"
        " now() - (random() * interval '365 days') FROM generate_series(1, %(rows)s) i",
        {"store": store.pk, "seg": segment.pk, "cus": customers, "n": len(customers), "rows": rows},
    )
    _sql(f"DROP TABLE IF EXISTS {FLAT}")
    _sql(f"CREATE TABLE {FLAT} AS SELECT * FROM {TABLE} WHERE store_id = %s", [store.pk])
    _sql(f"CREATE INDEX ON {FLAT} (segment_id, at DESC)")
    _sql(f"CREATE INDEX ON {FLAT} (customer_id, at DESC)")
    _sql(f"ANALYZE {TABLE}")
    _sql(f"ANALYZE {FLAT}")
    return {"seg": segment.pk, "cus": customers[0]}


def _median_ms(sql: str, params: dict, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        _sql(sql, params)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str]) -> None:
    options = _options(argv)
    if connection.vendor != "postgresql":
        print("the partitions benchmark needs PostgreSQL")
        return
    started = time.perf_counter()
    params = seed(options.rows)
    months = len([p for p in partitions.existing_partitions(TABLE) if "_p" in p])
    took = time.perf_counter() - started
    print(f"seeded {options.rows:,} history rows over 12 months in {took:.1f}s; {months} months")
    for name, template in QUERIES.items():
        sql = template.format(t=TABLE)
        plan = "\n".join(row[0] for row in _sql(f"EXPLAIN {sql}", params))
        read = sorted(set(re.findall(rf"on ({TABLE}_\w+)", plan)))
        partitioned = _median_ms(sql, params, options.repeat)
        flat = _median_ms(template.format(t=FLAT), params, options.repeat)
        print(f"\n{name}: reads {len(read)} of {months + 1} partitions: {', '.join(read)}")
        print(f"  partitioned {partitioned:.2f} ms, unpartitioned baseline {flat:.2f} ms,"
              f" ratio {partitioned / flat:.2f}")  # fmt: skip
        print("  " + plan.replace("\n", "\n  "))
    _sql(f"DROP TABLE IF EXISTS {FLAT}")
    from .bench_events import run as run_events

    run_events(options.rows, options.repeat)
