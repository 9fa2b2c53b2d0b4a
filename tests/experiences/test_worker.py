"""The engine on real Celery workers: duplicates, races, a killed worker, restarts during waits."""

import datetime as dt
import time

import psycopg
import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from experiences import actions
from experiences.models import EmailDelivery, Run, RunStep
from segments import domain
from segments.models import MembershipSource, SegmentHistory, SegmentMembership
from tests.fixtures.factories import make_customer, make_order
from tests.fixtures.worker import wait_until

from .helpers import edge, milestone_graph, node, order_event, publish, static_segment

WORKER_ENV = {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}


@pytest.fixture
def milestone_setup(store):
    test_customers = static_segment(store, "Test Customers")
    reached = static_segment(store, "Milestone 3 reached")
    experience = publish(store, *milestone_graph(test_customers, reached), name="Milestone 3")
    customer = make_customer(store, first_name="Alice", subscription_orders_count=3)
    SegmentMembership.objects.create(
        store=store, segment=test_customers, customer=customer, source=MembershipSource.MANUAL
    )
    order = make_order(customer, is_subscription=True, type="recurring")
    return experience, reached, customer, order


def announce(event):
    with transaction.atomic():
        domain.announce(event)


def test_announced_order_runs_the_milestone_once_on_a_worker(
    celery_worker_process, milestone_setup
):
    # given a worker and the milestone experience
    experience, reached, customer, order = milestone_setup
    celery_worker_process(extra_env=WORKER_ENV)
    ev = order_event(order)
    # when the order is announced, twice (a duplicate webhook)
    announce(ev)
    announce(ev)
    # then one run completes, one membership change, one email sent
    wait_until(lambda: Run.objects.filter(status="completed").exists(), message="no completed run")
    wait_until(
        lambda: EmailDelivery.objects.filter(status="sent").exists(), message="no email sent"
    )
    time.sleep(1)  # let the duplicate be processed too
    assert Run.objects.filter(experience=experience).count() == 1
    assert SegmentHistory.objects.filter(segment=reached, customer=customer).count() == 1
    assert EmailDelivery.objects.filter(status="sent").count() == 1


def test_two_workers_racing_on_one_customer_start_one_run(celery_worker_process, store):
    # given two workers and an experience a customer may enter once
    reached = static_segment(store, "Once")
    nodes = [
        node("trigger", "trigger", {"confirm_every_order": True}),
        node("add", "segment", {"segment_id": reached.pk}),
        node("end", "end"),
    ]
    experience = publish(store, nodes, [edge("trigger", "add"), edge("add", "end")], reentry="once")
    customer = make_customer(store)
    celery_worker_process(extra_env=WORKER_ENV)
    celery_worker_process(extra_env=WORKER_ENV)
    from experiences.tasks import process_event

    # when the same event and two other events of the customer are processed at once
    same = order_event(make_order(customer, is_subscription=True))
    events = [same, same, order_event(make_order(customer, is_subscription=True))] * 2
    for ev in events:
        process_event.delay(ev.as_dict())
    # then exactly one run and one membership change
    wait_until(lambda: Run.objects.filter(status="completed").exists(), message="no run")
    time.sleep(2)
    assert Run.objects.filter(experience=experience).count() == 1
    assert SegmentHistory.objects.filter(customer=customer).count() == 1


def _test_db_dsn() -> str:
    s = connection.settings_dict
    return (
        f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432}"
        f" user={s['USER']} dbname={s['NAME']}"
        + (f" password={s['PASSWORD']}" if s.get("PASSWORD") else "")
    )


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0]


def test_worker_killed_mid_run_completes_it_once(celery_worker_process, milestone_setup):
    # given a worker that will block in the middle of the run: another connection holds the
    # lock of the segment the Segment node changes
    experience, reached, customer, order = milestone_setup
    worker = celery_worker_process(extra_env=WORKER_ENV)
    blocker = psycopg.connect(_test_db_dsn())
    blocker.execute("SELECT id FROM segments_segment WHERE id = %s FOR UPDATE", [reached.pk])
    try:
        announce(order_event(order))
        # when the run has passed its trigger and waits on the lock, the worker is killed
        wait_until(
            lambda: _waiting_on_a_lock(), message="the worker never reached the segment step"
        )
        worker.kill()
    finally:
        blocker.rollback()
        blocker.close()
    assert not SegmentMembership.objects.filter(segment=reached, customer=customer).exists()
    # and a new worker picks the unacknowledged task up again
    time.sleep(3)
    celery_worker_process(extra_env={**WORKER_ENV, "CELERY_VISIBILITY_TIMEOUT": "2"})
    # then the run completes, with one membership change and one email
    wait_until(
        lambda: Run.objects.filter(status="completed").exists(), timeout=40, message="not resumed"
    )
    wait_until(lambda: EmailDelivery.objects.filter(status="sent").exists(), message="no email")
    assert Run.objects.filter(experience=experience).count() == 1
    assert SegmentHistory.objects.filter(segment=reached, customer=customer).count() == 1
    assert EmailDelivery.objects.count() == 1
    assert RunStep.objects.filter(run__experience=experience).count() == 4


def test_three_day_wait_resumes_after_every_worker_restarted(celery_worker_process, store):
    # given a run waiting three days, on a worker
    reached = static_segment(store, "Waited")
    nodes = [
        node("trigger", "trigger", {"confirm_every_order": True}),
        node("wait", "wait", {"mode": "duration", "minutes": 3 * 24 * 60}),
        node("add", "segment", {"segment_id": reached.pk}),
        node("end", "end"),
    ]
    publish(store, nodes, [edge("trigger", "wait"), edge("wait", "add"), edge("add", "end")])
    customer = make_customer(store)
    first = celery_worker_process(extra_env=WORKER_ENV)
    announce(order_event(make_order(customer, is_subscription=True)))
    wait_until(lambda: Run.objects.filter(status="waiting").exists(), message="no waiting run")
    # when every worker stops and a new one starts
    first.stop()
    celery_worker_process(extra_env=WORKER_ENV)
    # and the sweep runs three days later
    with time_machine.travel(timezone.now() + dt.timedelta(days=3, minutes=1)):
        resumed = actions.resume_due_waits()
    # then the run resumes and completes
    assert len(resumed) == 1
    wait_until(lambda: Run.objects.filter(status="completed").exists(), message="not resumed")
    assert SegmentMembership.objects.filter(segment=reached, customer=customer).exists()
