"""The engine, driven by domain events as the ingest layer announces them."""

import contextlib
import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from experiences import actions
from experiences.models import ChainLimitHit, EmailDelivery, Run, RunStep
from segments import domain
from segments.models import MembershipSource, SegmentHistory, SegmentMembership
from tests.fixtures.factories import make_customer, make_order, make_store, make_subscription

from .helpers import (
    edge,
    event,
    node,
    order_event,
    publish,
    republish,
    static_segment,
)

pytestmark = pytest.mark.django_db


def test_milestone_order_adds_to_segment_and_emails_once(milestone, milestone_customer):
    # given the milestone experience and a customer at their 3rd subscription order,
    # who is in Test Customers
    experience, _, reached = milestone
    customer, order = milestone_customer
    # when the order is processed
    actions.process_event(order_event(order))
    # then one completed run added them to "Milestone 3 reached" and emailed them
    run = Run.objects.get(experience=experience, customer=customer)
    assert run.status == Run.Status.COMPLETED
    assert [s.node.key for s in run.steps.order_by("id")] == [
        "trigger",
        "add-reached",
        "email",
        "end",
    ]
    membership = SegmentMembership.objects.get(segment=reached, customer=customer)
    assert membership.source == MembershipSource.EXPERIENCE
    assert membership.reference == f"run:{run.pk}/node:add-reached"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [customer.email]
    assert mail.outbox[0].subject == "Congratulations Alice!"
    assert "#1003" in mail.outbox[0].body and "Milestone 3" in mail.outbox[0].body


def test_same_event_again_changes_nothing(milestone, milestone_customer):
    # given an event already processed
    customer, order = milestone_customer
    ev = order_event(order)
    actions.process_event(ev)
    # when it is processed again (a duplicate delivery)
    actions.process_event(ev)
    # then still one run, one membership change, one email
    assert Run.objects.filter(customer=customer).count() == 1
    assert SegmentHistory.objects.filter(customer=customer).count() == 1
    assert len(mail.outbox) == 1


def test_customer_failing_a_condition_does_not_enter(milestone, store):
    # given a customer at their 2nd subscription order
    customer = make_customer(store, subscription_orders_count=2)
    order = make_order(customer, is_subscription=True)
    # when the order is processed
    actions.process_event(order_event(order))
    # then no run starts
    assert not Run.objects.filter(customer=customer).exists()


def test_one_time_order_does_not_start_a_subscription_order_trigger(milestone, milestone_customer):
    customer, _ = milestone_customer
    order = make_order(customer, is_subscription=False)
    actions.process_event(order_event(order))
    assert not Run.objects.filter(customer=customer).exists()


def test_store_without_experiences_runs_none(milestone, milestone_customer, store):
    # given the store has experiences disabled
    store.experiences_enabled = False
    store.save()
    _, order = milestone_customer
    # when an order is processed
    actions.process_event(order_event(order))
    # then nothing runs
    assert not Run.objects.exists()


def test_paused_experience_starts_no_runs(milestone, milestone_customer):
    experience, _, _ = milestone
    actions.pause_experience(experience, in_flight="finish")
    _, order = milestone_customer
    actions.process_event(order_event(order))
    assert not Run.objects.exists()


def test_reentry_once_lets_a_customer_in_one_time(store):
    # given an experience on every subscription order, re-entry once
    customer = make_customer(store)
    nodes = [node("trigger", "trigger", {"confirm_every_order": True}), node("end", "end")]
    experience = publish(store, nodes, [edge("trigger", "end")], reentry="once")
    # when two different orders are processed
    for _ in range(2):
        actions.process_event(order_event(make_order(customer, is_subscription=True)))
    # then one run
    assert Run.objects.filter(experience=experience).count() == 1


def test_reentry_every_n_days_counts_rotations(store):
    customer = make_customer(store)
    nodes = [node("trigger", "trigger", {"confirm_every_order": True}), node("end", "end")]
    experience = publish(
        store, nodes, [edge("trigger", "end")], reentry="once_per_n_days", reentry_days=7
    )
    start = timezone.now()
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    with time_machine.travel(start + dt.timedelta(days=3)):
        actions.process_event(order_event(make_order(customer, is_subscription=True)))
    with time_machine.travel(start + dt.timedelta(days=8)):
        actions.process_event(order_event(make_order(customer, is_subscription=True)))
    assert list(
        Run.objects.filter(experience=experience)
        .order_by("rotation")
        .values_list("rotation", flat=True)
    ) == [1, 2]


