"""Analytics: the two endpoints read from summaries, and the refresh, on a large store.

Run: ``make bench BENCH_ARGS="analytics"`` (PostgreSQL from ``DATABASE_URL``). Options:
``--customers=N`` (default 100000; the issue's target is 1,000,000 with about 5,000,000 orders,
which ``seed_demo`` takes minutes to write here), ``--requests=R`` (default 30).

The store ``bench-analytics`` is seeded once with ``seed_demo`` (customers, subscriptions, about
five orders each), then given a segment holding a tenth of the customers who joined over the
last 180 days (membership and history rows) and 20% of the customers as runs of a live
experience, half of them held out. Measured in one run:

- a full refresh of the store's summaries (every segment and version), against the baseline of
  one plain pass over the store's orders (``count`` and ``sum``);
- an incremental refresh after today's events (orders today for 1/30 of the customers, 1/300
  joining the segment), and one with nothing new;
- the daily roll (the next day every window moves, so the time-windowed figures are computed
  again, like a full refresh);
- ``GET segments/<id>/analytics/`` and ``GET experiences/<id>/analytics/`` (median and p95 over
  R requests, with the Django test client and a token), against ``GET segments/<id>/`` (a plain
  read of one row through the same API stack) and ``/healthz``.
"""

from __future__ import annotations

import argparse
import statistics
import time

SLUG = "bench-analytics"


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench analytics")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    return parser.parse_args(argv)


def _sql(statement: str, params=None):
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(statement, params or [])
        return cur.fetchall() if cur.description else None


def _prepare(customers: int):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from experiences.models import Experience
    from segments.models import Role, Segment, Store, StoreMembership

    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    call_command("seed_demo", customers=customers, store=SLUG, verbosity=0)
    store = Store.objects.get(slug=SLUG)
    seeded = time.perf_counter() - t0
    segment, _ = Segment.objects.get_or_create(store=store, name="Bench milestone")
    # A tenth of the customers joined over the last 180 days, each with its history row (only
    # those not yet in: the store may have grown since the last run).
    _sql(
        """WITH joined AS (
               INSERT INTO segments_segmentmembership
                   (store_id, segment_id, customer_id, source, reference, added_at)
               SELECT %s, %s, c.id, 'manual', 'bench',
                      now() - (c.id %% 180) * interval '1 day' - (c.id %% 24) * interval '1 hour'
               FROM segments_customer c WHERE c.store_id = %s AND c.id %% 10 = 0
               ON CONFLICT DO NOTHING
               RETURNING store_id, segment_id, customer_id, added_at)
           INSERT INTO segments_segmenthistory
               (store_id, segment_id, segment_name, customer_id, action, source, reference, at)
           SELECT store_id, segment_id, '', customer_id, 'added', 'manual', 'bench', added_at
           FROM joined""",
        [store.pk, segment.pk, store.pk],
    )
    Segment.objects.filter(pk=segment.pk).update(member_count=segment.memberships.count())
    experience = (
        Experience.objects.filter(store=store, live_version__isnull=False).order_by("pk").first()
    )
    if experience is None:
        raise SystemExit("seed_demo made no live experience (is Rewards on for the store?)")
    Experience.objects.filter(pk=experience.pk).update(holdout_percent=50)
    # A fifth of the customers entered it over the last 200 days; half of them were held out.
    _sql(
        """INSERT INTO experiences_run
               (store_id, experience_id, version_id, customer_id, trigger_event_key,
                trigger_event_name, trigger_event, chain_origin, depth, status, rotation,
                exit_reason, started_at, updated_at, month)
           SELECT %s, %s, %s, c.id, 'bench:' || c.id, 'order_processed', '{}'::jsonb,
                  'bench:' || c.id, 0,
                  CASE WHEN c.id %% 2 = 0 THEN 'held_out' ELSE 'completed' END, 1, '',
                  now() - (c.id %% 200) * interval '1 day', now(),
                  date_trunc('month', now() - (c.id %% 200) * interval '1 day')::date
           FROM segments_customer c WHERE c.store_id = %s AND c.id %% 5 = 0
           ON CONFLICT DO NOTHING""",
        [store.pk, experience.pk, experience.live_version_id, store.pk],
    )
    user, _ = get_user_model().objects.get_or_create(username=f"{SLUG}-viewer")
    StoreMembership.objects.get_or_create(store=store, user=user, defaults={"role": Role.VIEWER})
    token, _ = Token.objects.get_or_create(user=user)
    _sql("ANALYZE")
    return store, segment, experience, token.key, seeded


