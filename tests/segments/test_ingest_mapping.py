"""Realistic deliveries applied field by field: customers, orders, lines, subscriptions, charges,
the customers' derived figures, and the domain events announced after commit."""

import datetime as dt
from decimal import Decimal

import pytest

from segments import domain
from segments.ingest.actions import process_batch
from segments.models import (
    Customer,
    InboundEvent,
    Order,
    OrderLine,
    Subscription,
    UpcomingOrder,
)
from tests.fixtures.payloads import load, post_recharge, post_shopify

pytestmark = pytest.mark.django_db
UTC = dt.UTC


@pytest.fixture
def announced(received_events):
    return received_events


@pytest.fixture
def process(django_capture_on_commit_callbacks):
    """Return a function that applies every pending event and runs the after-commit work."""

    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return process_batch()

    return run


def test_shopify_first_subscription_order_maps_field_by_field(client, store, process, announced):
    # given Recharge's first order in Shopify, tagged "Subscription First Order"
    post_shopify(client, store, "orders/create", load("shopify_orders_create"))
    # when it is processed
    assert process() == 1
    # then the customer
    customer = Customer.objects.get()
    assert customer.store_id == store.pk
    assert customer.shopify_id == "7012345678901"
    assert customer.email == "jane.doe@example.com"
    assert (customer.first_name, customer.last_name) == ("Jane", "Doe")
    assert customer.tags == ["coffee-club", "vip"]
    assert customer.accepts_marketing is True
    # and the order
    order = Order.objects.get()
    assert order.customer_id == customer.pk
    assert order.external_id == "5321456789012"
    assert order.name == "#1042"
    assert order.number == 1042
    assert order.total == Decimal("42.90")
    assert order.currency == "USD"
    assert order.source == Order.Source.RECHARGE_CHECKOUT
    assert order.type == Order.Type.CHECKOUT
    assert order.is_subscription is True
    assert order.is_first_subscription_order is True
    assert order.discount_codes == ["WELCOME10"]
    assert order.financial_status == "paid"
    assert order.processed_at == dt.datetime(2026, 11, 2, 14, 14, 2, tzinfo=UTC)
    assert order.cancelled_at is None
    # and its lines
    lines = list(OrderLine.objects.order_by("id").values())
    assert [(line["product_id"], line["variant_id"]) for line in lines] == [
        ("8123456789012", "45123456789012"),
        ("8123456789099", "45123456789099"),
    ]
    assert [line["sku"] for line in lines] == ["HB-12-WB", "MUG-01"]
    assert [line["title"] for line in lines] == ["House Blend Coffee", "Ceramic Mug"]
    assert [line["quantity"] for line in lines] == [2, 1]
    assert [line["price"] for line in lines] == [Decimal("18.00"), Decimal("8.00")]
    assert {line["customer_id"] for line in lines} == {customer.pk}
    assert {line["store_id"] for line in lines} == {store.pk}
    # and the figures
    assert customer.orders_count == 1
    assert customer.subscription_orders_count == 1
    assert customer.total_spent == Decimal("42.90")
    assert customer.subscription_aov == Decimal("42.90")
    assert customer.first_order_at == customer.last_order_at == order.processed_at
    assert customer.streak == 1
    # and the event is processed, and order_processed announced for experiences
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.PROCESSED
    assert event.attempts == 1
    assert [(e.name, e.key, e.customer_id, e.store_id) for e in announced] == [
        (domain.ORDER_PROCESSED, f"inbound:{event.pk}", customer.pk, store.pk)
    ]
    assert announced[0].data == {
        "order_id": order.pk,
        "is_subscription": True,
        "is_first_subscription_order": True,
        "order_type": "checkout",
        "total": "42.90",
    }


def test_shopify_recurring_order_is_not_a_first_order(client, store, process, announced):
    post_shopify(client, store, "orders/create", load("shopify_orders_create"))
    post_shopify(client, store, "orders/paid", load("shopify_orders_paid"))
    process()
    recurring = Order.objects.get(external_id="5321456789555")
    assert recurring.type == Order.Type.RECURRING
    assert recurring.is_subscription is True
    assert recurring.is_first_subscription_order is False
    customer = Customer.objects.get()
    assert customer.orders_count == 2
    assert customer.total_spent == Decimal("78.90")
    assert customer.subscription_aov == Decimal("39.45")
    assert customer.streak == 2
    assert customer.last_order_at == recurring.processed_at
    assert [e.data["order_type"] for e in announced] == ["checkout", "recurring"]