def test_holdout_is_deterministic_and_starts_no_steps(store):
    # given a 100% holdout
    customer = make_customer(store)
    nodes = [node("trigger", "trigger", {"confirm_every_order": True}), node("end", "end")]
    experience = publish(store, nodes, [edge("trigger", "end")], holdout_percent=100)
    # when the customer triggers it
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    # then a held_out run is recorded without steps
    run = Run.objects.get(experience=experience)
    assert run.status == Run.Status.HELD_OUT
    assert not run.steps.exists()


def _wait_graph(reached, minutes=3 * 24 * 60):
    nodes = [
        node("trigger", "trigger", {"confirm_every_order": True}),
        node("wait", "wait", {"mode": "duration", "minutes": minutes}),
        node("add", "segment", {"action": "add", "segment_id": reached.pk}),
        node("end", "end"),
    ]
    return nodes, [edge("trigger", "wait"), edge("wait", "add"), edge("add", "end")]


def test_wait_of_three_days_resumes_when_due(store):
    # given a run waiting 3 days
    reached = static_segment(store, "Waited")
    experience = publish(store, *_wait_graph(reached))
    customer = make_customer(store)
    start = timezone.now()
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    run = Run.objects.get(experience=experience)
    assert run.status == Run.Status.WAITING
    # when the sweep runs two days later, nothing is due
    with time_machine.travel(start + dt.timedelta(days=2)):
        assert actions.resume_due_waits() == []
    # and three days later it is resumed and walks on
    with time_machine.travel(start + dt.timedelta(days=3, minutes=1)):
        resumed = actions.resume_due_waits()
        assert resumed == [run.pk]
        actions.advance_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert SegmentMembership.objects.filter(segment=reached, customer=customer).exists()


def test_new_version_leaves_waiting_customers_on_their_version(store):
    # given a customer waiting in version 1
    reached = static_segment(store, "V1 reached")
    other = static_segment(store, "V2 reached")
    experience = publish(store, *_wait_graph(reached))
    customer = make_customer(store)
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    v1_run = Run.objects.get(experience=experience)
    # when version 2 (adding to another segment) is published
    republish(experience, *_wait_graph(other))
    assert experience.live_version.number == 2
    # then the waiting customer finishes on version 1
    with time_machine.travel(timezone.now() + dt.timedelta(days=4)):
        actions.resume_due_waits()
        actions.advance_run(v1_run.pk)
    v1_run.refresh_from_db()
    assert v1_run.version.number == 1 and v1_run.status == Run.Status.COMPLETED
    assert SegmentMembership.objects.filter(segment=reached, customer=customer).exists()
    assert not SegmentMembership.objects.filter(segment=other, customer=customer).exists()


def _next_order_graph(reached):
    """Trigger on every order, wait for the customer's next order, then add them to ``reached``."""
    nodes = [
        node("trigger", "trigger", {"confirm_every_order": True}),
        node("wait", "wait", {"mode": "next_order"}),
        node("add", "segment", {"action": "add", "segment_id": reached.pk}),
        node("end", "end"),
    ]
    return nodes, [edge("trigger", "wait"), edge("wait", "add"), edge("add", "end")]


def test_wait_until_next_order_resumes_on_the_next_order(store):
    reached = static_segment(store, "Ordered again")
    experience = publish(store, *_next_order_graph(reached), reentry="once")
    customer = make_customer(store)
    first = order_event(make_order(customer, is_subscription=True))
    actions.process_event(first)
    run = Run.objects.get(experience=experience)
    assert run.status == Run.Status.WAITING
    # a redelivery of the first order does not count as the next one
    actions.process_event(first)
    run.refresh_from_db()
    assert run.status == Run.Status.WAITING
    # the next order resumes it
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert SegmentMembership.objects.filter(segment=reached, customer=customer).exists()


