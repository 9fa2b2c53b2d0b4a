"""Monthly partitions of runs and steps: the engine's hot reads, which months they touch, and
their time against an unpartitioned copy.

Run: ``make bench BENCH_ARGS="run_partitions --rows=1000000"`` (default 300,000 runs over 12
months, one step each, 1% of them waiting).

Seeds the runs of one experience of a bench store, their events spread over the last 12 months,
then prints each hot read's ``EXPLAIN`` (the partitions it reads) and its median time, next to the
same read on unpartitioned copies of the same rows with the same indexes (the baseline).
"""

from __future__ import annotations

import argparse
import re
import time

from django.db import connection
from django.utils import timezone

from bench.bench_partitions import _median_ms, _sql
from segments import partitions

RUNS, STEPS = "experiences_run", "experiences_runstep"
FLAT_RUNS, FLAT_STEPS = "bench_run_unpartitioned", "bench_runstep_unpartitioned"

QUERIES = {
    # the batch's redelivery check: the runs a batch of events already started (batch._start)
    "redelivery check, 50 events": "SELECT experience_id, trigger_event_key FROM {runs}"
    " WHERE trigger_event_key = ANY(%(keys)s) AND experience_id = ANY(%(exp)s)"
    " AND month = ANY(%(months)s::date[])",
    # a walk reads its run's steps (walker._walk)
    "a walk's steps": "SELECT id, node_id, status FROM {steps}"
    " WHERE run_id = %(run)s AND rotation = 1 AND month = %(month)s",
    # the customers of a batch with runs in flight, reading every month (before RunInFlight)
    "runs in flight, 50 customers, every month": "SELECT id FROM {runs}"
    " WHERE customer_id = ANY(%(customers)s) AND status IN ('running', 'waiting')",
    # what the engine does (engine.Prefetched): the in-flight table names the customers' months
    # (one small unpartitioned index; in the same statement as the customers), then the runs are
    # read from those months only
    "in-flight table, 50 customers": "SELECT customer_id, month FROM experiences_runinflight"
    " WHERE customer_id = ANY(%(customers)s)",
    "runs in flight, 50 customers, the months named": "SELECT id FROM {runs}"
    " WHERE customer_id = ANY(%(customers)s) AND status IN ('running', 'waiting')"
    " AND month = ANY(%(flight_months)s::date[])",
    # the waits due (walker.resume_due_waits)
    "waits due": "SELECT id FROM {steps} WHERE status = 'waiting' AND due_at <= now()"
    " ORDER BY due_at, id LIMIT 500",
    # a run by id alone (a walk's lock, a sweep)
    "a run by id": "SELECT id, status FROM {runs} WHERE id = %(run)s",
}


def _options(argv):
    parser = argparse.ArgumentParser(prog="bench run_partitions")
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=20)
    return parser.parse_args(argv)


