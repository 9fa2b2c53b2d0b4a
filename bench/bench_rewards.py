"""The rewards ledger at a million rows: one customer's balance, and the store's liability.

Run: ``make bench BENCH_ARGS=rewards`` (or ``python -m bench rewards``).
Options: ``--grants=N`` (default 1,000,000), ``--customers=N`` (default 100,000), ``--reseed``.

The store's rows are seeded set-based with ``generate_series`` (a credit grant entry per grant,
plus a spend for every fourth lot); a later run reuses them. Figures, each with a baseline
measured in the same run:
- one customer's balance through ``rewards.queries.balance_of`` (queries counted, median time),
  next to the same sum as a hand-written SQL statement;
- the store's outstanding liability (``outstanding_liability``: its checkpoint plus the entries
  after it, with a tail of 10,000 fresh entries) next to the full sum of the store's entries and
  a plain ``SELECT sum(amount)`` over the whole entries table; the target is under 200 ms;
- the API's whole summary (liability plus grants by status and kind) for scale.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

SLUG = "bench-rewards"


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench rewards")
    parser.add_argument("--grants", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--reseed", action="store_true")
    return parser.parse_args(argv)


def _sql(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall() if cursor.description else None


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm the caches once
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def seed(opts):
    from segments.models import Store

    store = Store.objects.filter(slug=SLUG).first()
    if store and not opts.reseed:
        have = _sql("SELECT count(*) FROM rewards_rewardgrant WHERE store_id = %s", [store.pk])
        if have[0][0] >= opts.grants:
            print(f"using {have[0][0]:,} grants of store '{SLUG}'")
            return store
    if store:
        store.delete()
    store = Store.objects.create(name="Rewards bench", slug=SLUG, rewards_enabled=True)
    print(f"seeding {opts.customers:,} customers and {opts.grants:,} grants ...", flush=True)
    started = time.perf_counter()
    _sql(
        """
        INSERT INTO segments_customer (store_id, shopify_id, recharge_id, email, first_name,
            last_name, tags, accepts_marketing, created_at, orders_count,
            subscription_orders_count, total_spent, subscription_aov, active_subscriptions_count,
            streak, updated_at)
        SELECT %s, '', '', 'rw' || i || '@bench.example', 'Cus', 'T' || i, '[]', false, now(),
            0, 0, 0, 0, 0, 0, now()
        FROM generate_series(1, %s) AS i
        """,
        [store.pk, opts.customers],
    )
    first = _sql("SELECT min(id) FROM segments_customer WHERE store_id = %s", [store.pk])[0][0]
    _sql(
        """
        INSERT INTO rewards_rewardgrant (store_id, customer_id, kind, source_key, experience_id,
            amount, currency, item, status, reason, expires_at, created_at, updated_at)
        SELECT %(store)s, %(first)s + (i %% %(customers)s), 'credit', 'bench:' || i,
            1 + i %% 20, (1 + i %% 50)::numeric(14, 2), 'USD', '{}',
            (ARRAY['issued', 'applied', 'redeemed', 'expired'])[1 + i %% 4], '',
            now() + (i %% 90) * interval '1 day', now(), now()
        FROM generate_series(1, %(grants)s) AS i
        """,
        {"store": store.pk, "first": first, "customers": opts.customers, "grants": opts.grants},
    )
    _sql(
        """
        INSERT INTO rewards_creditentry (store_id, customer_id, grant_id, kind, amount, currency,
            key, cause, reason, expires_at, created_at)
        SELECT store_id, customer_id, id, 'grant', amount, currency, 'grant:' || id, source_key,
            '', expires_at, created_at
        FROM rewards_rewardgrant WHERE store_id = %(store)s;
        INSERT INTO rewards_creditentry (store_id, customer_id, grant_id, kind, amount, currency,
            key, cause, reason, created_at)
        SELECT store_id, customer_id, id, 'spend', -1.00, currency, 'spend:bench:' || id,
            'bench', '', created_at
        FROM rewards_rewardgrant WHERE store_id = %(store)s AND id %% 4 = 0;
        """,
        {"store": store.pk},
    )
    _sql("VACUUM ANALYZE rewards_rewardgrant")
    _sql("VACUUM ANALYZE rewards_creditentry")
    print(f"seeded in {time.perf_counter() - started:.1f}s", flush=True)
    return store


def main(argv: list[str]) -> None:
    from django.utils import timezone

    from rewards.actions import advance_checkpoints
    from rewards.models import LiabilityCheckpoint
    from rewards.queries import balance_of, full_liability, grant_summary, outstanding_liability
    from segments.models import Customer

    opts = _options(argv)
    call_command("migrate", verbosity=0)
    connection.ensure_connection()
    if connection.vendor != "postgresql":
        print("the rewards bench needs PostgreSQL (set DATABASE_URL)")
        return
    store = seed(opts)
    entries = _sql("SELECT count(*) FROM rewards_creditentry WHERE store_id = %s", [store.pk])
    print(f"store '{SLUG}': {entries[0][0]:,} credit entries")

    customer = Customer.objects.filter(store=store).order_by("pk")[opts.customers // 2 + 7]
    with CaptureQueriesContext(connection) as queries:
        balance = balance_of(customer)
    ours = _median_ms(lambda: balance_of(customer), 200)
    hand = _median_ms(
        lambda: _sql(
            "SELECT coalesce(sum(amount), 0) FROM rewards_creditentry WHERE customer_id = %s",
            [customer.pk],
        ),
        200,
    )
    print(
        f"balance of one customer: {balance} in {len(queries.captured_queries)} query, "
        f"median {ours:.2f} ms (hand-written SQL {hand:.2f} ms, ratio {ours / hand:.2f})"
    )

    # The checkpoint over the seeded entries (old ones, in a live store), then a tail of fresh
    # entries after it, as the sweep leaves things between two runs.
    LiabilityCheckpoint.objects.filter(store=store).delete()
    took, _ = _timed(lambda: advance_checkpoints(cutoff=timezone.now() + dt.timedelta(hours=2)))
    print(f"liability checkpoint taken from scratch in {took * 1000:.0f} ms (by the sweep)")
    _sql(
        """
        INSERT INTO rewards_creditentry (store_id, customer_id, grant_id, kind, amount, currency,
            key, cause, reason, created_at)
        SELECT store_id, customer_id, id, 'spend', -0.50, currency,
            'spend:tail:' || id || ':' || extract(epoch FROM now()), 'bench', '', now()
        FROM rewards_rewardgrant WHERE store_id = %s AND id %% 4 = 1 LIMIT 10000
        """,
        [store.pk],
    )
    _sql("ANALYZE rewards_creditentry")
    with CaptureQueriesContext(connection) as queries:
        liability = outstanding_liability(store)
    assert liability == full_liability(store), "checkpoint + tail must equal the full sum"
    ours = _median_ms(lambda: outstanding_liability(store), 15)
    full = _median_ms(lambda: full_liability(store), 7)
    plain = _median_ms(lambda: _sql("SELECT sum(amount) FROM rewards_creditentry"), 7)
    verdict = "OK" if ours < 200 else "OVER the 200 ms target"
    print(
        f"outstanding liability: {liability} USD in {len(queries.captured_queries)} query, "
        f"median {ours:.1f} ms ({verdict}; checkpoint + a tail of 10,000 entries)"
    )
    print(
        f"  baselines: the full sum of the store's entries {full:.1f} ms, a plain "
        f"SELECT sum(amount) over the table {plain:.1f} ms (ratio ours/plain {ours / plain:.3f})"
    )
    summary = _median_ms(lambda: grant_summary(store), 5)
    print(f"whole API summary (liability + grants by status and kind): median {summary:.1f} ms")