def test_exit_criterion_ends_a_waiting_run(store):
    reached = static_segment(store, "Never")
    experience = publish(store, *_wait_graph(reached), exit_criteria=["subscription_cancelled"])
    customer = make_customer(store)
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    # when the customer cancels their subscription
    sub = make_subscription(customer, status="cancelled")
    actions.process_event(event(domain.SUBSCRIPTION_CANCELLED, customer, subscription_id=sub.pk))
    # then the run is exited and its wait cancelled
    run = Run.objects.get(experience=experience)
    assert run.status == Run.Status.EXITED
    assert run.steps.get(node__key="wait").status == RunStep.Status.CANCELLED
    with time_machine.travel(timezone.now() + dt.timedelta(days=4)):
        assert actions.resume_due_waits() == []


def test_pause_ending_runs_in_flight(store):
    reached = static_segment(store, "Paused")
    experience = publish(store, *_wait_graph(reached))
    customer = make_customer(store)
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    actions.pause_experience(experience, in_flight="end")
    assert Run.objects.get(experience=experience).status == Run.Status.EXITED


def test_pause_letting_runs_finish(store):
    reached = static_segment(store, "Paused but finish")
    experience = publish(store, *_wait_graph(reached))
    customer = make_customer(store)
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    actions.pause_experience(experience, in_flight="finish")
    run = Run.objects.get(experience=experience)
    with time_machine.travel(timezone.now() + dt.timedelta(days=4)):
        actions.resume_due_waits()
        actions.advance_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED


def test_condition_branch_takes_first_matching_branch_else_else(store):
    big = static_segment(store, "Big")
    small = static_segment(store, "Small")
    nodes = [
        node("trigger", "trigger", {"confirm_every_order": True}),
        node(
            "branch",
            "condition",
            {
                "branches": [
                    {
                        "label": "big",
                        "conditions": [[{"field": "order.total", "operator": "gte", "value": 100}]],
                    },
                    {
                        "label": "mid",
                        "conditions": [[{"field": "order.total", "operator": "gte", "value": 50}]],
                    },
                ]
            },
        ),
        node("add-big", "segment", {"segment_id": big.pk}),
        node("add-small", "segment", {"segment_id": small.pk}),
        node("end", "end"),
    ]
    edges = [
        edge("trigger", "branch"),
        edge("branch", "add-big", "big"),
        edge("branch", "end", "mid"),
        edge("branch", "add-small", "else"),
        edge("add-big", "end"),
        edge("add-small", "end"),
    ]
    publish(store, nodes, edges, reentry="every_time")
    rich, poor = make_customer(store), make_customer(store)
    actions.process_event(order_event(make_order(rich, is_subscription=True, total="150.00")))
    actions.process_event(order_event(make_order(poor, is_subscription=True, total="10.00")))
    assert SegmentMembership.objects.filter(segment=big, customer=rich).exists()
    assert SegmentMembership.objects.filter(segment=small, customer=poor).exists()
    assert not SegmentMembership.objects.filter(customer=rich, segment=small).exists()


def test_ab_split_assigns_each_customer_the_same_path(store):
    nodes = [
        node("trigger", "trigger", {"confirm_every_order": True}),
        node(
            "split",
            "ab_split",
            {"paths": [{"label": "a", "percent": 50}, {"label": "b", "percent": 50}]},
        ),
        node("end-a", "end"),
        node("end-b", "end"),
    ]
    edges = [edge("trigger", "split"), edge("split", "end-a", "a"), edge("split", "end-b", "b")]
    experience = publish(store, nodes, edges, reentry="every_time")
    customers = [make_customer(store) for _ in range(20)]
    for customer in customers * 2:
        actions.process_event(order_event(make_order(customer, is_subscription=True)))
    paths = {}
    for step in RunStep.objects.filter(
        run__experience=experience, node__key="split"
    ).select_related("run"):
        paths.setdefault(step.run.customer_id, set()).add(step.branch)
    assert all(len(p) == 1 for p in paths.values())
    assert {p for ps in paths.values() for p in ps} == {"a", "b"}


