"""Batch walks: the runs a batch of events starts, walked side by side with a bounded number of
statements, and the effects seam (applied for real, or only recorded)."""

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from experiences import actions
from experiences.actions.batch import start_and_walk
from experiences.effects import MembershipChange, OutboxEmail, RecordEffects
from experiences.models import EmailDelivery, Run, RunStep, TriggerIndex
from rewards.models import CreditEntry, RewardGrant
from segments.models import Customer, MembershipSource, SegmentHistory, SegmentMembership
from tests.fixtures.factories import make_customer, make_order

from .helpers import edge, node, order_event, publish, static_segment

pytestmark = pytest.mark.django_db


def _milestone_orders(store, test_customers, n):
    events = []
    for _ in range(n):
        customer = make_customer(store, first_name="Bo", subscription_orders_count=3)
        SegmentMembership.objects.create(
            store=store, segment=test_customers, customer=customer, source=MembershipSource.MANUAL
        )
        events.append(order_event(make_order(customer, is_subscription=True)))
    return events


def test_a_batch_walk_costs_the_same_statements_for_5_or_20_entering_customers(store, milestone):
    # given the milestone experience (segment add + email) and two batches of entering orders
    experience, test_customers, reached = milestone
    small = _milestone_orders(store, test_customers, 5)
    large = _milestone_orders(store, test_customers, 20)
    actions.process_events(_milestone_orders(store, test_customers, 1))  # graphs cached
    mail.outbox.clear()
    # when each batch is handled
    with CaptureQueriesContext(connection) as five:
        actions.process_events(small)
    with CaptureQueriesContext(connection) as twenty:
        actions.process_events(large)
    # then every run completed with its membership, history and one email each
    assert Run.objects.filter(experience=experience, status=Run.Status.COMPLETED).count() == 26
    assert SegmentMembership.objects.filter(segment=reached).count() == 26
    assert SegmentHistory.objects.filter(segment=reached, action="added").count() == 26
    assert EmailDelivery.objects.filter(status="sent").count() == 26
    assert len(mail.outbox) == 25
    # and the statements do not grow with the runs (the emails of a batch are claimed, read
    # and marked sent with three statements after the commit)
    assert len(five) == len(twenty) <= 30


def test_a_failing_run_does_not_hold_back_the_others_of_its_batch(store):
    # given an experience whose Segment node points at a segment that became dynamic
    target = static_segment(store, "Target")
    graph = (
        [
            node(
                "trigger",
                "trigger",
                {"event": "order_processed", "confirm_every_order": True},
            ),
            node("add", "segment", {"action": "add", "segment_id": target.pk}),
            node("end", "end"),
        ],
        [edge("trigger", "add"), edge("add", "end")],
    )
    broken = publish(store, *graph, name="Broken", reentry="every_time")
    target.kind = "dynamic"
    target.rule = "orders_count > 0"
    target.save()
    fine_target = static_segment(store, "Fine")
    graph[0][1]["config"]["segment_id"] = fine_target.pk
    fine = publish(store, *graph, name="Fine", reentry="every_time")
    customers = [make_customer(store) for _ in range(3)]
    # when a batch of their orders is handled
    actions.process_events([order_event(make_order(c, is_subscription=True)) for c in customers])
    # then the broken experience's runs failed visibly at their node, and the others completed
    assert set(Run.objects.filter(experience=broken).values_list("status", flat=True)) == {"failed"}
    failed_step = RunStep.objects.filter(run__experience=broken, node__key="add").first()
    assert "dynamic" in failed_step.error
    assert set(Run.objects.filter(experience=fine).values_list("status", flat=True)) == {
        "completed"
    }
    assert SegmentMembership.objects.filter(segment=fine_target).count() == 3


def test_recording_effects_changes_no_membership_email_or_ledger_row(store, milestone):
    # given the milestone experience and two entering customers
    experience, test_customers, reached = milestone
    events = _milestone_orders(store, test_customers, 2)
    entry = TriggerIndex.objects.select_related("experience", "node").get(experience=experience)
    customers = Customer.objects.select_related("store").in_bulk([e.customer_id for e in events])
    before = (
        SegmentMembership.objects.count(),
        SegmentHistory.objects.count(),
        EmailDelivery.objects.count(),
        RewardGrant.objects.count(),
        CreditEntry.objects.count(),
    )
    recorder = RecordEffects()
    # when the batch is walked with the recording effects
    start_and_walk([(e, customers[e.customer_id], [entry]) for e in events], effects=recorder)
    # then the runs walked to their end, deciding the same effects the real walk applies
    assert Run.objects.filter(experience=experience, status="completed").count() == 2
    kinds = sorted(type(e).__name__ for e in recorder.recorded)
    assert kinds == ["MembershipChange"] * 2 + ["OutboxEmail"] * 2
    assert {e.segment_id for e in recorder.recorded if isinstance(e, MembershipChange)} == {
        reached.pk
    }
    assert all(e.subject.startswith("Congratulations Bo") for e in recorder.recorded
               if isinstance(e, OutboxEmail))  # fmt: skip
    # and no table of the effects changed
    after = (
        SegmentMembership.objects.count(),
        SegmentHistory.objects.count(),
        EmailDelivery.objects.count(),
        RewardGrant.objects.count(),
        CreditEntry.objects.count(),
    )
    assert after == before
    assert len(mail.outbox) == 0