def _new_day(store, segment) -> tuple[int, int]:
    """A day of new events so far: orders today for 1/30 of the customers, 1/300 join."""
    stamp = int(time.time())
    _sql(
        """INSERT INTO segments_order (store_id, customer_id, external_id, recharge_id, name,
               total, currency, source, type, is_subscription, is_first_subscription_order,
               discount_codes, financial_status, processed_at)
           SELECT store_id, id, 'bench-day-' || %s || '-' || id, '', '', 25.00, 'USD',
                  'shopify_checkout', 'recurring', true, false, '[]'::jsonb, 'paid',
                  greatest(date_trunc('day', now()), now() - random() * interval '1 day')
           FROM segments_customer WHERE store_id = %s AND random() < 1.0 / 30""",
        [stamp, store.pk],
    )
    joined = _sql(
        """WITH joined AS (
               INSERT INTO segments_segmentmembership
                   (store_id, segment_id, customer_id, source, reference, added_at)
               SELECT %s, %s, c.id, 'manual', 'bench-day', now()
               FROM segments_customer c WHERE c.store_id = %s AND random() < 1.0 / 300
               ON CONFLICT DO NOTHING
               RETURNING store_id, segment_id, customer_id, added_at),
           written AS (
               INSERT INTO segments_segmenthistory
                   (store_id, segment_id, segment_name, customer_id, action, source, reference, at)
               SELECT store_id, segment_id, '', customer_id, 'added', 'manual', 'bench-day',
                      added_at FROM joined RETURNING 1)
           SELECT count(*) FROM written""",
        [store.pk, segment.pk, store.pk],
    )[0][0]
    rows = _sql(
        "SELECT count(*) FROM segments_order WHERE store_id = %s AND external_id LIKE %s",
        [store.pk, f"bench-day-{stamp}-%"],
    )
    return rows[0][0], joined


def _time_refresh(store) -> float:
    from segments.analytics.refresh import run_refresh

    started = time.perf_counter()
    assert run_refresh(store.pk) == "done"
    return time.perf_counter() - started


def _measure(client, url: str, requests: int, headers: dict) -> tuple[float, float]:
    for _ in range(3):
        assert client.get(url, **headers).status_code == 200, url
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(url, **headers)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (url, answer.status_code)
    times.sort()
    return statistics.median(times), times[max(int(len(times) * 0.95) - 1, 0)]


def main(argv: list[str]) -> None:
    import datetime as dt

    from django.test import Client
    from django.utils import timezone

    from segments.models import AnalyticsRefresh

    opts = _options(argv)
    store, segment, experience, token, seeded = _prepare(opts.customers)
    counts = _sql(
        """SELECT (SELECT count(*) FROM segments_customer WHERE store_id = %s),
                  (SELECT count(*) FROM segments_order WHERE store_id = %s),
                  (SELECT count(*) FROM segments_segment WHERE store_id = %s),
                  (SELECT count(*) FROM experiences_run WHERE store_id = %s)""",
        [store.pk] * 4,
    )[0]
    print(
        f"store {SLUG}: {counts[0]:,} customers, {counts[1]:,} orders, {counts[2]} segments, "
        f"{counts[3]:,} runs (seeded or found in {seeded:.1f}s)"
    )

    started = time.perf_counter()
    _sql(
        "SELECT count(*), sum(total) FROM segments_order WHERE store_id = %s AND "
        "cancelled_at IS NULL",
        [store.pk],
    )
    scan = time.perf_counter() - started
    AnalyticsRefresh.objects.filter(store=store).update(full=True, state="done")
    full = _time_refresh(store)
    idle = _time_refresh(store)
    new_orders, joins = _new_day(store, segment)
    day = _time_refresh(store)
    # The next day: every window moves, so the time-windowed figures are all computed again.
    AnalyticsRefresh.objects.filter(store=store).update(
        computed_at=timezone.now() - dt.timedelta(days=1)
    )
    roll = _time_refresh(store)
    print(f"{'refresh':<56}{'seconds':>9}{'x baseline':>12}")
    print(f"{'one pass over the orders (baseline)':<56}{scan:>9.2f}{1:>12.1f}")
    print(f"{'full refresh':<56}{full:>9.2f}{full / scan:>12.1f}")
    print(f"{'incremental, nothing new':<56}{idle:>9.2f}{idle / scan:>12.1f}")
    label = f"incremental, today's events ({new_orders:,} orders, {joins:,} joins)"
    print(f"{label:<56}{day:>9.2f}{day / scan:>12.1f}")
    print(f"{'the daily roll (windows move: all recomputed)':<56}{roll:>9.2f}{roll / scan:>12.1f}")
    print(f"  {'OK' if full < 60 else 'SLOW'}: full refresh, aim < 60 s")
    print(f"  {'OK' if day < 5 else 'SLOW'}: incremental after the day's events, aim < 5 s")
    print(f"  {'OK' if roll < 60 else 'SLOW'}: the daily roll, aim < 60 s (a full refresh)")

    client, headers = Client(), {"HTTP_AUTHORIZATION": f"Token {token}"}
    api = f"/api/v1/stores/{SLUG}"
    rows = [
        ("/healthz (baseline)", "/healthz"),
        ("segments/<id>/ (plain read)", f"{api}/segments/{segment.pk}/"),
        ("segments/<id>/analytics/?window=90", f"{api}/segments/{segment.pk}/analytics/?window=90"),
        ("experiences/<id>/analytics/", f"{api}/experiences/{experience.pk}/analytics/"),
    ]
    print(f"{'endpoint':<40}{'median ms':>11}{'p95 ms':>9}{'x plain read':>14}")
    plain = None
    for label, url in rows:
        ms, p95 = _measure(client, url, opts.requests, headers)
        plain = ms if "plain" in label else plain
        ratio = f"{ms / plain:>14.1f}" if plain else f"{'-':>14}"
        print(f"{label:<40}{ms:>11.1f}{p95:>9.1f}{ratio}")
        if "analytics" in label:
            print(f"  {'OK' if p95 < 300 else 'SLOW'}: aim < 300 ms")
