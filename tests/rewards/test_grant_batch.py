"""``grant_rewards``: many grants at once keep the guarantees of ``grant_reward`` one by one (caps
and budgets counted in request order, once per source and per step, each order's lines), in a
number of statements that does not grow with the batch, and under concurrency."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rewards.actions import GrantRequest, RewardError, grant_reward, grant_rewards, set_policy
from rewards.models import CreditEntry, CrossSellOffer, RewardGrant
from tests.fixtures.factories import make_customer, make_store, make_upcoming_order
from tests.rewards.test_concurrency import _race


def _credit(store, customer, key, amount="5.00", **kwargs) -> GrantRequest:
    return GrantRequest(
        store=store, customer=customer, source_key=key, kind="credit", amount=Decimal(amount),
        **kwargs,
    )  # fmt: skip


def test_two_grants_of_one_batch_to_one_customer_both_count_against_the_caps(store, customer):
    set_policy(
        store, max_rewards_per_customer=3, max_credit_per_customer=Decimal("12.00"), period_days=30
    )
    grant_reward(store=store, customer=customer, source_key="before", kind="credit", amount=4)
    amounts = {"a": "5.00", "b": "5.00", "c": "1.00", "d": "1.00"}
    first, second, third, fourth = grant_rewards(
        [_credit(store, customer, key, amount) for key, amount in amounts.items()]
    )
    assert first.status == RewardGrant.Status.ISSUED
    # 4.00 + 5.00 given: another 5.00 breaks the 12.00 credit cap
    assert second.status == RewardGrant.Status.SKIPPED
    assert second.reason.startswith("Cap reached: at most 12.00")
    assert third.status == RewardGrant.Status.ISSUED  # 10.00 of 12.00
    # three rewards given ("before", "a" and "c"): the count cap
    assert fourth.reason == "Cap reached: at most 3 rewards per customer in 30 days (3 given)."
    assert CreditEntry.objects.filter(customer=customer).count() == 3
    assert RewardGrant.objects.filter(customer=customer).count() == 5


def test_the_budget_counts_the_batch_in_request_order(store):
    alice, bob, carol = (make_customer(store) for _ in range(3))
    budget = {"experience_id": 9, "budget": Decimal("10.00")}
    results = grant_rewards(
        [
            _credit(store, alice, "a", "6.00", **budget),
            _credit(store, bob, "b", "6.00", **budget),
            _credit(store, carol, "c", "4.00", **budget),
        ]
    )
    assert [g.status for g in results] == ["issued", "skipped", "issued"]
    assert results[1].reason == "Budget reached: 6.00 of 10.00 USD given, this grant is 6.00."


def test_one_source_or_step_grants_once_and_a_refusal_stays_its_own(store, customer):
    other = make_customer(make_store())
    existing = grant_reward(
        store=store, customer=customer, source_key="old", kind="credit", amount=1, step_id=5
    )
    results = grant_rewards(
        [
            _credit(store, customer, "old"),
            _credit(store, customer, "new", step_id=5),  # the step already granted
            _credit(store, customer, "twice"),
            _credit(store, customer, "twice"),
            _credit(store, other, "foreign"),
            GrantRequest(store=store, customer=customer, source_key="k", kind="nonsense"),
        ]
    )
    assert results[0].pk == existing.pk and results[1].pk == existing.pk
    assert results[2].pk is not None and results[3].pk == results[2].pk
    assert isinstance(results[4], RewardError) and "customer" in results[4].errors
    assert isinstance(results[5], RewardError) and "kind" in results[5].errors
    assert sorted(RewardGrant.objects.values_list("source_key", flat=True)) == ["old", "twice"]


def test_lines_go_to_each_customers_soonest_upcoming_order(store, discount, gift, cross_sell):
    alice, bob = make_customer(store), make_customer(store)
    later = make_upcoming_order(alice, scheduled_at="2027-03-01")
    soon = make_upcoming_order(alice, scheduled_at="2027-01-01", total=Decimal("50.00"))
    results = grant_rewards(
        [
            GrantRequest(store=store, customer=alice, source_key="d", kind="discount",
                         incentive=discount),
            GrantRequest(store=store, customer=alice, source_key="g", kind="free_gift",
                         incentive=gift),
            GrantRequest(store=store, customer=alice, source_key="x", kind="cross_sell",
                         incentive=cross_sell),
            GrantRequest(store=store, customer=bob, source_key="b", kind="free_gift",
                         incentive=gift),
            _credit(store, alice, "c"),
        ]
    )  # fmt: skip
    d, g, x, b, c = results
    soon.refresh_from_db()
    later.refresh_from_db()
    assert d.amount == Decimal("5.00")  # 10% of the soonest order's 50.00
    assert [d.status, g.status, x.status, b.status, c.status] == [
        "applied", "applied", "issued", "issued", "applied"
    ]  # fmt: skip
    assert d.upcoming_order_id == g.upcoming_order_id == x.upcoming_order_id == soon.pk
    assert soon.discounts == [
        {"grant_id": d.pk, "type": "percent", "value": "10", "title": "10% off"}
    ]
    assert [line["grant_id"] for line in soon.added_items] == [g.pk]  # the offer waits
    assert later.discounts == [] and later.added_items == []
    assert b.upcoming_order_id is None
    offer = CrossSellOffer.objects.get(grant=x)
    assert offer.upcoming_order_id == soon.pk and offer.respond_by == x.expires_at
    assert CreditEntry.objects.get(grant=c).amount == Decimal("5.00")


def test_statements_do_not_grow_with_the_batch(store):
    set_policy(
        store, max_rewards_per_customer=5, max_credit_per_customer=Decimal("100"), period_days=30
    )
    customers = [make_customer(store) for _ in range(30)]
    for c in customers[:10]:
        make_upcoming_order(c)

    def statements(n: int, prefix: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            results = grant_rewards(
                [
                    _credit(store, c, f"{prefix}{i}", experience_id=3, budget=Decimal("1000"))
                    for i, c in enumerate(customers[:n])
                ]
            )
        assert all(isinstance(g, RewardGrant) and g.status != "skipped" for g in results)
        return len(ctx)

    small, large = statements(3, "s"), statements(30, "l")
    assert large == small <= 12


@pytest.mark.django_db(transaction=True)
def test_two_workers_granting_batches_cannot_both_slip_under_cap_or_budget():
    store = make_store()
    set_policy(store, max_rewards_per_customer=1, max_credit_per_customer=None, period_days=30)
    alice, bob, carol = (make_customer(store) for _ in range(3))
    budget = {"experience_id": 8, "budget": Decimal("10.00")}

    def batch(key):
        return lambda: grant_rewards(
            [_credit(store, alice, f"{key}-a"), _credit(store, carol, f"{key}-c", "6.00", **budget),
             _credit(store, bob, f"{key}-b")]
        )  # fmt: skip

    _race([batch("one"), batch("two")])
    issued = RewardGrant.objects.filter(status="issued")
    assert issued.filter(customer=alice).count() == 1
    assert issued.filter(customer=bob).count() == 1
    assert issued.filter(customer=carol).count() == 1  # the cap, and 6.00 twice breaks 10.00
    assert CreditEntry.objects.count() == 3
    assert RewardGrant.objects.filter(status="skipped").count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_source_raced_under_different_locks_grants_once():
    """Two customers' batches share no lock: the second insert meets the first's grant, and the
    batch falls back to one by one, which answers the grant already written."""
    store = make_store()
    alice, bob = make_customer(store), make_customer(store)

    def batch(customer):
        return lambda: grant_rewards([_credit(store, customer, "shared")])

    (first,), (second,) = _race([batch(alice), batch(bob)])
    assert first.pk == second.pk
    assert RewardGrant.objects.count() == 1 and CreditEntry.objects.count() == 1