def test_chain_of_experiences_stops_at_depth_limit(
    store, settings, django_capture_on_commit_callbacks
):
    # given two experiences feeding each other through segments
    settings.EXPERIENCES_MAX_CHAIN_DEPTH = 3
    ping = static_segment(store, "Ping")
    pong = static_segment(store, "Pong")

    def flip(source, target):
        return [
            node(
                "trigger",
                "trigger",
                {
                    "event": "customer_entered_segment",
                    "segment_id": source.pk,
                    "confirm_every_order": True,
                },
            ),
            node("remove", "segment", {"action": "remove", "segment_id": source.pk}),
            node("add", "segment", {"action": "add", "segment_id": target.pk}),
            node("end", "end"),
        ], [edge("trigger", "remove"), edge("remove", "add"), edge("add", "end")]

    a = publish(store, *flip(ping, pong), name="A", reentry="every_time")
    b = publish(store, *flip(pong, ping), name="B", reentry="every_time")
    customer = make_customer(store)
    # the announced follow-ups are collected and handed to the engine, as the worker would
    received = []
    with _collecting_events(received):
        from segments.actions import add_to_segment

        with django_capture_on_commit_callbacks(execute=True):
            add_to_segment(ping, customer, source=MembershipSource.MANUAL)
        while received:
            with django_capture_on_commit_callbacks(execute=True):
                actions.process_event(received.pop(0))
    # then the chain stopped and the hit was recorded
    depths = sorted(Run.objects.filter(customer=customer).values_list("depth", flat=True))
    assert depths == [0, 1, 2]
    hit = ChainLimitHit.objects.get()
    assert hit.depth == 3 and hit.experience in (a, b)


@contextlib.contextmanager
def _collecting_events(received):
    """Collect announced events instead of enqueueing them (no broker in this test)."""
    from experiences.receivers import on_domain_events

    domain.domain_events.disconnect(dispatch_uid="experiences.on_domain_events")
    domain.domain_events.connect(
        lambda sender, events, **kw: received.extend(events), weak=False, dispatch_uid="collect"
    )
    try:
        yield
    finally:
        domain.domain_events.disconnect(dispatch_uid="collect")
        domain.domain_events.connect(on_domain_events, dispatch_uid="experiences.on_domain_events")


def test_notification_email_is_written_once_per_step(milestone, milestone_customer):
    customer, order = milestone_customer
    actions.process_event(order_event(order))
    delivery = EmailDelivery.objects.get()
    assert delivery.status == EmailDelivery.Status.SENT
    # a second delivery attempt of the same row sends nothing
    assert actions.deliver_email(delivery.pk) == "not claimed"
    assert len(mail.outbox) == 1


