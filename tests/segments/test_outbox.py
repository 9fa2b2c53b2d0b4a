"""The outbox of domain events: recorded with the effects they announce, delivered after commit,
kept when the delivery fails and delivered by the sweep, never twice by it; the work they hand
to the broker is journalled (tests/ops/test_task_journal.py)."""

import datetime as dt

import pytest
from celery import current_app
from django.db import transaction

from segments import domain, outbox, task_journal
from segments.ingest.actions import process_batch
from segments.models import OutboxEvent, QueuedTask
from tests.experiences.helpers import edge, node, publish
from tests.fixtures.factories import make_customer
from tests.fixtures.payloads import load, post_shopify

pytestmark = pytest.mark.django_db


@pytest.fixture
def received(received_events):
    return received_events


def _event(store, customer, key: str) -> domain.DomainEvent:
    return domain.DomainEvent(domain.ORDER_PROCESSED, store.pk, customer.pk, key=key)


def _sweep_now() -> int:
    return outbox.sweep(grace=dt.timedelta(seconds=-1))


def test_an_event_whose_delivery_was_lost_is_delivered_once_by_the_sweep(
    store, received, django_capture_on_commit_callbacks
):
    # given an event announced in a transaction whose after-commit delivery never runs
    customer = make_customer(store)
    with django_capture_on_commit_callbacks(execute=False):
        domain.announce(_event(store, customer, "inbound:1"))
    assert received == []
    row = OutboxEvent.objects.get(key="inbound:1")
    assert row.sent_at is None and row.event["customer_id"] == customer.pk
    # when the sweep runs (after its grace period only)
    assert outbox.sweep() == 0
    assert _sweep_now() == 1
    # then the receivers got it, once, and it is marked sent
    assert [e.key for e in received] == ["inbound:1"]
    row.refresh_from_db()
    assert row.sent_at is not None
    assert _sweep_now() == 0 and len(received) == 1


def test_a_rolled_back_transaction_leaves_nothing_to_deliver(store, received):
    customer = make_customer(store)
    with pytest.raises(RuntimeError), transaction.atomic():
        domain.announce(_event(store, customer, "inbound:2"))
        raise RuntimeError("the effects fail")
    assert not OutboxEvent.objects.filter(key="inbound:2").exists()
    assert _sweep_now() == 0 and received == []


def test_a_batch_of_inbound_events_is_recorded_and_marked_sent_after_commit(
    client, store, received, django_capture_on_commit_callbacks
):
    # given two orders waiting to be applied
    for n in (1, 2):
        payload = load("shopify_orders_create")
        payload.update(id=500 + n, email=f"o{n}@example.com")
        payload["customer"] = {**payload["customer"], "id": 600 + n, "email": f"o{n}@example.com"}
        post_shopify(client, store, "orders/create", payload)
    # when the batch is applied and commits
    with django_capture_on_commit_callbacks(execute=True):
        assert process_batch() == 2
    # then its order_processed events were recorded, delivered as one list and marked sent
    rows = OutboxEvent.objects.filter(key__startswith="inbound:")
    assert rows.count() == 2 and not rows.filter(sent_at__isnull=True).exists()
    assert sorted(e.key for e in received) == sorted(rows.values_list("key", flat=True))


def test_a_delivery_the_broker_refuses_is_journalled_and_sent_when_it_is_back(
    store, private_broker, django_capture_on_commit_callbacks, settings
):
    # given an experience listening to orders, so that delivery must reach the broker
    trigger = {"event": "order_processed", "confirm_every_order": True}
    publish(
        store, [node("trigger", "trigger", trigger), node("end", "end")], [edge("trigger", "end")]
    )
    customer = make_customer(store)
    # when the event's transaction commits while the broker is down
    private_broker.stop()
    with django_capture_on_commit_callbacks(execute=True):
        domain.announce(_event(store, customer, "inbound:3"))
    # then the engine's task is kept in the task journal (the outbox's job is done)
    assert OutboxEvent.objects.get(key="inbound:3").sent_at is not None
    row = QueuedTask.objects.get(name="experiences.process_events")
    assert [e["key"] for e in row.args[0]] == ["inbound:3"]
    # and once the broker is back the journal's sweep hands it to the engine
    private_broker.start()
    settings.TASK_JOURNAL_GRACE_SECONDS = -1
    assert task_journal.sweep() == 1
    with current_app.connection_for_write() as conn:
        message = conn.default_channel.basic_get("experiences", no_ack=True)
    assert message is not None and message.headers["task"] == "experiences.process_events"
    assert message.headers["id"] == f"journal-{row.pk}"
    assert [e["key"] for e in message.decode()[0][0]] == ["inbound:3"]
