"""The merchant app's list pages with many rows: experiences, segments, incentives and grants at
500 each (the grants all of one customer, whose page is measured too).

Run: ``make bench BENCH_ARGS="app_pages"`` (PostgreSQL from ``DATABASE_URL``). Options:
``--rows=N`` (default 500), ``--requests=R`` (default 50 per page).

In one process with Django's test client (no network), signed in as the store's owner: the time
per request and the number of queries of each page (``/app/experiences/``, ``/app/segments/``,
the Rewards overview, incentives and grant ledger, and the customer's page) with N rows
and with 5 rows (the query count must not grow), against ``/healthz`` (a trivial JSON view that
goes through the same middleware) and a trivial signed-in page of the app (``/app/`` redirect)
measured in the same run (without the test framework's template instrumentation, as in
production). The store ``bench-app`` is created once and reused.
"""

from __future__ import annotations

import argparse
import statistics
import time


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench app_pages")
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--requests", type=int, default=50)
    return parser.parse_args(argv)


def _ensure_database() -> None:
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("bench app_pages needs PostgreSQL (set DATABASE_URL).")
    call_command("migrate", verbosity=0)


def _store(slug: str, rows: int):
    """Return a store with ``rows`` experiences (a fifth with runs) and ``rows`` segments."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from experiences.actions import create_experience
    from experiences.models import Experience, Run, month_of
    from segments.models import Customer, Role, Segment, Store, StoreMembership

    store, _ = Store.objects.get_or_create(
        slug=slug, defaults={"name": f"Bench {slug}", "experiences_enabled": True}
    )
    user, _ = get_user_model().objects.get_or_create(username=f"{slug}-owner")
    StoreMembership.objects.get_or_create(store=store, user=user, defaults={"role": Role.OWNER})
    have = Experience.objects.filter(store=store).count()
    if have < rows:
        with transaction.atomic():
            customer, _ = Customer.objects.get_or_create(store=store, email=f"runner@{slug}.test")
            for i in range(have, rows):
                experience = create_experience(
                    store, name=f"Experience {i:04d}", kind="reward_strategy"
                )
                if i % 5 == 0:
                    version = experience.versions.get()
                    Run.objects.bulk_create(
                        Run(store=store, experience=experience, version=version,
                            customer=customer, trigger_event_key=f"bench:{i}:{n}",
                            trigger_event_name="order_processed", chain_origin=f"bench:{i}:{n}",
                            rotation=n + 1, status="completed", month=month_of(None))
                        for n in range(20)
                    )  # fmt: skip
            Segment.objects.bulk_create(
                Segment(store=store, name=f"Segment {i:04d}", member_count=i)
                for i in range(Segment.objects.filter(store=store).count(), rows)
            )
    return store, user


def _rewards(store, rows: int) -> int:
    """Give the store ``rows`` incentives and ``rows`` credit grants (with their entries) to one
    customer, written directly (setup only); return that customer's id."""
    from decimal import Decimal

    from rewards.models import CreditEntry, Incentive, RewardGrant
    from segments.models import Customer

    if not store.rewards_enabled:
        store.rewards_enabled = True
        store.save(update_fields=["rewards_enabled"])
    customer = Customer.objects.get(store=store, email=f"runner@{store.slug}.test")
    Incentive.objects.bulk_create(
        Incentive(store=store, name=f"Gift {i:04d}", kind="free_gift",
                  params={"product_id": str(i), "title": f"Gift {i}", "quantity": 1})
        for i in range(Incentive.objects.filter(store=store).count(), rows)
    )  # fmt: skip
    have = RewardGrant.objects.filter(store=store).count()
    grants = RewardGrant.objects.bulk_create(
        RewardGrant(store=store, customer=customer, kind="credit", source_key=f"bench:{i}",
                    amount=Decimal("1.00"), currency=store.currency)
        for i in range(have, rows)
    )  # fmt: skip
    CreditEntry.objects.bulk_create(
        CreditEntry(store=store, customer=customer, grant=g, kind="grant", amount=g.amount,
                    currency=store.currency, key=f"grant:{g.pk}")
        for g in grants
    )  # fmt: skip
    return customer.pk


def _measure(client, url: str, requests: int) -> tuple[float, float, int]:
    """Return (median ms, p95 ms, queries) of GET url."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm up
        assert client.get(url).status_code in (200, 302), url
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code in (200, 302), (url, answer.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], len(queries)


def main(argv: list[str]) -> None:
    from django.test import Client

    opts = _options(argv)
    _ensure_database()
    t0 = time.perf_counter()
    big_store, big_user = _store("bench-app", opts.rows)
    small_store, small_user = _store("bench-app-small", 5)
    big_customer = _rewards(big_store, opts.rows)
    small_customer = _rewards(small_store, 5)
    print(f"setup: {opts.rows} experiences and segments in {time.perf_counter() - t0:.1f}s")

    big, small = Client(), Client()
    big.force_login(big_user)
    small.force_login(small_user)
    base_ms, base_p95, base_q = _measure(big, "/healthz", opts.requests)
    app_ms, app_p95, app_q = _measure(big, "/app/", opts.requests)
    print(f"{'page':<22}{'rows':>6}{'median ms':>11}{'p95 ms':>9}{'queries':>9}{'x healthz':>11}")
    print(
        f"{'/healthz (baseline)':<22}{'-':>6}{base_ms:>11.1f}{base_p95:>9.1f}{base_q:>9}{1:>11.1f}"
    )
    print(f"{'/app/ (signed in)':<22}{'-':>6}{app_ms:>11.1f}{app_p95:>9.1f}{app_q:>9}"
          f"{app_ms / base_ms:>11.1f}")  # fmt: skip
    pages = (
        "/app/experiences/", "/app/segments/", "/app/rewards/", "/app/rewards/incentives/",
        "/app/rewards/grants/", "customer",
    )  # fmt: skip
    for page in pages:
        for label, client, rows in (("big", big, opts.rows), ("small", small, 5)):
            url = page
            if page == "customer":
                url = f"/app/customers/{big_customer if label == 'big' else small_customer}/"
            ms, p95, queries = _measure(client, url, opts.requests)
            print(f"{url:<22}{rows:>6}{ms:>11.1f}{p95:>9.1f}{queries:>9}{ms / base_ms:>11.1f}")
            if label == "big":
                verdict = "OK" if ms < 150 else "SLOW"
                print(f"  {verdict}: aim < 150 ms with {rows} rows")