def seed(rows: int) -> dict:
    from experiences.models import Experience, ExperienceVersion, Node
    from segments.models import Store
    from tests.fixtures.factories import make_customer, make_store

    store = Store.objects.filter(slug="bench-run-partitions").first() or make_store(
        slug="bench-run-partitions", name="Bench run partitions"
    )
    experience = Experience.objects.filter(store=store).first()
    if experience is None:
        experience = Experience.objects.create(store=store, name="Bench", kind="reward_strategy")
        version = ExperienceVersion.objects.create(store=store, experience=experience, number=1)
        Node.objects.create(version=version, key="trigger", type="trigger", config={})
    version = experience.versions.get()
    node = version.nodes.get()
    for _ in range(max(0, 1000 - store.customers.count())):
        make_customer(store)
    customers = list(store.customers.values_list("pk", flat=True))
    this_month = partitions.month_start(timezone.now().date())
    for n in range(-12, 1):
        for table in (RUNS, STEPS):
            partitions.create_month(table, "month", partitions.add_months(this_month, n))
    _sql("DELETE FROM experiences_emaildelivery WHERE store_id = %s", [store.pk])
    _sql(f"DELETE FROM {STEPS} WHERE run_id IN (SELECT id FROM {RUNS} WHERE store_id = %s)",
         [store.pk])  # fmt: skip
    _sql(f"DELETE FROM {RUNS} WHERE store_id = %s", [store.pk])
    _sql(
        f"INSERT INTO {RUNS} (store_id, experience_id, version_id, customer_id, trigger_event_key,"
        " trigger_event_name, trigger_event, chain_origin, depth, status, rotation, exit_reason,"
        " started_at, updated_at, month)"
        " SELECT %(store)s, %(exp)s, %(version)s, (%(cus)s::bigint[])[1 + i %% %(n)s],"
        " 'bench:' || i, 'order_processed', '{}'::jsonb, 'bench:' || i, 0,"
        " CASE WHEN i %% 100 = 0 THEN 'waiting' ELSE 'completed' END, 1, '', t, t,"
        " date_trunc('month', t)::date"
        " FROM (SELECT i, now() - (i %% 365) * interval '1 day' AS t"
        " FROM generate_series(1, %(rows)s) i) g",
        {"store": store.pk, "exp": experience.pk, "version": version.pk, "cus": customers,
         "n": len(customers), "rows": rows},
    )  # fmt: skip
    _sql(
        f"INSERT INTO {STEPS} (run_id, node_id, rotation, status, attempt, scheduled_at, due_at,"
        " wait_for, branch, result, error, month)"
        " SELECT r.id, %(node)s, 1, CASE WHEN r.status = 'waiting' THEN 'waiting' ELSE 'done' END,"
        " 1, r.started_at,"
        " CASE WHEN r.status = 'waiting' THEN r.started_at + interval '200 days' END,"
        " '', '', '{}'::jsonb, '', r.month FROM {runs} r WHERE r.store_id = %(store)s".replace(
            "{runs}", RUNS
        ),
        {"node": node.pk, "store": store.pk},
    )
    for flat, table, where in (
        (FLAT_RUNS, RUNS, "store_id = %s"),
        (FLAT_STEPS, STEPS, f"run_id IN (SELECT id FROM {RUNS} WHERE store_id = %s)"),
    ):
        _sql(f"DROP TABLE IF EXISTS {flat}")
        _sql(f"CREATE TABLE {flat} (LIKE {table} INCLUDING INDEXES)")
        _sql(f"INSERT INTO {flat} SELECT * FROM {table} WHERE {where}", [store.pk])
    for table in (RUNS, STEPS, FLAT_RUNS, FLAT_STEPS):
        _sql(f"ANALYZE {table}")
    recent = _sql(
        f"SELECT id, trigger_event_key, month FROM {RUNS} WHERE store_id = %s"
        " ORDER BY started_at DESC, id DESC LIMIT 50",
        [store.pk],
    )
    return {
        "keys": [key for _, key, _ in recent],
        "months": sorted({month for _, _, month in recent}),
        "exp": [experience.pk],
        "run": recent[0][0],
        "month": recent[0][2],
        "customers": customers[:50],
        "flight_months": sorted(
            {
                month
                for (month,) in _sql(
                    "SELECT DISTINCT month FROM experiences_runinflight"
                    " WHERE customer_id = ANY(%s)",
                    [customers[:50]],
                )
            }
        ),
    }


def main(argv: list[str]) -> None:
    options = _options(argv)
    if connection.vendor != "postgresql":
        print("the run partitions benchmark needs PostgreSQL")
        return
    started = time.perf_counter()
    params = seed(options.rows)
    months = len([p for p in partitions.existing_partitions(RUNS) if "_p" in p])
    took = time.perf_counter() - started
    print(f"seeded {options.rows:,} runs (one step each) over 12 months in {took:.1f}s;"
          f" {months} months")  # fmt: skip
    for name, template in QUERIES.items():
        sql = template.format(runs=RUNS, steps=STEPS)
        plan = "\n".join(row[0] for row in _sql(f"EXPLAIN {sql}", params))
        read = sorted(set(re.findall(rf"on ((?:{RUNS}|{STEPS})_(?:p\d+|default))\b", plan)))
        partitioned = _median_ms(sql, params, options.repeat)
        flat = _median_ms(template.format(runs=FLAT_RUNS, steps=FLAT_STEPS), params,
                          options.repeat)  # fmt: skip
        print(f"\n{name}: reads {len(read)} of {months + 1} partitions: {', '.join(read)}")
        print(f"  partitioned {partitioned:.2f} ms, unpartitioned baseline {flat:.2f} ms,"
              f" ratio {partitioned / flat:.2f}")  # fmt: skip
        print("  " + plan.replace("\n", "\n  "))
    for flat in (FLAT_RUNS, FLAT_STEPS):
        _sql(f"DROP TABLE IF EXISTS {flat}")
