"""Set-based batches: a batch of events costs the same statements whatever its size, and applying
events together gives exactly what applying them one by one gives."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from segments import domain
from segments.ingest.actions import process_batch
from segments.models import Customer, InboundEvent, Order, OrderLine
from tests.fixtures.payloads import load, post_shopify

pytestmark = pytest.mark.django_db


@pytest.fixture
def announced():
    collected: list[domain.DomainEvent] = []

    def receiver(sender, events: list[domain.DomainEvent], **kwargs):
        collected.append(list(events))

    domain.domain_events.connect(receiver, weak=False)
    yield collected
    domain.domain_events.disconnect(receiver)


@pytest.fixture
def apply_pending(django_capture_on_commit_callbacks):
    """Return a function that applies one batch of pending events and its after-commit work."""

    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return process_batch()

    return run


def _order(n: int, *, email: str | None = None, financial_status: str = "paid") -> dict:
    payload = load("shopify_orders_create")
    email = email or f"buyer{n}@example.com"
    payload.update(id=800_000 + n, name=f"#{n}", email=email, financial_status=financial_status)
    payload["customer"] = {**payload["customer"], "id": 600_000 + n, "email": email}
    return payload


def _post_orders(client, store, first: int, count: int) -> None:
    for n in range(first, first + count):
        assert post_shopify(client, store, "orders/create", _order(n)).status_code == 202


def _statements_for_one_batch(django_capture_on_commit_callbacks) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        with django_capture_on_commit_callbacks(execute=True):
            handled = process_batch()
    return handled, len(queries.captured_queries)


def test_a_batch_costs_the_same_statements_whatever_its_size(
    client, store, settings, django_capture_on_commit_callbacks
):
    # given batches of new customers' orders, one of 5 events and one of 60
    settings.INGEST_BATCH_SIZE = 100
    _post_orders(client, store, 0, 5)
    small = _statements_for_one_batch(django_capture_on_commit_callbacks)
    _post_orders(client, store, 100, 60)
    large = _statements_for_one_batch(django_capture_on_commit_callbacks)
    # then both were applied with the same number of statements (receivers included)
    assert (small[0], large[0]) == (5, 60)
    assert small[1] == large[1], (small, large)
    assert small[1] <= 20
    assert Order.objects.count() == 65 and Customer.objects.count() == 65
    assert OrderLine.objects.count() == 65 * len(load("shopify_orders_create")["line_items"])


def test_create_then_paid_of_a_new_order_in_one_batch(client, store, announced, apply_pending):
    # given a new customer's pending order and its payment, waiting in one batch
    post_shopify(client, store, "orders/create", _order(1, financial_status="pending"))
    paid = _order(1)
    paid["updated_at"] = "2026-11-02T10:00:00-05:00"
    post_shopify(client, store, "orders/paid", paid)
    # when they are applied together
    assert apply_pending() == 2
    # then there is one customer with one paid order, its lines once, counted once
    order = Order.objects.get()
    assert order.financial_status == "paid"
    assert OrderLine.objects.filter(order=order).count() == len(paid["line_items"])
    customer = Customer.objects.get()
    assert (customer.orders_count, customer.total_spent) == (1, order.total)
    # and the batch announced one order_processed, as one list, naming the stored order
    assert len(announced) == 1
    assert [(e.name, e.data["order_id"]) for e in announced[0]] == [
        (domain.ORDER_PROCESSED, order.pk)
    ]


def test_two_orders_of_a_new_customer_in_one_batch(client, store, apply_pending):
    # given two orders of one customer nobody has seen, the second naming them by email only
    post_shopify(client, store, "orders/create", _order(1, email="new@example.com"))
    second = _order(2, email="NEW@example.com")
    second["customer"] = {"email": "NEW@example.com"}
    post_shopify(client, store, "orders/create", second)
    # when one batch applies both
    assert apply_pending() == 2
    # then one customer has both orders and the figures count both
    customer = Customer.objects.get()
    assert customer.shopify_id == "600001"
    assert customer.orders_count == 2
    assert customer.total_spent == 2 * Decimal(load("shopify_orders_create")["total_price"])
    assert set(Order.objects.values_list("customer_id", flat=True)) == {customer.pk}


def test_a_bad_event_does_not_hold_back_its_batch(client, store, settings, apply_pending):
    # given a known customer, then a batch with good orders and one contradicting the customer
    settings.INGEST_RETRY_BASE_SECONDS = 0
    _post_orders(client, store, 1, 1)
    apply_pending()
    contradicting = _order(2, email="buyer1@example.com")  # buyer1's email, another Shopify id
    post_shopify(client, store, "orders/create", contradicting)
    _post_orders(client, store, 3, 2)
    # when the batch is applied
    apply_pending()
    # then the good orders are in, the bad one waits for a retry with its error and wrote nothing
    statuses = dict(InboundEvent.objects.values_list("customer_key", "status"))
    assert statuses["buyer3@example.com"] == statuses["buyer4@example.com"] == "processed"
    bad = InboundEvent.objects.get(status=InboundEvent.Status.RECEIVED)
    assert bad.attempts == 1 and "shopify_id 600001" in bad.last_error
    assert not Order.objects.filter(external_id=str(800_002)).exists()
    assert Order.objects.count() == 3


def _customer_update(first_name: str, updated_at: str) -> dict:
    payload = load("shopify_orders_create")["customer"]
    payload.update(first_name=first_name, updated_at=updated_at)
    return payload


def test_an_older_customer_update_changes_nothing(client, store, apply_pending):
    # given the customer's update of 10:00 applied
    post_shopify(client, store, "customers/update", _customer_update("Ten", "2026-11-05T10:00:00Z"))
    apply_pending()
    # when a copy from 09:00 arrives late, and then one from 11:00
    post_shopify(
        client, store, "customers/update", _customer_update("Nine", "2026-11-05T09:00:00Z")
    )
    apply_pending()
    assert Customer.objects.get().first_name == "Ten"
    post_shopify(client, store, "customers/update", _customer_update("Eleven", "2026-11-05T11:00Z"))
    apply_pending()
    # then the older copy was skipped and the newer one applied
    customer = Customer.objects.get()
    assert customer.first_name == "Eleven"
    assert customer.source_updated_at.isoformat() == "2026-11-05T11:00:00+00:00"
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}


@pytest.mark.django_db(transaction=True)
def test_a_database_error_charges_no_attempt_and_leaves_the_event_waiting(client, store):
    # given a known customer whose row another transaction holds locked
    from django.db import OperationalError, connections

    _post_orders(client, store, 1, 1)
    process_batch()
    second = _order(2, email="buyer1@example.com")
    second["customer"]["id"] = 600_001
    post_shopify(client, store, "orders/create", second)
    held, release = threading.Event(), threading.Event()

    def hold_the_customer():
        with transaction.atomic():
            Customer.objects.select_for_update().get(email="buyer1@example.com")
            held.set()
            release.wait(10)
        connections.close_all()

    holder = threading.Thread(target=hold_the_customer)
    holder.start()
    held.wait(10)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        # when a worker's batch cannot lock the customer in time
        with pytest.raises(OperationalError):
            process_batch()
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    # then the event waits for the task's retry, with no attempt charged and no error recorded
    event = InboundEvent.objects.get(
        customer_key="buyer1@example.com", topic="orders/create", attempts=0
    )
    assert event.status == InboundEvent.Status.RECEIVED and event.last_error == ""
    # and once the lock is gone it is applied
    assert process_batch() == 1
    assert Customer.objects.get(email="buyer1@example.com").orders_count == 2
