"""grant_reward: once per source, the right thing given, caps and budgets skip with the reason."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rewards.actions import RewardError, create_incentive, grant_reward, set_policy
from rewards.models import CreditEntry, CrossSellOffer, RewardGrant
from rewards.queries import balance_of
from tests.fixtures.factories import make_customer, make_upcoming_order

pytestmark = pytest.mark.django_db


def test_credit_grant_opens_a_lot_with_its_expiry(store, customer):
    grant = grant_reward(
        store=store,
        customer=customer,
        source_key="step:1",
        kind="credit",
        amount=Decimal("5.00"),
        expires_in_days=30,
        step_id=1,
    )
    assert grant.status == RewardGrant.Status.ISSUED
    assert grant.currency == store.currency
    entry = CreditEntry.objects.get(grant=grant)
    assert (entry.kind, entry.amount, entry.expires_at) == (
        "grant",
        Decimal("5.00"),
        grant.expires_at,
    )
    assert balance_of(customer) == Decimal("5.00")


def test_the_same_source_grants_once(store, customer):
    first = grant_reward(
        store=store, customer=customer, source_key="step:7", kind="credit", amount=Decimal("3")
    )
    with CaptureQueriesContext(connection) as queries:
        again = grant_reward(
            store=store, customer=customer, source_key="step:7", kind="credit", amount=Decimal("9")
        )
    assert again.pk == first.pk
    assert not [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert RewardGrant.objects.count() == 1
    assert balance_of(customer) == Decimal("3.00")


def test_the_same_step_under_another_source_key_grants_once(store, customer):
    first = grant_reward(
        store=store, customer=customer, source_key="a", kind="credit", amount=1, step_id=42
    )
    again = grant_reward(
        store=store, customer=customer, source_key="b", kind="credit", amount=1, step_id=42
    )
    assert again.pk == first.pk


def test_discount_is_applied_to_the_soonest_upcoming_order(store, customer, discount):
    later = make_upcoming_order(customer, scheduled_at="2027-03-01")
    soon = make_upcoming_order(customer, scheduled_at="2027-01-01", total=Decimal("50.00"))
    grant = grant_reward(
        store=store, customer=customer, source_key="s", kind="discount", incentive=discount
    )
    soon.refresh_from_db()
    later.refresh_from_db()
    assert grant.status == RewardGrant.Status.APPLIED
    assert grant.upcoming_order_id == soon.pk
    assert grant.amount == Decimal("5.00")  # 10% of the upcoming order's 50.00
    assert soon.discounts == [
        {"grant_id": grant.pk, "type": "percent", "value": "10", "title": "10% off"}
    ]
    assert later.discounts == []


def test_free_gift_without_an_upcoming_order_is_issued_then_attached(store, customer, gift):
    from rewards.actions import attach_issued

    grant = grant_reward(
        store=store, customer=customer, source_key="s", kind="free_gift", incentive=gift
    )
    assert grant.status == RewardGrant.Status.ISSUED and grant.upcoming_order_id is None
    assert grant.expires_at is not None
    upcoming = make_upcoming_order(customer)
    assert attach_issued(upcoming) == 1
    upcoming.refresh_from_db()
    grant.refresh_from_db()
    assert grant.status == RewardGrant.Status.APPLIED
    assert upcoming.added_items[0]["title"] == "Mug"
    assert upcoming.added_items[0]["price"] == "0.00"


def test_cross_sell_opens_an_offer_with_a_link(store, customer, cross_sell):
    from rewards.offers import offer_url, read_token

    upcoming = make_upcoming_order(customer)
    grant = grant_reward(
        store=store,
        customer=customer,
        source_key="s",
        kind="cross_sell",
        incentive=cross_sell,
        respond_within_days=3,
    )
    offer = CrossSellOffer.objects.get(grant=grant)
    assert offer.status == "shown" and offer.upcoming_order_id == upcoming.pk
    assert offer.respond_by == grant.expires_at
    assert grant.item["price"] == "30.00" and grant.amount == Decimal("10.00")
    token = offer_url(offer).rstrip("/").rsplit("/", 1)[-1]
    assert read_token(token).offer_id == offer.pk


def test_count_cap_skips_with_the_reason(store, customer):
    set_policy(store, max_rewards_per_customer=2, max_credit_per_customer=None, period_days=30)
    for n in range(3):
        grant_reward(store=store, customer=customer, source_key=f"s{n}", kind="credit", amount=1)
    skipped = RewardGrant.objects.get(source_key="s2")
    assert skipped.status == RewardGrant.Status.SKIPPED
    assert "at most 2 rewards" in skipped.reason
    assert balance_of(customer) == Decimal("2.00")


def test_credit_cap_skips_with_the_reason(store, customer):
    set_policy(store, max_rewards_per_customer=None, max_credit_per_customer=10, period_days=7)
    grant_reward(store=store, customer=customer, source_key="a", kind="credit", amount=8)
    skipped = grant_reward(store=store, customer=customer, source_key="b", kind="credit", amount=3)
    assert skipped.status == "skipped" and "10.00 USD credit" in skipped.reason
    assert not CreditEntry.objects.filter(grant=skipped).exists()


def test_budget_skips_with_the_reason(store):
    alice, bob = make_customer(store), make_customer(store)
    kwargs = {"kind": "credit", "experience_id": 5, "budget": Decimal("10.00")}
    grant_reward(store=store, customer=alice, source_key="a", amount=6, **kwargs)
    skipped = grant_reward(store=store, customer=bob, source_key="b", amount=5, **kwargs)
    fits = grant_reward(store=store, customer=bob, source_key="c", amount=4, **kwargs)
    assert skipped.status == "skipped" and skipped.reason.startswith("Budget reached")
    assert fits.status == "issued"


def test_inactive_incentive_is_skipped(store, customer, discount):
    discount.active = False
    discount.save()
    grant = grant_reward(
        store=store, customer=customer, source_key="s", kind="discount", incentive=discount
    )
    assert grant.status == "skipped" and "inactive" in grant.reason


def test_incentive_of_another_store_is_refused(store, other_store, customer):
    foreign = create_incentive(
        other_store, name="x", kind="discount", params={"discount_type": "fixed", "value": "1"}
    )
    with pytest.raises(RewardError) as exc:
        grant_reward(
            store=store, customer=customer, source_key="s", kind="discount", incentive=foreign
        )
    assert "incentive" in exc.value.errors
    assert not RewardGrant.objects.exists()


def test_negative_credit_is_refused(store, customer):
    with pytest.raises(RewardError) as exc:
        grant_reward(store=store, customer=customer, source_key="s", kind="credit", amount=-1)
    assert "amount" in exc.value.errors


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("credit", {"amount_type": "fixed", "amount": "-1"}, "params.amount"),
        ("credit", {"amount_type": "percent", "amount": "101"}, "params.amount"),
        ("discount", {"discount_type": "percent", "value": "150"}, "params.value"),
        ("free_gift", {"title": "Mug"}, "params.product_id"),
        ("cross_sell", {"product_id": "1", "title": "x"}, "params.price"),
    ],
)
def test_bad_incentive_params_name_the_field(store, kind, params, field):
    with pytest.raises(RewardError) as exc:
        create_incentive(store, name="bad", kind=kind, params=params)
    assert field in exc.value.errors
