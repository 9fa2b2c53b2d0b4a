"""Per-customer order: out-of-order deliveries end in the newest state; a batch applies one
customer's events by their own time; two workers never interleave one customer's events."""

import threading

import pytest
from django.db import connection, connections, transaction

from segments.ingest.actions import process_batch
from segments.models import Customer, InboundEvent, Subscription
from tests.fixtures.payloads import load, post_recharge

pytestmark = pytest.mark.django_db

CREATED = ("subscription/created", "recharge_subscription_created")
UPDATED = ("subscription/updated", "recharge_subscription_updated")
CANCELLED = ("subscription/cancelled", "recharge_subscription_cancelled")


@pytest.mark.parametrize(
    "arrival",
    [
        [CANCELLED, UPDATED, CREATED],
        [UPDATED, CANCELLED, CREATED],
        [CREATED, CANCELLED, UPDATED],
        [UPDATED, CREATED, CANCELLED],
    ],
)
def test_out_of_order_subscription_updates_end_in_the_newest_state(client, store, arrival):
    # given the three deliveries of one subscription arriving out of order, each on its own
    for topic, fixture in arrival:
        assert post_recharge(client, store, topic, load(fixture)).status_code == 202
        # when each is applied as it arrives
        process_batch()
    # then the subscription holds the newest state (cancelled at 08:30 on the 28th)
    sub = Subscription.objects.get()
    assert sub.status == Subscription.Status.CANCELLED
    assert sub.quantity == 2
    assert sub.cancellation_reason == "I have too much coffee"
    assert sub.source_updated_at.isoformat() == "2026-11-28T08:30:00+00:00"
    assert Customer.objects.get().active_subscriptions_count == 0
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_one_batch_applies_a_customers_events_by_their_own_time(client, store):
    # given the update arrives before the create, both waiting in one batch
    post_recharge(client, store, *_topic_payload(UPDATED))
    post_recharge(client, store, *_topic_payload(CREATED))
    # when one batch applies both
    assert process_batch() == 2
    # then the newer update wins
    sub = Subscription.objects.get()
    assert (sub.quantity, sub.interval_frequency) == (3, 2)


def _topic_payload(pair):
    topic, fixture = pair
    return topic, load(fixture)


@pytest.mark.django_db(transaction=True)
def test_a_second_worker_waits_for_the_customer_lock(client, store):
    # given two pending events for one customer
    post_recharge(client, store, *_topic_payload(CREATED))
    post_recharge(client, store, *_topic_payload(UPDATED))
    first_claimed, release = threading.Event(), threading.Event()
    seen: dict = {}

    def first_worker():
        with transaction.atomic():
            # claims only the first event and holds the customer's lock
            process_batch_holding(limit=1, claimed=first_claimed, release=release)
        connections.close_all()

    def process_batch_holding(limit, claimed, release):
        from segments.ingest import actions

        original = actions._apply_all

        def slow_apply(rows):
            original(rows)
            claimed.set()
            release.wait(10)

        actions._apply_all = slow_apply
        try:
            process_batch(limit)
        finally:
            actions._apply_all = original

    thread = threading.Thread(target=first_worker)
    thread.start()
    assert first_claimed.wait(10)
    # when a second worker claims the next event of that customer
    second = threading.Thread(target=lambda: (seen.update(n=process_batch()), connection.close()))
    second.start()
    second.join(1.0)
    # then it waits on the customer lock while the first holds it...
    assert second.is_alive()
    assert Subscription.objects.count() == 0  # nothing of either is visible yet
    release.set()
    thread.join(10)
    second.join(10)
    # ...and applies after it, so the newest state wins
    assert seen["n"] == 1
    assert Subscription.objects.get().quantity == 3
