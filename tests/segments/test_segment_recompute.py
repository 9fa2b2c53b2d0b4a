"""Full recompute, versions, the stuck sweep, and the incremental evaluation of one customer."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from segments import domain
from segments.actions import announce_history_range, request_recompute, update_segment
from segments.apps import evaluate_segments_after_events
from segments.models import (
    Customer,
    JobStatus,
    Segment,
    SegmentCalculation,
    SegmentHistory,
    SegmentMembership,
)
from segments.recompute import (
    evaluate_customer,
    evaluate_customers,
    recompute_all_dynamic_segments,
    run_calculation,
    sweep_stuck_calculations,
)
from tests.fixtures.factories import make_customer

from .segment_helpers import dynamic_segment, member_emails


@pytest.fixture
def received(received_events):
    return received_events


def test_recompute_writes_only_the_diff_with_history(store, settings):
    # given a computed segment, computed in ranges of 2 customer ids
    settings.SEGMENT_RECOMPUTE_CHUNK = 2
    a = make_customer(store, email="a@x.com", orders_count=5)
    b = make_customer(store, email="b@x.com", orders_count=5)
    make_customer(store, email="c@x.com", orders_count=1)
    segment = dynamic_segment(store, "orders_count >= 3")
    assert member_emails(segment) == {"a@x.com", "b@x.com"}
    # when one member stops matching and a non-member starts matching
    Customer.objects.filter(pk=a.pk).update(orders_count=0)
    Customer.objects.filter(email="c@x.com").update(orders_count=9)
    calculation = request_recompute(segment, trigger="manual")
    calculation = run_calculation(calculation.pk)
    # then only the two changes are written, with history, and the count follows
    segment.refresh_from_db()
    assert member_emails(segment) == {"b@x.com", "c@x.com"}
    assert (calculation.status, calculation.added, calculation.removed) == ("done", 1, 1)
    assert calculation.rows_done == calculation.rows_total == 3
    assert segment.member_count == 2 and segment.status == "done"
    assert segment.calculated_version == segment.version
    rows = SegmentHistory.objects.filter(segment=segment, reference=f"calculation:{calculation.pk}")
    assert sorted(rows.values_list("customer__email", "action")) == [
        ("a@x.com", "removed"),
        ("c@x.com", "added"),
    ]
    # and the untouched member keeps its original row
    assert SegmentMembership.objects.get(segment=segment, customer=b).reference.startswith(
        "calculation:"
    )


def test_running_the_same_calculation_twice_changes_nothing(store):
    make_customer(store, orders_count=5)
    segment = dynamic_segment(store, "orders_count >= 3")
    calculation = SegmentCalculation.objects.get(segment=segment)
    history_before = SegmentHistory.objects.count()
    run_calculation(calculation.pk)
    assert SegmentHistory.objects.count() == history_before
    segment.refresh_from_db()
    assert segment.member_count == 1


def test_a_rule_edit_supersedes_a_calculation_of_the_older_version(store):
    # given a queued calculation of version 1
    make_customer(store, orders_count=5)
    segment = dynamic_segment(store, "orders_count >= 3")
    old = request_recompute(segment, trigger="manual")
    # when the rule is edited before it runs
    segment = update_segment(segment, rule="orders_count >= 10")
    assert segment.version == 2
    old = run_calculation(old.pk)
    # then the old run gives way and writes nothing; the new version's run applies the new rule
    assert old.status == JobStatus.SUPERSEDED
    assert member_emails(segment) != set()
    new = SegmentCalculation.objects.get(segment=segment, version=2)
    run_calculation(new.pk)
    assert member_emails(segment) == set()


def test_a_range_committed_after_an_edit_is_rolled_back(store, settings):
    # given a calculation that has started, when a rule edit lands between its ranges
    settings.SEGMENT_RECOMPUTE_CHUNK = 1
    for _ in range(3):
        make_customer(store, orders_count=5)
    segment = dynamic_segment(store, "orders_count >= 10")
    calculation = request_recompute(segment, trigger="manual")
    from segments import recompute

    original = recompute._apply_range
    calls = []

    def edit_after_first_range(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            Segment.objects.filter(pk=segment.pk).update(version=99, rule="orders_count >= 3")
        return original(*args, **kwargs)

    recompute._apply_range = edit_after_first_range
    try:
        Segment.objects.filter(pk=segment.pk).update(rule="orders_count >= 3")
        result = run_calculation(calculation.pk)
    finally:
        recompute._apply_range = original
    # then it stops: only the first range was written, the second one did not commit
    assert result.status == JobStatus.SUPERSEDED
    assert SegmentMembership.objects.filter(segment=segment).count() == 1


def test_sweep_restarts_a_calculation_that_stopped_moving(store):
    make_customer(store, orders_count=5)
    segment = dynamic_segment(store, "orders_count >= 3")
    stuck = SegmentCalculation.objects.create(
        store=store,
        segment=segment,
        version=segment.version,
        status=JobStatus.RUNNING,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    fresh_ids = sweep_stuck_calculations()
    stuck.refresh_from_db()
    assert stuck.status == JobStatus.FAILED and "restarted by the sweep" in stuck.error
    assert len(fresh_ids) == 1
    fresh = SegmentCalculation.objects.get(pk=fresh_ids[0])
    assert fresh.trigger == "sweep" and run_calculation(fresh.pk).status == JobStatus.DONE
    # and a moving calculation is left alone
    assert sweep_stuck_calculations() == []


def test_periodic_recompute_queues_every_idle_dynamic_segment(store):
    dynamic_segment(store, "orders_count >= 3", name="One")
    dynamic_segment(store, "orders_count >= 4", name="Two")
    assert recompute_all_dynamic_segments() == 2
    assert recompute_all_dynamic_segments() == 0  # already queued


def test_bulk_changes_are_announced_with_history_keys(store, received):
    make_customer(store, email="a@x.com", orders_count=5)
    segment = dynamic_segment(store, "orders_count >= 3")
    row = SegmentHistory.objects.get(segment=segment)
    sent = announce_history_range(segment.pk, row.reference, row.pk, row.pk)
    assert sent == 1
    assert received[-1].name == domain.CUSTOMER_ENTERED_SEGMENT
    assert received[-1].key == f"segment-history:{row.pk}"


def test_incremental_evaluation_of_many_segments_takes_three_queries_and_its_outbox_write(
    store, django_assert_max_num_queries, django_capture_on_commit_callbacks, received
):
    # given 30 dynamic segments and a customer who just placed an order
    customer = make_customer(store, orders_count=0, total_spent=Decimal("0"))
    for n in range(30):
        dynamic_segment(store, f"orders_count >= {n % 3 + 1} AND total_spent > {n}", name=f"S{n}")
    Customer.objects.filter(pk=customer.pk).update(
        orders_count=2, total_spent=Decimal("20"), last_order_at=timezone.now()
    )
    cause = domain.DomainEvent("order_processed", store.pk, customer.pk, key="inbound:1")
    # when the customer is evaluated
    with django_capture_on_commit_callbacks(execute=True):
        with django_assert_max_num_queries(3 + 1):  # + the outbox row of its announcements
            result = evaluate_customer(store.pk, customer.pk, cause=cause)
    # then they enter exactly the matching segments, with history and events chained to the order
    expected = {f"S{n}" for n in range(30) if n % 3 + 1 <= 2 and 20 > n}
    assert set(Segment.objects.filter(pk__in=result.entered).values_list("name", flat=True)) == (
        expected
    )
    assert SegmentHistory.objects.filter(customer=customer, action="added").count() == len(expected)
    entered = [e for e in received if e.name == domain.CUSTOMER_ENTERED_SEGMENT]
    assert len(entered) == len(expected) and all(e.origin == "inbound:1" for e in entered)
    assert all(e.depth == 1 for e in entered)
    # and counts follow; evaluating again changes nothing
    assert Segment.objects.get(name="S0").member_count == 1
    with django_assert_max_num_queries(2):
        again = evaluate_customer(store.pk, customer.pk)
    assert again.entered == again.left == []


def test_incremental_evaluation_removes_a_customer_who_no_longer_matches(store):
    customer = make_customer(store, orders_count=5)
    segment = dynamic_segment(store, "orders_count >= 3")
    Customer.objects.filter(pk=customer.pk).update(orders_count=1)
    result = evaluate_customer(store.pk, customer.pk)
    assert result.left == [segment.pk]
    segment.refresh_from_db()
    assert segment.member_count == 0
    assert SegmentHistory.objects.filter(segment=segment, action="removed").count() == 1


def _queued_segment_tasks() -> list:
    from config.celery import app

    found = []
    with app.connection_for_write() as conn:
        while (message := conn.default_channel.basic_get("segments", no_ack=True)) is not None:
            found.append(message)
    return found


def test_a_batch_of_events_queues_one_evaluation_for_its_customers(store, customer):
    # given a store with a dynamic segment and an empty segments queue on the real broker
    dynamic_segment(store, "orders_count >= 3")
    other = make_customer(store)
    _queued_segment_tasks()
    # when one batch announces two events for one customer, one for another and a segment event
    batch = [
        domain.DomainEvent("order_processed", store.pk, customer.pk, key="inbound:9"),
        domain.DomainEvent("customer_entered_segment", store.pk, customer.pk, key="x"),
        domain.DomainEvent("order_processed", store.pk, other.pk, key="inbound:10"),
        domain.DomainEvent("order_cancelled", store.pk, customer.pk, key="inbound:11"),
    ]
    evaluate_segments_after_events(sender=None, events=batch)
    # then exactly one task is queued, evaluating each customer once after their last event
    messages = _queued_segment_tasks()
    assert [m.headers["task"] for m in messages] == ["segments.evaluate_customers"]
    store_id, causes = messages[0].decode()[0]
    assert store_id == store.pk
    assert sorted((c["customer_id"], c["key"]) for c in causes) == sorted(
        [(customer.pk, "inbound:11"), (other.pk, "inbound:10")]
    )


def test_a_store_without_dynamic_segments_queues_no_evaluation(store, customer):
    # given a store with only a static segment
    Segment.objects.create(store=store, name="VIP", kind=Segment.Kind.STATIC)
    _queued_segment_tasks()
    # when an order event is announced
    event = domain.DomainEvent("order_processed", store.pk, customer.pk, key="inbound:9")
    evaluate_segments_after_events(sender=None, events=[event])
    # then nothing is queued: there is nothing a rule could change
    assert _queued_segment_tasks() == []


def test_the_batch_evaluation_task_moves_each_customer(store):
    # given two customers who now match a dynamic segment they are not in
    from segments.tasks import evaluate_customers

    segment = dynamic_segment(store, "orders_count >= 3")
    first, second = make_customer(store), make_customer(store)
    Customer.objects.filter(pk__in=[first.pk, second.pk]).update(orders_count=4)
    causes = [
        domain.DomainEvent("order_processed", store.pk, c.pk, key=f"inbound:{c.pk}").as_dict()
        for c in (first, second)
    ]
    # when the batch task runs
    assert evaluate_customers.run(store.pk, causes) == 2
    # then both entered, each with history naming the event that caused it
    references = set(
        SegmentHistory.objects.filter(segment=segment, action="added").values_list(
            "reference", flat=True
        )
    )
    assert references == {f"event:inbound:{first.pk}", f"event:inbound:{second.pk}"}


def test_time_travel_changes_relative_rules(store):
    customer = make_customer(store, last_order_at=timezone.now())
    segment = dynamic_segment(store, "last_order_date > -30d")
    assert member_emails(segment) == {customer.email}
    with time_machine.travel(timezone.now() + timedelta(days=45)):
        run_calculation(request_recompute(segment, trigger="manual").pk)
    assert member_emails(segment) == set()


def test_incremental_evaluation_follows_segments_that_test_other_segments(store):
    # given a segment whose rule tests membership of another dynamic segment
    customer = make_customer(store, orders_count=0)
    base = dynamic_segment(store, "orders_count >= 3", name="Loyal")
    derived = dynamic_segment(store, "segment = 'Loyal' AND email_domain = 'example.com'")
    # when the customer starts matching the base segment
    Customer.objects.filter(pk=customer.pk).update(orders_count=4)
    result = evaluate_customer(store.pk, customer.pk)
    # then they enter both, the derived one in a second pass of the same evaluation
    assert result.entered == [base.pk, derived.pk]
    assert member_emails(derived) == {customer.email}


def test_many_customers_are_evaluated_together_in_three_queries_and_the_outbox_write(
    store, django_assert_max_num_queries, django_capture_on_commit_callbacks, received
):
    # given 6 dynamic segments, 40 customers whose order counts just changed, one of them a
    # member of every segment who now matches none
    segments = [
        dynamic_segment(store, f"orders_count >= {n + 1}", name=f"At least {n + 1}")
        for n in range(6)
    ]
    leaving = make_customer(store, orders_count=9)
    assert len(evaluate_customer(store.pk, leaving.pk).entered) == 6
    customers = [leaving] + [make_customer(store, orders_count=0) for _ in range(39)]
    for n, customer in enumerate(customers):
        Customer.objects.filter(pk=customer.pk).update(orders_count=n % 8)
    causes = [
        (c.pk, domain.DomainEvent("order_processed", store.pk, c.pk, key=f"inbound:{c.pk}"))
        for c in customers
    ]
    # when they are evaluated in one call
    with django_capture_on_commit_callbacks(execute=True):
        with django_assert_max_num_queries(3 + 1):  # + the outbox row of its announcements
            results = evaluate_customers(store.pk, causes)
    # then each holds exactly the segments their count reaches, and the counts follow
    for n, customer in enumerate(customers):
        expected = {s.pk for k, s in enumerate(segments) if n % 8 >= k + 1}
        held = set(
            SegmentMembership.objects.filter(customer=customer).values_list("segment_id", flat=True)
        )
        assert held == expected, (n, held, expected)
    assert results[leaving.pk].left == [s.pk for s in segments]
    for segment in segments:
        segment.refresh_from_db()
        assert segment.member_count == SegmentMembership.objects.filter(segment=segment).count()
    # and every change names its own customer's event, in the history and in the announcements
    for row in SegmentHistory.objects.filter(reference__startswith="event:"):
        assert row.reference == f"event:inbound:{row.customer_id}"
    moved = [e for e in received if e.name.startswith("customer_")]
    assert moved and all(e.origin == f"inbound:{e.customer_id}" for e in moved)
    assert len(moved) == SegmentHistory.objects.filter(reference__startswith="event:").count()
