"""The engine keeps the trigger index per process, and a batch still sees every publish, pause and
settings change committed before it (even one made in the same transaction)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from experiences import actions
from experiences.models import Experience, Run, TriggerIndex
from tests.fixtures.factories import make_customer, make_order

from .helpers import edge, node, order_event, publish

pytestmark = pytest.mark.django_db


def _graph():
    trigger = {"event": "order_processed", "confirm_every_order": True}
    return [node("trigger", "trigger", trigger), node("end", "end")], [edge("trigger", "end")]


def _order(customer):
    return order_event(make_order(customer, is_subscription=True))


def _index_reads(events) -> int:
    with CaptureQueriesContext(connection) as ctx:
        actions.process_events(events)
    entries = f'SELECT "{TriggerIndex._meta.db_table}".'  # the entries' own query
    return sum(q["sql"].startswith(entries) for q in ctx)


def test_an_unchanged_index_is_not_read_again(store):
    # given a live experience and a first batch (which reads the index)
    publish(store, *_graph(), name="A", reentry="every_time")
    customer = make_customer(store)
    actions.process_events([_order(customer)])
    # when a second batch comes
    reads = _index_reads([_order(customer)])
    # then it starts its run without reading the index's entries again
    assert reads == 0
    assert Run.objects.filter(customer=customer).count() == 2


def test_a_batch_sees_publishes_pauses_and_settings_changed_since_the_last(store):
    # given a live experience whose index this process has read
    a = publish(store, *_graph(), name="A", reentry="every_time")
    customer = make_customer(store)
    actions.process_events([_order(customer)])
    # when a second experience is published, the next batch starts its run too
    b = publish(store, *_graph(), name="B", reentry="every_time")
    actions.process_events([_order(customer)])
    assert Run.objects.filter(experience=b).count() == 1
    # when the first is paused, the next batch starts nothing there
    actions.pause_experience(a)
    actions.process_events([_order(customer)])
    assert Run.objects.filter(experience=a).count() == 2
    assert Run.objects.filter(experience=b).count() == 2
    # when the second's re-entry becomes "once", the next batch keeps the customer out
    actions.update_experience(Experience.objects.get(pk=b.pk), reentry="once")
    actions.process_events([_order(customer)])
    assert Run.objects.filter(experience=b).count() == 2
    # and a holdout set behind the engine's back (an update of the row) is seen as well
    Experience.objects.filter(pk=b.pk).update(reentry="every_time", holdout_percent=100)
    actions.process_events([_order(customer)])
    assert Run.objects.filter(experience=b, status="held_out").count() == 1
