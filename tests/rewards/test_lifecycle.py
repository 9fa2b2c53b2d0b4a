"""From signed webhooks to the ledger: a paid charge spends credit (soonest-expiring lot first)
and redeems what was attached to it; a cancelled subscription revokes it; a newly scheduled
charge receives the grants that waited for one."""

import datetime as dt
from decimal import Decimal

import pytest

from rewards.actions import grant_reward
from rewards.models import CreditEntry
from rewards.queries import balance_of
from segments.models import Order, UpcomingOrder
from tests.fixtures.factories import (
    make_customer,
    make_order,
    make_subscription,
    make_upcoming_order,
)
from tests.fixtures.payloads import load, post_recharge

pytestmark = pytest.mark.django_db

CHARGE_ID = "912345678"  # recharge_charge_paid.json: total 39.20 USD, recurring


@pytest.fixture
def jane(store):
    customer = make_customer(store, email="jane.doe@example.com", recharge_id="87654321")
    subscription = make_subscription(customer, recharge_id="55501234")
    return customer, subscription


def _credit(store, customer, key, amount, days):
    return grant_reward(
        store=store,
        customer=customer,
        source_key=key,
        kind="credit",
        amount=Decimal(amount),
        expires_in_days=days,
    )


def test_paid_charge_spends_credit_soonest_expiring_first_and_redeems(
    client, store, jane, discount, ingest
):
    # given Jane's upcoming charge with a discount on it, and two credit lots
    customer, subscription = jane
    upcoming = make_upcoming_order(
        customer, external_id=CHARGE_ID, subscription=subscription, total=Decimal("39.20")
    )
    later = _credit(store, customer, "a", "25.00", 30)
    sooner = _credit(store, customer, "b", "20.00", 5)
    gift = grant_reward(
        store=store, customer=customer, source_key="c", kind="discount", incentive=discount
    )
    assert gift.upcoming_order_id == upcoming.pk
    # when the charge is paid (a signed Recharge charge/paid), delivered twice
    for _ in range(2):
        assert post_recharge(
            client, store, "charge/paid", load("recharge_charge_paid")
        ).status_code in (200, 202)
        ingest()
    # then 39.20 is spent: all of the sooner lot, then 19.20 of the later one, once
    order = Order.objects.get(store=store, recharge_id=CHARGE_ID)
    spends = {e.grant_id: e.amount for e in CreditEntry.objects.filter(kind="spend", order=order)}
    assert spends == {sooner.pk: Decimal("-20.00"), later.pk: Decimal("-19.20")}
    assert balance_of(customer) == Decimal("5.80")
    sooner.refresh_from_db()
    later.refresh_from_db()
    assert sooner.status == "redeemed" and sooner.redeemed_order_id == order.pk
    assert later.status == "issued" and later.upcoming_order_id is None
    # and the discount attached to the charged order is redeemed
    gift.refresh_from_db()
    assert gift.status == "redeemed" and gift.redeemed_order_id == order.pk
    assert UpcomingOrder.objects.get(pk=upcoming.pk).status == "processed"


def test_credit_never_spends_more_than_the_balance(store, customer):
    from rewards.actions import settle_paid_order

    _credit(store, customer, "a", "5.00", None)
    order = make_order(customer, type="recurring", total=Decimal("19.00"))
    settle_paid_order(order)
    settle_paid_order(order)  # a redelivery
    assert balance_of(customer) == Decimal("0.00")
    assert CreditEntry.objects.filter(kind="spend").count() == 1


def test_checkout_orders_and_other_currencies_spend_nothing(store, customer):
    from rewards.actions import settle_paid_order

    _credit(store, customer, "a", "5.00", None)
    settle_paid_order(make_order(customer, type="checkout"))
    settle_paid_order(make_order(customer, type="recurring", currency="EUR"))
    assert balance_of(customer) == Decimal("5.00")


def test_expired_lot_is_not_spent_even_before_the_sweep(store, customer):
    from rewards.actions import settle_paid_order

    lot = _credit(store, customer, "a", "5.00", 1)
    order = make_order(customer, type="recurring")
    settle_paid_order(order, now=lot.expires_at + dt.timedelta(seconds=1))
    assert not CreditEntry.objects.filter(kind="spend").exists()


def test_cancelled_subscription_revokes_what_was_on_its_upcoming_order(
    client, store, jane, gift, ingest
):
    # given a gift and a credit lot attached to the subscription's upcoming order
    customer, subscription = jane
    upcoming = make_upcoming_order(customer, subscription=subscription)
    gift_grant = grant_reward(
        store=store, customer=customer, source_key="g", kind="free_gift", incentive=gift
    )
    lot = _credit(store, customer, "c", "7.50", 30)
    spent = make_order(customer, type="recurring", total=Decimal("2.50"))
    from rewards.actions import settle_paid_order

    settle_paid_order(spent)
    lot.refresh_from_db()
    lot.upcoming_order = upcoming  # still waiting for the next charge
    lot.status = "applied"
    lot.save()
    upcoming.refresh_from_db()
    assert len(upcoming.added_items) == 1
    # when the subscription is cancelled (signed Recharge subscription/cancelled)
    answer = post_recharge(
        client, store, "subscription/cancelled", load("recharge_subscription_cancelled")
    )
    assert answer.status_code in (200, 202)
    ingest()
    # then both are revoked with the reason, the gift leaves the order, the lot's rest goes
    gift_grant.refresh_from_db()
    lot.refresh_from_db()
    assert gift_grant.status == lot.status == "revoked"
    assert "55501234 was cancelled" in gift_grant.reason
    upcoming.refresh_from_db()
    assert upcoming.added_items == []
    revocation = CreditEntry.objects.get(kind="revocation", grant=lot)
    assert revocation.amount == Decimal("-5.00")
    assert balance_of(customer) == Decimal("0.00")


def test_grants_waiting_for_an_order_join_the_next_scheduled_charge(
    client, store, jane, gift, ingest
):
    customer, _ = jane
    grant = grant_reward(
        store=store, customer=customer, source_key="g", kind="free_gift", incentive=gift
    )
    assert grant.status == "issued"
    answer = post_recharge(client, store, "charge/upcoming", load("recharge_charge_upcoming"))
    assert answer.status_code in (200, 202)
    ingest()
    grant.refresh_from_db()
    assert grant.status == "applied"
    upcoming = UpcomingOrder.objects.get(store=store, external_id="912345999")
    assert [item["grant_id"] for item in upcoming.added_items] == [grant.pk]


def test_customers_without_open_grants_enqueue_nothing(store):
    from rewards.receivers import wanted
    from segments import domain

    bystander = make_customer(store)
    event = domain.DomainEvent(
        name=domain.ORDER_PROCESSED,
        store_id=store.pk,
        customer_id=bystander.pk,
        key="x",
        data={"order_type": "recurring", "order_id": 1},
    )
    assert wanted([event]) == []
    _credit(store, bystander, "a", "1.00", None)
    assert wanted([event]) == [event]
