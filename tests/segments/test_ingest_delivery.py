"""Never lost, never twice: duplicates, a broker outage and a killed worker, with a real Celery
worker, real PostgreSQL and real Redis."""

import threading
import time
from decimal import Decimal

from django.db import connection, connections
from django.test import Client

from segments.ingest import actions
from segments.models import Customer, InboundEvent, Order
from tests.fixtures.payloads import load, post_shopify
from tests.fixtures.worker import purge_queues, wait_until


def _processed(count: int):
    def check():
        return InboundEvent.objects.filter(status=InboundEvent.Status.PROCESSED).count() >= count

    return check


def _order(n: int) -> dict:
    payload = load("shopify_orders_create")
    payload["id"] = 7_000_000 + n
    payload["email"] = payload["customer"]["email"] = f"buyer{n}@example.com"
    payload["customer"]["id"] = 8_000_000 + n
    return payload


def test_same_event_ten_times_five_concurrently_creates_one_order(celery_worker_process, store):
    # given a worker with two processes
    celery_worker_process(concurrency=2)
    payload = load("shopify_orders_create")
    statuses: list[int] = []

    def deliver():
        statuses.append(
            post_shopify(Client(), store, "orders/create", payload, event_id="e-1").status_code
        )
        connection.close()

    # when the same event is delivered 5 times concurrently, then 5 more times
    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for _ in range(5):
        deliver()
    wait_until(_processed(1), message="the event was not processed")
    # and the drain task is redelivered for good measure
    for _ in range(3):
        actions.wake_processing(force=True)
    time.sleep(1.0)
    # then one delivery was accepted, the others were duplicates
    assert sorted(statuses) == [200] * 9 + [202]
    assert InboundEvent.objects.count() == 1
    # and one order exists, and the figures moved once
    assert Order.objects.count() == 1
    customer = Customer.objects.get()
    assert customer.orders_count == 1
    assert customer.total_spent == Decimal("42.90")
    assert InboundEvent.objects.get().attempts == 1


def test_broker_down_while_100_webhooks_arrive_loses_nothing(
    celery_worker_process, store, private_broker, settings
):
    # given the broker is down (and wake-ups are tried in the request, so that none is left
    # pending in the background thread to succeed once the broker is back: the sweep alone
    # must rescue the events)
    settings.INGEST_WAKE_IN_BACKGROUND = False
    private_broker.stop()
    client = Client()
    # when 100 webhooks arrive
    slowest = 0.0
    for n in range(100):
        started = time.perf_counter()
        response = post_shopify(client, store, "orders/create", _order(n))
        slowest = max(slowest, time.perf_counter() - started)
        # then each is answered 202 at once
        assert response.status_code == 202
    assert slowest < 1.0
    assert InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).count() == 100
    # when the broker is back, a worker runs and the sweep runs
    private_broker.start()
    celery_worker_process(concurrency=2, extra_env={"CELERY_BROKER_URL": private_broker.url})
    assert actions.sweep_pending(grace_seconds=0) == 100

    # then all are processed, each once
    wait_until(_processed(100), timeout=60, message="not every event was processed")
    assert Order.objects.count() == 100
    assert set(Customer.objects.values_list("orders_count", flat=True)) == {1}


def test_worker_killed_mid_task_leaves_the_event_processed_once_by_the_next(
    celery_worker_process, store
):
    # given a worker that pauses inside the processing transaction
    worker = celery_worker_process(extra_env={"INGEST_TEST_PAUSE_SECONDS": "30"})
    response = post_shopify(Client(), store, "orders/create", load("shopify_orders_create"))
    assert response.status_code == 202
    wait_until(_customer_lock_held, message="the worker never started processing")
    # when it is killed with SIGKILL mid-task
    worker.kill()
    # then nothing of the event was written and it is still pending
    connections.close_all()
    wait_until(lambda: not _customer_lock_held(), message="the dead worker's lock lingers")
    assert InboundEvent.objects.get().status == InboundEvent.Status.RECEIVED
    assert Order.objects.count() == 0
    # when a new worker starts and the sweep re-dispatches (the broker's redelivery of the
    # unacknowledged task after its visibility timeout would do the same)
    purge_queues()
    celery_worker_process(concurrency=2)
    actions.sweep_pending(grace_seconds=0)
    actions.wake_processing(force=True)
    # then it is processed once
    wait_until(_processed(1), message="the event was not processed after the restart")
    time.sleep(1.0)
    assert Order.objects.count() == 1
    assert Customer.objects.get().orders_count == 1
    assert InboundEvent.objects.get().attempts == 1


def _customer_lock_held() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
        return cursor.fetchone()[0] > 0
