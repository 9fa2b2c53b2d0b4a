"""An engine task handles the follow-ups its own commits announce (a customer entering a segment
that another experience listens to) itself, and a follow-up it cannot handle stays in the outbox
for the sweep."""

import datetime as dt

import pytest

import experiences.actions
from experiences import tasks
from experiences.models import Run
from segments import outbox
from segments.models import OutboxEvent, QueuedTask
from tests.fixtures.factories import make_customer, make_order

from .helpers import edge, node, order_event, publish, static_segment

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chained(store):
    """Orders add the customer to "Reached"; entering "Reached" starts a second experience."""
    reached = static_segment(store, "Reached")
    first = publish(
        store,
        [
            node("trigger", "trigger", {"event": "order_processed", "confirm_every_order": True}),
            node("add", "segment", {"action": "add", "segment_id": reached.pk}),
            node("end", "end"),
        ],
        [edge("trigger", "add"), edge("add", "end")],
        name="First",
        reentry="every_time",
    )
    trigger = {"event": "customer_entered_segment", "segment_id": reached.pk}
    second = publish(
        store,
        [node("trigger", "trigger", {**trigger, "confirm_every_order": True}), node("end", "end")],
        [edge("trigger", "end")],
        name="Second",
        reentry="every_time",
    )
    return first, second


def test_an_engine_task_walks_the_follow_ups_of_its_commits_itself(store, chained):
    # given two chained experiences and a customer's order
    first, second = chained
    customer = make_customer(store)
    order = make_order(customer, is_subscription=True)
    # when one engine task handles the order
    tasks.process_events.apply(args=[[order_event(order).as_dict()]])
    # then the follow-up's run completed in that task, one level down the chain
    run = Run.objects.get(experience=second, customer=customer)
    assert (run.status, run.depth) == ("completed", 1)
    assert Run.objects.get(experience=first, customer=customer).status == "completed"
    # and no task was queued for it, and its outbox row is marked sent
    assert not QueuedTask.objects.filter(name="experiences.process_events").exists()
    entered = OutboxEvent.objects.get(event__name="customer_entered_segment")
    assert entered.sent_at is not None


def test_a_follow_up_that_fails_in_the_task_stays_in_the_outbox_for_the_sweep(
    store, chained, monkeypatch
):
    # given a task whose handling of follow-ups (depth 1) fails
    _, second = chained
    customer = make_customer(store)
    order = make_order(customer, is_subscription=True)
    real = experiences.actions.process_events

    def failing_on_follow_ups(events):
        if any(e.depth for e in events):
            raise RuntimeError("lost mid-chain")
        return real(events)

    monkeypatch.setattr(experiences.actions, "process_events", failing_on_follow_ups)
    # when the task handles the order
    tasks.process_events.apply(args=[[order_event(order).as_dict()]])
    # then the follow-up started nothing and its outbox row is still unsent
    assert not Run.objects.filter(experience=second).exists()
    entered = OutboxEvent.objects.get(event__name="customer_entered_segment")
    assert entered.sent_at is None
    # and the sweep (outside any engine task) hands it to a queued engine task, as before
    monkeypatch.setattr(experiences.actions, "process_events", real)
    assert outbox.sweep(grace=dt.timedelta(seconds=-1)) == 1
    queued = QueuedTask.objects.get(name="experiences.process_events")
    assert queued.args[0][0]["key"] == entered.key
