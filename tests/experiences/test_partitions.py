"""Runs and steps partitioned by the month of their triggering event: months kept ahead, one run
per event and one step per node and rotation across month boundaries, the rotation counted once,
and the hot reads pruned to the months they name."""

import datetime as dt

import pytest
import time_machine
from celery import current_app
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from experiences import actions
from experiences.actions.engine import process_one
from experiences.models import Run, RunInFlight, RunRotation, RunStep
from experiences.tasks import advance_run as advance_run_task
from segments import partitions
from tests.fixtures.factories import make_customer, make_order

from .helpers import edge, node, order_event, publish, static_segment

pytestmark = pytest.mark.django_db
RUNS, STEPS = "experiences_run", "experiences_runstep"
THREE_DAYS = 3 * 24 * 60


def _month(n: int) -> dt.date:
    return partitions.add_months(partitions.month_start(dt.datetime.now(dt.UTC).date()), n)


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), dt.UTC)


def _last_day_of_this_month() -> dt.datetime:
    return _noon(_month(1)) - dt.timedelta(days=1)


def _partition_of(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(line for (line,) in cursor.fetchall())


def _touched(plan: str, table: str) -> set[str]:
    names = partitions.existing_partitions(table)
    return {name for name in names if f" {name} " in plan or plan.endswith(f" {name}")}


def _graph(reached, *, wait_minutes=None):
    """Every order enters; (a wait;) the customer is added to ``reached``."""
    nodes = [node("trigger", "trigger", {"confirm_every_order": True})]
    edges = []
    last = "trigger"
    if wait_minutes:
        nodes.append(node("wait", "wait", {"mode": "duration", "minutes": wait_minutes}))
        edges.append(edge("trigger", "wait"))
        last = "wait"
    nodes += [
        node("add", "segment", {"action": "add", "segment_id": reached.pk}),
        node("end", "end"),
    ]
    edges += [edge(last, "add"), edge("add", "end")]
    return nodes, edges


def test_runs_and_steps_have_months_ahead_and_the_beat_task_adds_more():
    for table in (RUNS, STEPS):
        names = partitions.existing_partitions(table)
        wanted = {partitions.partition_name(table, _month(n)) for n in range(4)}
        assert wanted | {partitions.default_partition(table)} <= names
    # when the beat task keeps four months ahead, the fifth month is created once for each
    created = partitions.ensure_partitions(months_ahead=4)
    assert {partitions.partition_name(t, _month(4)) for t in (RUNS, STEPS)} <= set(created)
    assert partitions.ensure_partitions(months_ahead=4) == []


def test_an_event_redelivered_next_month_keeps_one_run(store):
    # given an experience every order enters, and an order on the last day of the month
    reached = static_segment(store, "Reached")
    experience = publish(store, *_graph(reached), reentry="every_time")
    customer = make_customer(store)
    with time_machine.travel(_last_day_of_this_month()):
        event = order_event(make_order(customer, is_subscription=True))
        actions.process_event(event)
    run = Run.objects.get(experience=experience)
    assert run.month == _month(0)
    assert _partition_of(RUNS, run.pk) == partitions.partition_name(RUNS, _month(0))
    # when the event is delivered again next month, by the batch and by the one-by-one path
    with time_machine.travel(_noon(_month(1)) + dt.timedelta(days=2)):
        actions.process_event(event)
        process_one(event)
    # then it still started one run, counted as one entry
    assert list(Run.objects.filter(experience=experience)) == [run]
    assert RunRotation.objects.get(experience=experience, customer=customer).rotation == 1
    # and the database itself refuses a second run of that event
    duplicate = Run.objects.get(pk=run.pk)
    duplicate.pk, duplicate.rotation = None, 2
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_each_entry_takes_the_next_rotation_from_the_counter(store):
    # given an experience every order enters
    reached = static_segment(store, "Reached")
    experience = publish(store, *_graph(reached), reentry="every_time")
    customer = make_customer(store)
    # when the customer orders three times, in the batch and one-by-one paths
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    process_one(order_event(make_order(customer, is_subscription=True)))
    # then the runs are the 1st, 2nd and 3rd entries and the counter says 3
    rotations = Run.objects.filter(experience=experience).values_list("rotation", flat=True)
    assert sorted(rotations) == [1, 2, 3]
    assert RunRotation.objects.get(experience=experience, customer=customer).rotation == 3


def test_a_wait_resumed_next_month_keeps_its_steps_in_the_runs_month(store):
    # given a run that starts waiting three days on the last day of the month
    reached = static_segment(store, "Reached")
    experience = publish(store, *_graph(reached, wait_minutes=THREE_DAYS))
    customer = make_customer(store)
    start = _last_day_of_this_month()
    with time_machine.travel(start):
        actions.process_event(order_event(make_order(customer, is_subscription=True)))
    run = Run.objects.get(experience=experience)
    assert run.status == Run.Status.WAITING
    # when it resumes next month, and its walk is delivered twice
    with time_machine.travel(start + dt.timedelta(days=3, minutes=1)):
        assert actions.resume_due_waits() == [run.pk]
        actions.advance_run(run.pk)
        actions.advance_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    # then every node has one step, all in the run's month
    steps = list(RunStep.objects.filter(run=run))
    assert len(steps) == len({s.node_id for s in steps}) == 4
    assert {s.month for s in steps} == {_month(0)}
    assert {_partition_of(STEPS, s.pk) for s in steps} == {
        partitions.partition_name(STEPS, _month(0))
    }
    # and the database refuses a second step of a node in that rotation
    with pytest.raises(IntegrityError), transaction.atomic():
        RunStep.objects.create(run=run, node_id=steps[0].node_id, rotation=1, status="done")


def test_the_redelivery_check_and_a_walks_steps_read_only_their_month(store):
    # given a waiting run whose event occurred this month
    reached = static_segment(store, "Reached")
    publish(store, *_graph(reached, wait_minutes=THREE_DAYS), reentry="every_time")
    customer = make_customer(store)
    other = make_customer(store)
    # when a new customer's event starts a run (the batch), another the one-by-one path, and
    # the wait is resumed and walked
    with CaptureQueriesContext(connection) as started:
        actions.process_event(order_event(make_order(customer, is_subscription=True)))
        process_one(order_event(make_order(other, is_subscription=True)))
    with time_machine.travel(_noon(_month(0)) + dt.timedelta(days=40)):
        actions.resume_due_waits()
        run = Run.objects.filter(customer=customer).get()
        with CaptureQueriesContext(connection) as walked:
            actions.advance_run(run.pk)
    # then the redelivery checks (runs by event key and month) read this month's partition only
    batch = [q["sql"] for q in started.captured_queries if "UNION ALL" in q["sql"]]
    checks = [sql.split("UNION ALL")[1].strip()[1:-1] for sql in batch]  # (its parentheses)
    checks += [
        q["sql"]
        for q in started.captured_queries
        if q["sql"].startswith(f'SELECT "{RUNS}"."experience_id"')
        and '"trigger_event_key" =' in q["sql"]
    ]
    assert len(checks) == 2  # the batch's and start_runs'
    for sql in checks:
        assert _touched(_plan(sql), RUNS) == {partitions.partition_name(RUNS, _month(0))}
    # and the walk read its steps from its run's month only
    reads = [
        q["sql"]
        for q in walked.captured_queries
        if q["sql"].startswith("SELECT") and f'FROM "{STEPS}"' in q["sql"]
    ]
    assert reads
    for sql in reads:
        assert _touched(_plan(sql), STEPS) == {partitions.partition_name(STEPS, _month(0))}
    # and read its run by id from that month only (its month from the in-flight table), where
    # an id alone probes every month's primary key
    runs = [
        q["sql"]
        for q in walked.captured_queries
        if q["sql"].startswith("SELECT") and f'FROM "{RUNS}"' in q["sql"]
    ]
    assert len(runs) == 2  # advance_run's, then the walk's under its row lock
    for sql in runs:
        assert _touched(_plan(sql), RUNS) == {partitions.partition_name(RUNS, _month(0))}
    every_month = _plan(f'SELECT * FROM "{RUNS}" WHERE id = {run.pk}')
    assert len(_touched(every_month, RUNS)) > 1


def test_a_walk_task_names_its_runs_month(
    store, private_broker, django_capture_on_commit_callbacks
):
    # given a run waiting three days
    reached = static_segment(store, "Reached")
    publish(store, *_graph(reached, wait_minutes=THREE_DAYS))
    customer = make_customer(store)
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    run = Run.objects.get(customer=customer)
    # when the sweep resumes it (its walk sent on commit to the broker)
    with time_machine.travel(timezone.now() + dt.timedelta(days=4)):
        with django_capture_on_commit_callbacks(execute=True):
            assert actions.resume_due_waits() == [run.pk]
    with current_app.connection_for_write() as conn:
        message = conn.default_channel.basic_get("experiences", no_ack=True)
    # then the walk task the broker holds carries the run's month, and it completes the run
    assert message.headers["task"] == "experiences.advance_run"
    args, kwargs, _embed = message.decode()
    assert args == [run.pk, run.month.isoformat()] and not kwargs
    result = advance_run_task.apply(args=args, task_id=message.headers["id"]).get()
    assert result == Run.Status.COMPLETED


def _in_flight_agrees() -> set[tuple[int, int, dt.date]]:
    """The in-flight table equals the running and waiting runs; return its rows."""
    kept = set(RunInFlight.objects.values_list("run_id", "customer_id", "month"))
    active = set(
        Run.objects.filter(status__in=Run.ACTIVE).values_list("pk", "customer_id", "month")
    )
    assert kept == active
    return kept


def test_runs_in_flight_are_kept_by_the_database_through_every_change(store):
    # given an experience that waits three days, and two customers
    reached = static_segment(store, "Reached")
    experience = publish(store, *_graph(reached, wait_minutes=THREE_DAYS))
    first, second = make_customer(store), make_customer(store)
    # when both enter (the batch path) and wait
    actions.process_events(
        [order_event(make_order(c, is_subscription=True)) for c in (first, second)]
    )
    # then both runs are in flight
    assert {row[1] for row in _in_flight_agrees()} == {first.pk, second.pk}
    # when the first one's wait ends and it completes, and a bulk update ends the second
    run = Run.objects.get(customer=first)
    with time_machine.travel(timezone.now() + dt.timedelta(days=3, minutes=1)):
        actions.resume_due_waits()
        actions.advance_run(run.pk)
    assert Run.objects.get(pk=run.pk).status == Run.Status.COMPLETED
    assert {row[1] for row in _in_flight_agrees()} == {second.pk}
    Run.objects.filter(customer=second).update(status=Run.Status.EXITED)
    assert _in_flight_agrees() == set()
    # and a run put back to waiting is in flight again, and leaves with its deletion
    Run.objects.filter(customer=second).update(status=Run.Status.WAITING)
    assert len(_in_flight_agrees()) == 1
    Run.objects.filter(customer=second).delete()
    assert _in_flight_agrees() == set()
    assert experience.runs.count() == 1
