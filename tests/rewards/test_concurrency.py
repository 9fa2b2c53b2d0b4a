"""Caps and budgets hold under concurrency: two workers granting at once (threads released by a
barrier, each on its own PostgreSQL connection) cannot both slip under the limit, and one
source grants once however many workers race for it."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from rewards.actions import grant_reward, set_policy
from rewards.models import CreditEntry, RewardGrant
from tests.fixtures.factories import make_customer, make_store

pytestmark = pytest.mark.django_db(transaction=True)


def _race(calls) -> list:
    """Run each call in its own thread and transaction, released together; return results."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(i, call):
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                results[i] = call()
                # hold the transaction a moment so the other worker is surely inside its own
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_sleep(0.2)")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not [r for r in results if isinstance(r, Exception)], results
    return results


def test_two_workers_cannot_both_slip_under_the_reward_cap():
    store = make_store()
    customer = make_customer(store)
    set_policy(store, max_rewards_per_customer=1, max_credit_per_customer=None, period_days=30)

    def give(key):
        return lambda: grant_reward(
            store=store, customer=customer, source_key=key, kind="credit", amount=Decimal("5")
        )

    results = _race([give("step:1"), give("step:2")])
    assert sorted(g.status for g in results) == ["issued", "skipped"]
    assert RewardGrant.objects.filter(status="issued").count() == 1
    assert CreditEntry.objects.count() == 1


def test_two_workers_cannot_both_slip_under_the_experience_budget():
    store = make_store()
    alice, bob = make_customer(store), make_customer(store)

    def give(customer, key):
        return lambda: grant_reward(
            store=store, customer=customer, source_key=key, kind="credit",
            amount=Decimal("6.00"), experience_id=77, budget=Decimal("10.00"),
        )  # fmt: skip

    results = _race([give(alice, "a"), give(bob, "b")])
    assert sorted(g.status for g in results) == ["issued", "skipped"]
    skipped = next(g for g in results if g.status == "skipped")
    assert skipped.reason.startswith("Budget reached")


def test_one_source_raced_by_three_workers_grants_once():
    store = make_store()
    customer = make_customer(store)

    def give():
        return grant_reward(
            store=store, customer=customer, source_key="step:9", kind="credit",
            amount=Decimal("5"), step_id=9,
        )  # fmt: skip

    results = _race([give, give, give])
    assert len({g.pk for g in results}) == 1
    assert RewardGrant.objects.count() == 1
    assert CreditEntry.objects.count() == 1
