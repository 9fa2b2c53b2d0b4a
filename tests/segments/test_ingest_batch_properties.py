"""Property test: applying a stream of events as one set-based batch leaves exactly the state that
applying them one event at a time leaves (customers, their figures, orders, lines)."""

import datetime as dt
import json
import uuid

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.ingest.actions import Delivery, process_batch, record_delivery
from segments.models import Customer, Order, OrderLine
from tests.fixtures.payloads import load

pytestmark = pytest.mark.django_db

CUSTOMERS = [  # (email, shopify id): each customer keeps their identity across events
    ("ann@example.com", 700_001),
    ("bob@example.com", 700_002),
    ("cat@example.com", 700_003),
]
ORDERS = [(800_001, 0), (800_002, 0), (800_003, 1), (800_004, 2)]  # (order id, its customer)
TOTALS = {800_001: "42.90", 800_002: "18.00", 800_003: "99.99", 800_004: "5.00"}
START = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)


class Rollback(Exception):
    pass


def _order_payload(order_id: int, topic: str, at: dt.datetime, *, by_email_only: bool) -> dict:
    email, shopify_id = CUSTOMERS[dict(ORDERS)[order_id]]
    payload = load("shopify_orders_create")
    payload.update(
        id=order_id,
        name=f"#{order_id}",
        email=email,
        total_price=TOTALS[order_id],
        financial_status="pending" if topic == "orders/create" else "paid",
        updated_at=at.isoformat(),
        processed_at=START.isoformat(),
    )
    if topic == "orders/cancelled":
        payload["cancelled_at"] = at.isoformat()
    customer = {"email": email} if by_email_only else {"id": shopify_id, "email": email}
    payload["customer"] = {**payload["customer"], **customer}
    if by_email_only:
        payload["customer"].pop("id", None)
    return payload


def _customer_payload(index: int, name: str, at: dt.datetime) -> dict:
    email, shopify_id = CUSTOMERS[index]
    payload = load("shopify_orders_create")["customer"]
    payload.update(id=shopify_id, email=email, first_name=name, updated_at=at.isoformat())
    return payload


EVENTS = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["orders/create", "orders/paid", "orders/cancelled"]),
            st.sampled_from([o for o, _ in ORDERS]),
            st.booleans(),
        ),
        st.tuples(
            st.just("customers/update"),
            st.integers(0, len(CUSTOMERS) - 1),
            st.sampled_from(["Ann", "Bea", "Cy"]),
        ),
    ),
    min_size=1,
    max_size=14,
)


def _record(store, events, times) -> None:
    for (topic, subject, extra), at in zip(events, times, strict=True):
        if topic == "customers/update":
            payload = _customer_payload(subject, extra, at)
        else:
            payload = _order_payload(subject, topic, at, by_email_only=extra)
        delivery = Delivery(store.id, "shopify", topic, str(uuid.uuid4()), json.dumps(payload))
        with transaction.atomic():
            record_delivery(delivery, payload)


def _state(store) -> dict:
    customers = sorted(
        Customer.objects.filter(store=store).values_list(
            "email",
            "shopify_id",
            "first_name",
            "orders_count",
            "total_spent",
            "first_order_at",
            "last_order_at",
        )
    )
    orders = sorted(
        Order.objects.filter(store=store).values_list(
            "external_id", "customer__email", "financial_status", "total", "cancelled_at"
        )
    )
    lines = sorted(
        OrderLine.objects.filter(store=store).values_list("order__external_id", "sku", "quantity")
    )
    return {"customers": customers, "orders": orders, "lines": lines}


def _apply(store, events, times, *, batch_size: int) -> dict:
    try:
        with transaction.atomic():
            _record(store, events, times)
            while process_batch(limit=batch_size):
                pass
            state = _state(store)
            raise Rollback
    except Rollback:
        return state


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=EVENTS, gaps=st.lists(st.integers(0, 3600), min_size=14, max_size=14))
def test_one_batch_ends_where_one_event_at_a_time_ends(store, events, gaps):
    # given a stream of order and customer events for a few customers, in time order
    times, at = [], START
    for gap in gaps[: len(events)]:
        at += dt.timedelta(seconds=gap + 1)
        times.append(at)
    # when it is applied as one batch, and separately one event per batch
    together = _apply(store, events, times, batch_size=100)
    one_by_one = _apply(store, events, times, batch_size=1)
    # then both leave the same customers, figures, orders and lines
    assert together == one_by_one
