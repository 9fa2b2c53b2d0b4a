"""Seed speed: customers (with their subscriptions, orders, lines and upcoming orders) per second.

Seeds ``--customers=N`` (default 20,000) into a throwaway store inside a transaction that is rolled
back, so the database is left as it was. The baseline, measured in the same run, is the cheapest
possible set-based insert of as many orders as were seeded: one ``INSERT ... SELECT`` from
``generate_series`` into a temporary table with no index. The full 1,000,000-customer figure is
``time python manage.py seed_demo --customers 1000000 --store bench`` (about 3 minutes here).
"""

import time

from django.db import connection, transaction

from segments.demo import seed_demo
from segments.models import Customer, Order


class _Rollback(Exception):
    pass


def main(argv: list[str]) -> None:
    n = 20_000
    for arg in argv:
        if arg.startswith("--customers="):
            n = int(arg.split("=", 1)[1])
    if connection.vendor != "postgresql":
        print("bench seed: needs PostgreSQL (set DATABASE_URL); skipped")
        return
    try:
        with transaction.atomic():
            started = time.perf_counter()
            report = seed_demo(customers=n, slug="bench-seed-throwaway")
            seeded = time.perf_counter() - started
            orders = Order.objects.filter(store=report.store).count()
            customers = Customer.objects.filter(store=report.store).count()
            with connection.cursor() as cursor:
                cursor.execute(
                    "CREATE TEMP TABLE bench_baseline (i bigint, t numeric) ON COMMIT DROP"
                )
                started = time.perf_counter()
                cursor.execute(
                    "INSERT INTO bench_baseline SELECT i, i * 0.01 FROM generate_series(1, %s) i",
                    [orders],
                )
                baseline = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    print(f"seeded {customers} customers and {orders} orders in {seeded:.2f}s")
    print(f"  {customers / seeded:,.0f} customers/s, {orders / seeded:,.0f} orders/s")
    print(f"  baseline: {orders} bare rows in {baseline:.2f}s ({orders / baseline:,.0f} rows/s)")
    print(f"  ratio seed/baseline: {seeded / baseline:.1f}x")
    print(f"  projected 1,000,000 customers: {seeded * 1_000_000 / customers:.0f}s")
