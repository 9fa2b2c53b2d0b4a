"""Expiry by time travel (the sweep), and the cross-sell offer page: accepted, declined,
answered twice, tampered, expired."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from rewards.actions import answer_offer, grant_reward, sweep_expired
from rewards.models import CreditEntry, CrossSellOffer, RewardGrant
from rewards.offers import offer_path
from rewards.queries import balance_of
from tests.fixtures.factories import make_order, make_upcoming_order

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def _offer(store, customer, incentive, days=3):
    grant = grant_reward(
        store=store,
        customer=customer,
        source_key="offer",
        kind="cross_sell",
        incentive=incentive,
        respond_within_days=days,
    )
    return grant, CrossSellOffer.objects.get(grant=grant)


def test_credit_lot_expires_with_an_entry_of_what_is_left(store, customer):
    from rewards.actions import settle_paid_order

    with time_machine.travel(START, tick=False):
        lot = grant_reward(
            store=store, customer=customer, source_key="s", kind="credit", amount=10,
            expires_in_days=30,
        )  # fmt: skip
        settle_paid_order(make_order(customer, type="recurring", total=Decimal("4.00")))
    with time_machine.travel(START + dt.timedelta(days=29), tick=False):
        assert sweep_expired() == {"offers": 0, "grants": 0}
    with time_machine.travel(START + dt.timedelta(days=30, seconds=1), tick=False):
        assert sweep_expired()["grants"] == 1
        assert sweep_expired()["grants"] == 0  # a second sweep changes nothing
    lot.refresh_from_db()
    assert lot.status == "expired"
    expiry = CreditEntry.objects.get(kind="expiry")
    assert expiry.amount == Decimal("-6.00") and expiry.grant_id == lot.pk
    assert balance_of(customer) == Decimal("0.00")


def test_expired_gift_leaves_the_upcoming_order(store, customer, gift):
    with time_machine.travel(START, tick=False):
        upcoming = make_upcoming_order(customer)
        grant = grant_reward(
            store=store, customer=customer, source_key="g", kind="free_gift", incentive=gift
        )
    with time_machine.travel(START + dt.timedelta(days=31), tick=False):
        sweep_expired()
    grant.refresh_from_db()
    upcoming.refresh_from_db()
    assert grant.status == "expired" and upcoming.added_items == []


def test_unanswered_offer_expires_and_announces_it(
    store, customer, cross_sell, received_events, django_capture_on_commit_callbacks
):
    with time_machine.travel(START, tick=False):
        grant, offer = _offer(store, customer, cross_sell)
    with time_machine.travel(START + dt.timedelta(days=3, seconds=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert sweep_expired()["offers"] == 1
    offer.refresh_from_db()
    grant.refresh_from_db()
    assert offer.status == grant.status == "expired"
    answered = [e for e in received_events if e.name == "cross_sell_answered"]
    assert [e.data for e in answered] == [
        {"grant_id": grant.pk, "offer_id": offer.pk, "answer": "expired"}
    ]
    assert answered[0].customer_id == customer.pk


def test_offer_page_shows_the_product_price_and_discount(client, store, customer, cross_sell):
    make_upcoming_order(customer)
    _, offer = _offer(store, customer, cross_sell)
    page = client.get(offer_path(offer))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Grinder" in text and "30.00 USD" in text and "40.00 USD" in text
    assert "You save 25" in text and "Accept" in text and "csrfmiddlewaretoken" in text


def test_accepting_adds_the_line_once_and_announces(
    store, customer, cross_sell, received_events, django_capture_on_commit_callbacks
):
    upcoming = make_upcoming_order(customer)
    grant, offer = _offer(store, customer, cross_sell)
    client = Client(enforce_csrf_checks=True)
    path = offer_path(offer)
    page = client.get(path)
    token = page.cookies["csrftoken"].value
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(path, {"answer": "accept", "csrfmiddlewaretoken": token})
        second = client.post(path, {"answer": "decline", "csrfmiddlewaretoken": token})
    assert "is added to your next order" in first.content.decode()
    assert "You already accepted" in second.content.decode()
    upcoming.refresh_from_db()
    grant.refresh_from_db()
    assert [(i["grant_id"], i["title"], i["price"]) for i in upcoming.added_items] == [
        (grant.pk, "Grinder", "30.00")
    ]
    assert grant.status == "applied"
    answers = [e.data["answer"] for e in received_events if e.name == "cross_sell_answered"]
    assert answers == ["accepted"]


def test_a_post_without_csrf_is_refused(store, customer, cross_sell):
    _, offer = _offer(store, customer, cross_sell)
    response = Client(enforce_csrf_checks=True).post(offer_path(offer), {"answer": "accept"})
    assert response.status_code == 403
    offer.refresh_from_db()
    assert offer.status == "shown"


def test_declining_closes_the_offer(client, store, customer, cross_sell):
    upcoming = make_upcoming_order(customer)
    grant, offer = _offer(store, customer, cross_sell)
    page = client.post(offer_path(offer), {"answer": "decline"})
    assert "we won't add it" in page.content.decode()
    offer.refresh_from_db()
    grant.refresh_from_db()
    upcoming.refresh_from_db()
    assert offer.status == "declined" and grant.status == "revoked"
    assert upcoming.added_items == []


def test_a_tampered_token_changes_nothing(client, store, customer, cross_sell):
    _, offer = _offer(store, customer, cross_sell)
    path = offer_path(offer)
    tampered = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    response = client.post(tampered, {"answer": "accept"})
    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()
    offer.refresh_from_db()
    assert offer.status == "shown"


def test_an_expired_token_changes_nothing(client, store, customer, cross_sell):
    upcoming = make_upcoming_order(customer)
    with time_machine.travel(START, tick=False):
        _, offer = _offer(store, customer, cross_sell, days=2)
        path = offer_path(offer)
    with time_machine.travel(START + dt.timedelta(days=2, minutes=1), tick=False):
        response = client.post(path, {"answer": "accept"})
    assert response.status_code == 410
    assert "This offer has expired" in response.content.decode()
    offer.refresh_from_db()
    upcoming.refresh_from_db()
    assert offer.status == "shown" and upcoming.added_items == []


def test_accepting_without_an_upcoming_order_waits_for_one(store, customer, cross_sell):
    from rewards.actions import attach_issued

    grant, offer = _offer(store, customer, cross_sell)
    offer, changed = answer_offer(offer, "accepted")
    assert changed and offer.status == "accepted"
    grant.refresh_from_db()
    assert grant.status == RewardGrant.Status.ISSUED
    upcoming = make_upcoming_order(customer)
    attach_issued(upcoming)
    upcoming.refresh_from_db()
    grant.refresh_from_db()
    assert grant.status == "applied" and upcoming.added_items[0]["title"] == "Grinder"