def test_queries_per_event_do_not_grow_with_experiences_not_listening(
    store, milestone, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _, test_customers, _ = milestone

    def milestone_order():
        customer = make_customer(store, subscription_orders_count=3)
        SegmentMembership.objects.create(
            store=store, segment=test_customers, customer=customer, source="manual"
        )
        return order_event(make_order(customer, is_subscription=True))

    # given the count of queries for one milestone order
    first = milestone_order()
    _forget_cached_graphs()
    with CaptureQueriesContext(connection) as before:
        actions.process_event(first)
    # when 30 live experiences listening to another event are added
    seg = static_segment(store, "Other")
    for i in range(30):
        publish(
            store,
            [
                node(
                    "trigger",
                    "trigger",
                    {
                        "event": "customer_left_segment",
                        "segment_id": seg.pk,
                        "confirm_every_order": True,
                    },
                ),
                node("end", "end"),
            ],
            [edge("trigger", "end")],
            name=f"Other {i}",
        )
    second = milestone_order()
    _forget_cached_graphs()
    with CaptureQueriesContext(connection) as after:
        actions.process_event(second)
    # then the same milestone order costs exactly as many queries, and a bounded number
    assert len(after) == len(before) <= 50
    assert Run.objects.filter(status="completed").count() == 2
    # and an event nobody listens to costs a handful
    unheard = event(domain.SUBSCRIPTION_UPDATED, make_customer(store))
    with django_assert_max_num_queries(3):
        actions.process_event(unheard)


def _forget_cached_graphs():
    from experiences.actions import engine, walker

    walker._graphs.clear()
    engine._trigger_configs.clear()
    engine._index_cache.clear()


def test_receiver_wants_only_events_someone_listens_to(
    milestone, milestone_customer, django_assert_num_queries
):
    from experiences.receivers import wanted

    customer, order = milestone_customer
    listened = order_event(order)
    unheard = event(domain.SUBSCRIPTION_UPDATED, customer)
    other = make_store(experiences_enabled=False)
    stranger = event(domain.ORDER_PROCESSED, make_customer(other))
    # a batch of many events costs two queries whatever its size
    batch = [listened, unheard, stranger] + [
        event(domain.SUBSCRIPTION_UPDATED, make_customer(customer.store)) for _ in range(20)
    ]
    with django_assert_num_queries(2):
        chosen = wanted(batch)
    assert chosen == [listened]


def test_receiver_wants_events_of_customers_with_runs_in_flight(milestone, milestone_customer):
    from experiences.receivers import wanted

    # given a customer whose run waits
    customer, order = milestone_customer
    experience = milestone[0]
    run = Run.objects.create(
        store=customer.store,
        experience=experience,
        version=experience.live_version,
        customer=customer,
        trigger_event_key="inbound:1",
        trigger_event_name=domain.ORDER_PROCESSED,
        chain_origin="inbound:1",
        status=Run.Status.WAITING,
    )
    # then an event nobody listens to still reaches the engine (for exit criteria)
    unheard = event(domain.SUBSCRIPTION_UPDATED, customer)
    assert wanted([unheard]) == [unheard]
    Run.objects.filter(pk=run.pk).update(status=Run.Status.COMPLETED)
    assert wanted([unheard]) == []


def test_a_failing_node_fails_the_run_visibly_and_keeps_earlier_steps(store):
    # given a notification valid at publish whose template cannot render for this customer
    # (it divides by the length of a first name, and this customer has none)
    reached = static_segment(store, "Before failure")
    body = "{{ 100 // customer.first_name|length }}% off"
    nodes = [
        node("trigger", "trigger", {"confirm_every_order": True}),
        node("add", "segment", {"segment_id": reached.pk}),
        node("mail", "notification", {"subject": "Hi", "body": body}),
        node("end", "end"),
    ]
    edges = [edge("trigger", "add"), edge("add", "mail"), edge("mail", "end")]
    experience = publish(store, nodes, edges)
    customer = make_customer(store, first_name="")
    # when the customer enters
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    # then the run failed at the notification, which says why; the segment step stands
    run = Run.objects.get(experience=experience)
    assert run.status == Run.Status.FAILED and run.exit_reason.startswith("mail:")
    failed = run.steps.get(node__key="mail")
    assert failed.status == RunStep.Status.FAILED and "division" in failed.error
    assert SegmentMembership.objects.filter(segment=reached, customer=customer).exists()
    assert not EmailDelivery.objects.exists() and not mail.outbox


def test_deleting_a_store_takes_its_experiences_and_runs(store, milestone, milestone_customer):
    # given a store with a live experience and a completed run
    _, order = milestone_customer
    actions.process_event(order_event(order))
    assert Run.objects.exists()
    # when the store is deleted, then everything of it goes, nothing blocks
    store.delete()
    assert not Run.objects.exists() and not RunStep.objects.exists()


def test_live_experiences_using_segment_for_the_deletion_guard(store, milestone):
    from experiences.queries import live_experiences_using_segment

    experience, test_customers, reached = milestone
    unused = static_segment(store, "Unused")
    assert live_experiences_using_segment(test_customers) == [experience]
    assert live_experiences_using_segment(reached) == [experience]
    assert live_experiences_using_segment(unused) == []
    actions.archive_experience(experience)
    assert live_experiences_using_segment(test_customers) == []


def test_upcoming_order_trigger_starts_n_days_before_the_charge(store):
    # given a cross-sell experience starting 3 days before the charge
    reached = static_segment(store, "Cross-sell offered")
    nodes = [
        node(
            "trigger",
            "trigger",
            {"event": "upcoming_order", "days_before": 3, "confirm_every_order": True},
        ),
        node("add", "segment", {"segment_id": reached.pk}),
        node("end", "end"),
    ]
    publish(
        store, nodes, [edge("trigger", "add"), edge("add", "end")], kind="upcoming_order_cross_sell"
    )
    customer = make_customer(store)
    charge = (timezone.now() + dt.timedelta(days=10)).date()
    # when the upcoming order is scheduled ten days ahead
    actions.process_event(
        event(
            domain.UPCOMING_ORDER_SCHEDULED,
            customer,
            upcoming_order_id=1,
            scheduled_at=charge.isoformat(),
        )
    )
    run = Run.objects.get()
    # then the run waits until 3 days before, and goes on then
    assert run.status == Run.Status.WAITING
    assert run.steps.get().due_at.date() == charge - dt.timedelta(days=3)
    with time_machine.travel(timezone.now() + dt.timedelta(days=7, hours=1)):
        actions.resume_due_waits()
        actions.advance_run(run.pk)
    assert SegmentMembership.objects.filter(segment=reached, customer=customer).exists()


def test_wait_until_a_date_field_with_an_offset(store):
    reached = static_segment(store, "Before charge")
    nodes = [
        node("trigger", "trigger", {"confirm_every_order": True}),
        node(
            "wait",
            "wait",
            {"mode": "date_field", "date_field": "next_charge_date", "offset_days": -3},
        ),
        node("add", "segment", {"segment_id": reached.pk}),
        node("end", "end"),
    ]
    publish(store, nodes, [edge("trigger", "wait"), edge("wait", "add"), edge("add", "end")])
    customer = make_customer(store)
    charge = (timezone.now() + dt.timedelta(days=20)).date()
    make_subscription(customer, next_charge_date=charge)
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    step = RunStep.objects.get(node__key="wait")
    assert step.status == RunStep.Status.WAITING
    assert step.due_at.date() == charge - dt.timedelta(days=3)


def test_redelivery_continues_a_run_its_lost_worker_left_running(milestone, milestone_customer):
    # given a run started by an event whose worker died before walking it
    from experiences.actions.engine import start_runs
    from experiences.models import TriggerIndex

    experience, test_customers, reached = milestone
    customer, order = milestone_customer
    ev = order_event(order)
    [run_id] = start_runs([TriggerIndex.objects.get(experience=experience)], customer, ev)
    # and meanwhile the customer left the segment the trigger asks for
    SegmentMembership.objects.filter(segment=test_customers, customer=customer).delete()
    # when the event is delivered again
    actions.process_event(ev)
    # then the started run is walked to its end, once
    run = Run.objects.get()
    assert run.pk == run_id and run.status == Run.Status.COMPLETED
    assert SegmentMembership.objects.filter(segment=reached, customer=customer).exists()
    assert len(mail.outbox) == 1


def test_a_batch_resumes_in_its_second_event_the_wait_its_first_event_started(store):
    # given "wait until the next order" and a customer's two orders arriving in one batch
    reached = static_segment(store, "Ordered twice")
    experience = publish(store, *_next_order_graph(reached), reentry="once")
    customer, other = make_customer(store), make_customer(store)
    first = order_event(make_order(customer, is_subscription=True))
    second = order_event(make_order(customer, is_subscription=True))
    alone = order_event(make_order(other, is_subscription=True))
    # when the batch is handled, the first order delivered twice
    actions.process_events([first, alone, first, second])
    # then the second order found the run the first one started (facts read afresh) and ended it
    run = Run.objects.get(experience=experience, customer=customer)
    assert run.status == Run.Status.COMPLETED
    assert SegmentMembership.objects.filter(segment=reached, customer=customer).exists()
    # and the other customer's run waits, started once
    assert Run.objects.get(experience=experience, customer=other).status == Run.Status.WAITING


def test_a_batch_nobody_listens_to_costs_two_queries_whatever_its_size(
    milestone, django_assert_num_queries
):
    store = milestone[0].store
    batch = [event(domain.SUBSCRIPTION_UPDATED, make_customer(store)) for _ in range(20)]
    # the customers (whether any has runs in flight with them) and the trigger index
    with django_assert_num_queries(2):
        assert actions.process_events(batch) == []
