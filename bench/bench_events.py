"""Monthly partitions of the inbound events, for ``bench partitions``: the worker's claim and the
request's insert, against an unpartitioned copy with the old unique key (the baseline).

The claim reads the months of its window (``INGEST_CLAIM_WINDOW_DAYS``); the insert writes the
delivery key (``segments_inbounddelivery``) and the event in one statement, where the baseline
wrote one row into a table carrying the unique key itself.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
import time
import uuid

from django.db import connection
from django.utils import timezone

from segments import partitions
from segments.ingest import actions

TABLE = "segments_inboundevent"
FLAT = "bench_inbound_unpartitioned"
FLAT_INSERT = f"""
INSERT INTO {FLAT} (
    store_id, source, topic, dedupe_key, customer_key, occurred_at, received_at, payload,
    status, attempts, last_error
) VALUES (%(store)s, %(source)s, %(topic)s, %(key)s, %(customer)s, %(occurred)s, %(now)s,
    %(payload)s::jsonb, %(status)s, 0, '')
ON CONFLICT (store_id, source, dedupe_key) DO NOTHING
RETURNING id
"""


def _sql(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def _median_ms(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def seed(rows: int):
    from segments.models import Store
    from tests.fixtures.factories import make_store

    store = Store.objects.filter(slug="bench-events").first() or make_store(
        slug="bench-events", name="Bench events"
    )
    this_month = partitions.month_start(dt.date.today())
    for n in range(-12, 1):
        partitions.create_month(TABLE, "received_at", partitions.add_months(this_month, n))
    _sql(f"DELETE FROM {TABLE} WHERE store_id = %s", [store.pk])
    _sql("DELETE FROM segments_inbounddelivery WHERE store_id = %s", [store.pk])
    # a year of applied events, and the last hour's still pending (1 in 500)
    _sql(
        f"INSERT INTO {TABLE} (store_id, source, topic, dedupe_key, customer_key, received_at,"
        " payload, status, attempts, last_error) SELECT %(store)s, 'shopify', 'orders/create',"
        " 'bench-' || i, 'c' || (i %% 1000), CASE WHEN i %% 500 = 0"
        " THEN now() - random() * interval '1 hour' ELSE now() - random() * interval '365 days'"
        " END, '{}'::jsonb, CASE WHEN i %% 500 = 0 THEN 'received' ELSE 'processed' END, 0, ''"
        " FROM generate_series(1, %(rows)s) i",
        {"store": store.pk, "rows": rows},
    )
    _sql(
        "INSERT INTO segments_inbounddelivery (store_id, source, dedupe_key, event_id, received_at)"
        f" SELECT store_id, source, dedupe_key, id, received_at FROM {TABLE} WHERE store_id = %s",
        [store.pk],
    )
    _sql(f"DROP TABLE IF EXISTS {FLAT}")
    _sql(f"CREATE TABLE {FLAT} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING INDEXES)")
    # ids from the events' own sequence (the copied default)
    _sql(f"INSERT INTO {FLAT} SELECT * FROM {TABLE} WHERE store_id = %s", [store.pk])
    _sql(f"ALTER TABLE {FLAT} ADD UNIQUE (store_id, source, dedupe_key)")
    for table in (TABLE, FLAT, "segments_inbounddelivery"):
        _sql(f"ANALYZE {table}")
    return store


def _insert_params(store, key: str) -> dict:
    return {
        "store": store.pk, "source": "shopify", "key": key, "topic": "orders/create",
        "customer": "c1", "occurred": None, "now": timezone.now(),
        "payload": json.dumps({"id": 1, "note": "x" * 2000}), "status": "processed",
    }  # fmt: skip


def run(rows: int, repeat: int) -> None:
    started = time.perf_counter()
    store = seed(rows)
    months = len([p for p in partitions.existing_partitions(TABLE) if "_p" in p])
    took = time.perf_counter() - started
    print(f"\nseeded {rows:,} inbound events over 12 months in {took:.1f}s; {months} months")

    now = timezone.now()
    since, until = actions.claim_bounds(now, actions._claim_window())
    claim = actions._CLAIM.format(lock="")
    params = {"now": now, "since": since, "until": until, "limit": 100}
    flat_claim = claim.replace(TABLE, FLAT).replace(
        "AND received_at >= %(since)s AND received_at <= %(until)s", ""
    )
    plan = "\n".join(row[0] for row in _sql(f"EXPLAIN {claim}", params))
    read = sorted(set(re.findall(rf"on ({TABLE}_\w+)", plan)))
    partitioned = _median_ms(lambda: _sql(claim, params), repeat)
    flat = _median_ms(lambda: _sql(flat_claim, params), repeat)
    print(f"\nthe worker's claim: reads {len(read)} of {months + 1} partitions: {', '.join(read)}")
    print(f"  partitioned {partitioned:.2f} ms, unpartitioned baseline {flat:.2f} ms,"
          f" ratio {partitioned / flat:.2f}")  # fmt: skip
    print("  " + plan.replace("\n", "\n  "))

    # the two inserts alternate, so that the machine's moments weigh on both alike
    insert = actions._INSERT.format(payload="%(payload)s::jsonb")
    n = max(repeat, 200)
    times: dict[tuple[str, str], list[float]] = {}
    for i in range(n):
        for name, sql in (("partitioned", insert), ("baseline", FLAT_INSERT)):
            for kind, key in (("new", str(uuid.uuid4())), ("duplicate", f"bench-{i % 100 + 1}")):
                started = time.perf_counter()
                _sql(sql, _insert_params(store, key))
                elapsed = (time.perf_counter() - started) * 1000
                times.setdefault((name, kind), []).append(elapsed)
    ms = {key: statistics.median(values) for key, values in times.items()}
    for kind in ("new", "duplicate"):
        new, old = ms["partitioned", kind], ms["baseline", kind]
        print(
            f"\nthe request's insert, a {kind} key (medians of {n}): key table + partitioned"
            f" events {new:.2f} ms, one unpartitioned table {old:.2f} ms,"
            f" ratio {new / old:.2f}"
        )
    _sql(f"DROP TABLE IF EXISTS {FLAT}")
