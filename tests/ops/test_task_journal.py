"""The task journal: work handed to a broker that forgets its queues is sent again, once it has
run its row is gone, and a queue that is merely slow is not flooded with copies."""

import datetime as dt

import pytest
from celery import current_app
from django.utils import timezone

from segments import domain, task_journal
from segments.actions import create_segment
from segments.models import QueuedTask, SegmentMembership
from segments.tasks import ping
from tests.fixtures.factories import make_customer

pytestmark = pytest.mark.django_db


def _take(queue: str):
    """The next message waiting in ``queue`` on the current broker (None: the queue is empty)."""
    with current_app.connection_for_write() as conn:
        return conn.default_channel.basic_get(queue, no_ack=True)


def _run(message) -> None:
    """Run a message's task here, the way a worker would (``task_postrun`` included)."""
    args, kwargs, _embed = message.decode()
    import experiences.tasks
    import segments.tasks

    task = {
        "segments.evaluate_customers": segments.tasks.evaluate_customers,
        "experiences.process_events": experiences.tasks.process_events,
    }[message.headers["task"]]
    task.apply(args=args, kwargs=kwargs, task_id=message.headers["id"]).get()


def _order_processed(store, customer, key):
    return domain.DomainEvent(domain.ORDER_PROCESSED, store.pk, customer.pk, key=key)


def test_a_segment_evaluation_survives_a_broker_restarted_without_its_data(
    store, private_broker, django_capture_on_commit_callbacks, settings
):
    # given a rule segment, and a customer who now matches it after an order
    segment = create_segment(store, name="Buyers", kind="dynamic", rule="orders_count >= 1")
    while _take("segments"):  # the segment's own first recompute is not this test's concern
        pass
    customer = make_customer(store, orders_count=1)
    with django_capture_on_commit_callbacks(execute=True):
        domain.announce(_order_processed(store, customer, "inbound:41"))
    row = QueuedTask.objects.get(name="segments.evaluate_customers")
    # when the broker restarts without persistence, forgetting the queued evaluation
    private_broker.stop()
    private_broker.start()
    assert _take("segments") is None
    # then the sweep sends it again (not before its grace period) under the row's id
    assert task_journal.sweep() == 0
    settings.TASK_JOURNAL_GRACE_SECONDS = -1
    assert task_journal.sweep() == 1
    message = _take("segments")
    assert message.headers["id"] == f"journal-{row.pk}"
    # and once a worker has run it the customer is a member and the row is gone
    _run(message)
    assert SegmentMembership.objects.filter(segment=segment, customer=customer).exists()
    assert not QueuedTask.objects.filter(pk=row.pk).exists()


def test_a_sent_task_waits_longer_before_each_new_copy(store, private_broker, settings):
    # given a journalled task sent once, then again by the sweep
    settings.TASK_JOURNAL_GRACE_SECONDS = 60
    pk = task_journal.send(ping, "x")
    QueuedTask.objects.filter(pk=pk).update(queued_at=timezone.now() - dt.timedelta(seconds=61))
    assert task_journal.sweep() == 1
    assert QueuedTask.objects.get(pk=pk).sends == 2
    # when it is again older than the grace period but younger than twice it
    QueuedTask.objects.filter(pk=pk).update(queued_at=timezone.now() - dt.timedelta(seconds=90))
    # then the sweep leaves it alone; past twice the grace it sends it a third time
    assert task_journal.sweep() == 0
    QueuedTask.objects.filter(pk=pk).update(queued_at=timezone.now() - dt.timedelta(seconds=121))
    assert task_journal.sweep() == 1
    assert QueuedTask.objects.get(pk=pk).sends == 3


def test_a_retried_or_failed_task_keeps_its_row_and_a_succeeded_one_loses_it(store):
    pk = task_journal.send(ping, "x")
    task_journal.forget_finished(task_id=task_journal.task_id(pk), state="RETRY")
    assert QueuedTask.objects.filter(pk=pk).exists()
    task_journal.forget_finished(task_id="some-other-task", state="SUCCESS")
    assert QueuedTask.objects.filter(pk=pk).exists()
    task_journal.forget_finished(task_id=task_journal.task_id(pk), state="FAILURE")
    assert QueuedTask.objects.filter(pk=pk).exists()  # sent again by the sweep
    QueuedTask.objects.filter(pk=pk).update(sends=task_journal.MAX_SENDS)
    task_journal.forget_finished(task_id=task_journal.task_id(pk), state="FAILURE")
    assert not QueuedTask.objects.filter(pk=pk).exists()  # given up
    pk = task_journal.send(ping, "y")
    task_journal.forget_finished(task_id=task_journal.task_id(pk), state="SUCCESS")
    assert not QueuedTask.objects.filter(pk=pk).exists()


def test_the_engine_and_ledger_batches_are_journalled_too(
    store, private_broker, django_capture_on_commit_callbacks
):
    # given an experience listening to orders
    from tests.experiences.helpers import edge, node, publish

    trigger = {"event": "order_processed", "confirm_every_order": True}
    publish(
        store, [node("trigger", "trigger", trigger), node("end", "end")], [edge("trigger", "end")]
    )
    customer = make_customer(store)
    # when an order is announced
    with django_capture_on_commit_callbacks(execute=True):
        domain.announce(_order_processed(store, customer, "inbound:42"))
    # then the engine's batch has a row, named by the message it sent
    row = QueuedTask.objects.get(name="experiences.process_events")
    message = _take("experiences")
    assert message.headers["id"] == f"journal-{row.pk}"
    _run(message)
    assert not QueuedTask.objects.filter(pk=row.pk).exists()
