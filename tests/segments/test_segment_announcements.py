"""The outbox of bulk membership changes: their entered/left events are recorded in the
transaction that writes the history, announced once, and re-queued by the sweep when the task that
should announce them never came."""

import datetime as dt

import pytest
from django.utils import timezone

from config.celery import app
from segments import domain, task_journal
from segments.actions import (
    add_customers_to_segment,
    announce_pending,
    create_segment,
    requeue_pending_announcements,
)
from segments.models import PendingAnnouncement, QueuedTask, SegmentHistory
from tests.fixtures.factories import make_customer

from .segment_helpers import dynamic_segment

pytestmark = pytest.mark.django_db


@pytest.fixture
def announced(received_events):
    return received_events


def _queued(queue: str = "segments") -> list[tuple[str, list]]:
    found = []
    with app.connection_for_write() as conn:
        while (message := conn.default_channel.basic_get(queue, no_ack=True)) is not None:
            found.append((message.headers["task"], message.decode()[0]))
    return found


def test_a_lost_enqueue_is_announced_once_by_the_sweep(
    store, announced, django_capture_on_commit_callbacks
):
    # given a bulk add whose after-commit enqueue never runs (the broker was down at commit)
    segment = create_segment(store, name="VIP")
    customers = [make_customer(store) for _ in range(3)]
    _queued()
    with django_capture_on_commit_callbacks(execute=False):
        result = add_customers_to_segment(segment, [c.pk for c in customers], source="api")
    assert len(result.changed) == 3 and announced == [] and _queued() == []
    # then the change's history range waits in the outbox
    pending = PendingAnnouncement.objects.get(segment=segment, sent_at__isnull=True)
    history = set(SegmentHistory.objects.filter(segment=segment).values_list("pk", flat=True))
    assert (pending.first_history_id, pending.last_history_id) == (min(history), max(history))
    # when the sweep runs after the grace period, it queues the announcement again
    assert requeue_pending_announcements(timezone.now() - dt.timedelta(minutes=1)) == []
    assert requeue_pending_announcements(timezone.now() + dt.timedelta(seconds=1)) == [pending.pk]
    assert _queued() == [("segments.announce_pending", [pending.pk])]
    # and the task announces each entry once, keyed by its history row
    assert announce_pending(pending.pk) == 3
    assert sorted(e.key for e in announced) == sorted(f"segment-history:{pk}" for pk in history)
    assert {e.name for e in announced} == {domain.CUSTOMER_ENTERED_SEGMENT}
    # and a second delivery of the task, or a later sweep, sends nothing again
    assert announce_pending(pending.pk) == 0
    assert requeue_pending_announcements(timezone.now() + dt.timedelta(seconds=1)) == []
    assert len(announced) == 3


def test_the_committed_change_queues_its_announcement(store, django_capture_on_commit_callbacks):
    # given a bulk add that commits normally
    segment = create_segment(store, name="VIP")
    customer = make_customer(store)
    _queued()
    with django_capture_on_commit_callbacks(execute=True):
        add_customers_to_segment(segment, [customer.pk], source="api")
    # then its announcement task is on the segments queue
    pending = PendingAnnouncement.objects.get(segment=segment)
    assert _queued() == [("segments.announce_pending", [pending.pk])]


def test_a_recompute_records_its_announcements(store):
    # given customers matching a new dynamic segment
    make_customer(store, orders_count=4)
    make_customer(store, orders_count=5)
    # when its first recompute runs
    segment = dynamic_segment(store, "orders_count >= 3")
    # then the entries it wrote wait in the outbox as one range
    pending = PendingAnnouncement.objects.get(segment=segment)
    added = SegmentHistory.objects.filter(segment=segment, action="added")
    assert pending.last_history_id - pending.first_history_id + 1 >= added.count() == 2
    assert pending.reference.startswith("calculation")


def test_a_broker_down_during_the_announcement_journals_the_engine_work(
    store, private_broker, django_capture_on_commit_callbacks, settings
):
    # given an experience that starts when a customer enters a segment, and a bulk add waiting
    # in the outbox
    from tests.experiences.helpers import edge, node, publish

    segment = create_segment(store, name="VIP")
    trigger = {
        "event": "customer_entered_segment",
        "segment_id": segment.pk,
        "confirm_every_order": True,
    }
    publish(
        store, [node("trigger", "trigger", trigger), node("end", "end")], [edge("trigger", "end")]
    )
    customers = [make_customer(store) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=False):
        add_customers_to_segment(segment, [c.pk for c in customers], source="api")
    pending = PendingAnnouncement.objects.get(segment=segment)
    # when the broker is down while the task announces it
    private_broker.stop()
    assert announce_pending(pending.pk) == 3
    # then it is announced, and the engine's work waits in the task journal, not in the broker
    pending.refresh_from_db()
    assert pending.sent_at is not None
    row = QueuedTask.objects.get(name="experiences.process_events")
    assert len(row.args[0]) == 3
    # and once the broker is back the journal's sweep queues it
    private_broker.start()
    settings.TASK_JOURNAL_GRACE_SECONDS = -1
    assert task_journal.sweep() == 1
    from celery import current_app

    with current_app.connection_for_write() as conn:
        message = conn.default_channel.basic_get("experiences", no_ack=True)
    assert message is not None and message.headers["task"] == "experiences.process_events"
    assert len(message.decode()[0][0]) == 3