def test_set_based_membership_changes_apply_a_repeated_pair_in_its_order(store):
    # given a static segment and a customer named three times (add, remove, add) in one list
    from segments.actions import MembershipRequest, change_memberships

    segment = static_segment(store, "Rounds")
    customer, other = make_customer(store), make_customer(store)
    requests = [
        MembershipRequest(segment.pk, customer.pk, True, reference="a"),
        MembershipRequest(segment.pk, other.pk, True, reference="b"),
        MembershipRequest(segment.pk, customer.pk, False, reference="c"),
        MembershipRequest(segment.pk, customer.pk, True, reference="d"),
        MembershipRequest(segment.pk + 10_000, customer.pk, True, reference="e"),
    ]
    # when they are applied set-based
    answers = change_memberships(store.pk, requests, source=MembershipSource.EXPERIENCE)
    # then each request saw the one before it, as one by one, with a history row per change
    assert answers == ["changed", "changed", "changed", "changed", "missing"]
    members = SegmentMembership.objects.filter(segment=segment)
    assert set(members.values_list("customer_id", flat=True)) == {customer.pk, other.pk}
    history = list(
        SegmentHistory.objects.filter(segment=segment, customer=customer)
        .order_by("pk")
        .values_list("action", "reference")
    )
    assert history == [("added", "a"), ("removed", "c"), ("added", "d")]
    segment.refresh_from_db()
    assert segment.member_count == 2


def _adds_to(target, **settings):
    trigger = {"event": "order_processed", "order_type": "any", "confirm_every_order": True}
    nodes = [
        node("trigger", "trigger", trigger),
        node("add", "segment", {"action": "add", "segment_id": target.pk}),
        node("end", "end"),
    ]
    return nodes, [edge("trigger", "add"), edge("add", "end")]


def test_a_customers_later_events_in_a_batch_follow_in_rounds_in_their_order(store):
    # given an experience every order enters, and one that a customer enters once only
    every, once = static_segment(store, "Every"), static_segment(store, "Once")
    repeated = publish(store, *_adds_to(every), name="Every order", reentry="every_time")
    single = publish(store, *_adds_to(once), name="Once", reentry="once")
    alice, bob = make_customer(store), make_customer(store)
    alices = [order_event(make_order(alice, is_subscription=True)) for _ in range(3)]
    batch = [alices[0], order_event(make_order(bob, is_subscription=True)), *alices[1:]]
    # when one batch holds Alice's three orders and Bob's one
    with CaptureQueriesContext(connection) as ctx:
        actions.process_events(batch)
    # then Alice's runs follow her orders (rotation 1, 2, 3) and "once" let only the first in
    runs = Run.objects.filter(experience=repeated, customer=alice).order_by("rotation")
    assert [r.trigger_event_key for r in runs] == [e.key for e in alices]
    assert list(
        Run.objects.filter(experience=single, customer=alice).values_list(
            "trigger_event_key", flat=True
        )
    ) == [alices[0].key]
    assert Run.objects.filter(customer=bob).count() == 2
    assert not Run.objects.exclude(status=Run.Status.COMPLETED).exists()
    # and each later round is a batch walk too (no one-by-one walk: its run lock is absent)
    assert not any('FOR UPDATE OF "experiences_run"' in q["sql"] for q in ctx.captured_queries)


def test_a_batch_reads_the_triggering_orders_only_when_a_node_needs_them(store, milestone):
    # given an experience whose nodes never read the order, and the milestone one (an email
    # that names the order)
    target = static_segment(store, "Target")
    publish(store, *_adds_to(target), name="No order read")
    experience, test_customers, _ = milestone
    plain = [order_event(make_order(make_customer(store), is_subscription=True)) for _ in range(3)]
    emailed = _milestone_orders(store, test_customers, 3)

    def order_reads(events):
        with CaptureQueriesContext(connection) as ctx:
            actions.process_events(events)
        return [q for q in ctx.captured_queries if q["sql"].startswith('SELECT "segments_order"')]

    # when a batch only adds to a segment, then no statement reads its orders
    assert order_reads(plain) == []
    assert SegmentMembership.objects.filter(segment=target).count() == 3
    # when a batch sends emails that name the order, then one statement reads them all
    assert len(order_reads(emailed)) == 1
    assert EmailDelivery.objects.filter(step__run__experience=experience).count() == 3