def test_recharge_charge_paid_maps_to_an_order_and_reported_streak(client, store, process):
    # given a recurring charge paid in Recharge, whose customer has a streak of 4
    post_recharge(client, store, "charge/paid", load("recharge_charge_paid"))
    # when
    process()
    # then
    customer = Customer.objects.get()
    assert customer.recharge_id == "87654321"
    assert customer.shopify_id == "7012345678901"
    assert customer.email == "jane.doe@example.com"
    order = Order.objects.get()
    assert order.external_id == "5321456790001"
    assert order.recharge_id == "912345678"
    assert order.total == Decimal("39.20")
    assert order.currency == "USD"
    assert order.source == Order.Source.RECHARGE_CHECKOUT
    assert order.type == Order.Type.RECURRING
    assert order.is_subscription is True
    assert order.is_first_subscription_order is False
    assert order.discount_codes == ["LOYAL5"]
    assert order.financial_status == "paid"
    assert order.processed_at == dt.datetime(2026, 11, 25, 4, 0, 9, tzinfo=UTC)
    line = OrderLine.objects.get()
    assert (line.product_id, line.variant_id, line.sku) == (
        "8123456789012",
        "45123456789012",
        "HB-12-WB",
    )
    assert (line.title, line.quantity, line.price) == ("House Blend Coffee", 2, Decimal("17.10"))
    assert customer.streak == 4
    assert customer.orders_count == 1


def test_shopify_order_and_recharge_charge_of_one_order_merge(client, store, process, announced):
    # given Recharge's charge and Shopify's order describe the same Shopify order
    charge = load("recharge_charge_paid")
    order = load("shopify_orders_paid")
    order["id"] = int(charge["charge"]["external_order_id"]["ecommerce"])
    post_recharge(client, store, "charge/paid", charge)
    post_shopify(client, store, "orders/paid", order)
    # when both are processed
    process()
    # then there is one order, counted once, announced once
    assert Order.objects.count() == 1
    merged = Order.objects.get()
    assert merged.name == "#1043"
    assert merged.recharge_id == "912345678"
    assert Customer.objects.get().orders_count == 1
    assert [e.name for e in announced] == [domain.ORDER_PROCESSED]


def test_subscription_created_maps_field_by_field(client, store, process, announced):
    post_recharge(client, store, "subscription/created", load("recharge_subscription_created"))
    process()
    sub = Subscription.objects.get()
    customer = Customer.objects.get()
    assert sub.customer_id == customer.pk
    assert customer.recharge_id == "87654321"
    assert customer.email == "jane.doe@example.com"
    assert sub.recharge_id == "55501234"
    assert (sub.product_id, sub.variant_id, sub.sku) == (
        "8123456789012",
        "45123456789012",
        "HB-12-WB",
    )
    assert sub.product_title == "House Blend Coffee"
    assert sub.quantity == 2
    assert sub.price == Decimal("18.00")
    assert (sub.interval_unit, sub.interval_frequency) == ("month", 1)
    assert sub.status == Subscription.Status.ACTIVE
    assert sub.is_prepaid is False
    assert sub.created_at == dt.datetime(2026, 11, 2, 14, 14, 10, tzinfo=UTC)
    assert sub.next_charge_date == dt.date(2026, 12, 2)
    assert sub.cancelled_at is None
    assert sub.source_updated_at == dt.datetime(2026, 11, 2, 14, 14, 10, tzinfo=UTC)
    assert customer.active_subscriptions_count == 1
    assert [(e.name, e.data) for e in announced] == [
        (domain.SUBSCRIPTION_CREATED, {"subscription_id": sub.pk, "status": "active"})
    ]


def test_subscription_cancelled_updates_status_and_active_count(client, store, process, announced):
    post_recharge(client, store, "subscription/created", load("recharge_subscription_created"))
    process()
    post_recharge(client, store, "subscription/cancelled", load("recharge_subscription_cancelled"))
    process()
    sub = Subscription.objects.get()
    assert sub.status == Subscription.Status.CANCELLED
    assert sub.cancelled_at == dt.datetime(2026, 11, 28, 8, 30, tzinfo=UTC)
    assert sub.cancellation_reason == "I have too much coffee"
    assert Customer.objects.get().active_subscriptions_count == 0
    assert announced[-1].name == domain.SUBSCRIPTION_CANCELLED
    assert announced[-1].data == {"subscription_id": sub.pk, "status": "cancelled"}


def test_charge_upcoming_schedules_an_upcoming_order(client, store, process, announced):
    post_recharge(client, store, "subscription/created", load("recharge_subscription_created"))
    post_recharge(client, store, "charge/upcoming", load("recharge_charge_upcoming"))
    process()
    upcoming = UpcomingOrder.objects.get()
    assert upcoming.external_id == "912345999"
    assert upcoming.scheduled_at == dt.date(2026, 12, 25)
    assert upcoming.status == UpcomingOrder.Status.SCHEDULED
    assert upcoming.subscription == Subscription.objects.get()
    assert upcoming.customer == Customer.objects.get()
    assert upcoming.total == Decimal("39.20")
    assert upcoming.lines[0]["product_id"] == "8123456789012"
    assert upcoming.lines[0]["quantity"] == 2
    assert upcoming.discounts[0]["code"] == "LOYAL5"
    scheduled = [e for e in announced if e.name == domain.UPCOMING_ORDER_SCHEDULED]
    assert scheduled[0].data == {
        "upcoming_order_id": upcoming.pk,
        "subscription_id": upcoming.subscription_id,
        "scheduled_at": "2026-12-25",
    }


def test_charge_failed_marks_the_upcoming_order_failed(client, store, process, announced):
    post_recharge(client, store, "charge/upcoming", load("recharge_charge_upcoming"))
    process()
    failed = load("recharge_charge_upcoming")
    failed["charge"].update(status="error", updated_at="2026-12-25T04:00:00+00:00")
    post_recharge(client, store, "charge/failed", failed)
    process()
    assert UpcomingOrder.objects.get().status == UpcomingOrder.Status.FAILED
    assert announced[-1].name == domain.CHARGE_FAILED


def test_cancelled_order_leaves_the_figures(client, store, process, announced):
    post_shopify(client, store, "orders/create", load("shopify_orders_create"))
    post_shopify(client, store, "orders/paid", load("shopify_orders_paid"))
    process()
    cancelled = load("shopify_orders_paid")
    cancelled.update(cancelled_at="2026-12-03T10:00:00-05:00", cancel_reason="customer")
    post_shopify(client, store, "orders/cancelled", cancelled)
    process()
    customer = Customer.objects.get()
    assert Order.objects.get(external_id="5321456789555").cancelled_at is not None
    assert customer.orders_count == 1
    assert customer.total_spent == Decimal("42.90")
    assert customer.streak == 0
    assert announced[-1].name == domain.ORDER_CANCELLED


def test_customers_update_overwrites_attributes(client, store, process, announced):
    post_shopify(client, store, "orders/create", load("shopify_orders_create"))
    process()
    customer_payload = load("shopify_orders_create")["customer"]
    customer_payload.update(first_name="Janet", tags="vip", email_marketing_consent=None)
    post_shopify(client, store, "customers/update", customer_payload)
    process()
    customer = Customer.objects.get()
    assert (customer.first_name, customer.tags) == ("Janet", ["vip"])
    assert customer.orders_count == 1
    assert announced[-1].name == domain.CUSTOMER_UPDATED


def test_customer_the_payload_contradicts_is_retried_then_failed(client, store, process, settings):
    # given a customer whose Shopify id differs from what a later order says
    settings.INGEST_MAX_ATTEMPTS = 2
    settings.INGEST_RETRY_BASE_SECONDS = 0
    post_shopify(client, store, "orders/create", load("shopify_orders_create"))
    process()
    order = load("shopify_orders_paid")
    order["customer"]["id"] = 1
    post_shopify(client, store, "orders/paid", order)
    # when it is processed twice
    process()
    event = InboundEvent.objects.get(topic="orders/paid")
    assert event.status == InboundEvent.Status.RECEIVED
    assert event.attempts == 1
    assert event.next_attempt_at is not None
    InboundEvent.objects.filter(pk=event.pk).update(next_attempt_at=event.received_at)
    process()
    # then it is failed with the error kept, and nothing of it is written
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.FAILED
    assert event.attempts == 2
    assert "shopify_id 7012345678901" in event.last_error
    assert Order.objects.count() == 1
