"""``explain/`` tests what the trigger tests: its event filter first, then its conditions, and a
condition on an order or subscription that the event does not name says so."""

import pytest

from experiences.diagnostics import explain
from tests.fixtures.factories import make_customer, make_order, make_subscription

from .helpers import edge, node, publish, static_segment

pytestmark = pytest.mark.django_db


def _experience(store, trigger):
    nodes = [node("trigger", "trigger", trigger), node("end", "end")]
    return publish(store, nodes, [edge("trigger", "end")], name="Explained")


def _check(answer, name):
    return next(c for c in answer["checks"] if c["check"] == name)


def test_explain_applies_the_triggers_order_type_filter(store):
    # given a trigger on first subscription orders whose condition the customer meets
    experience = _experience(
        store,
        {
            "event": "order_processed",
            "order_type": "first",
            "conditions": [[{"field": "orders_count", "operator": "gte", "value": 1}]],
        },
    )
    customer = make_customer(store, orders_count=4)
    make_order(customer, is_subscription=True, is_first_subscription_order=False, type="recurring")
    # when support asks why the customer did not enter
    answer = explain(experience, customer)
    # then the answer is the filter's, as the engine would decide on that order
    assert answer["would_enter"] is False
    conditions = _check(answer, "conditions")
    assert conditions["passed"] is False
    assert "does not match the trigger" in conditions["detail"]
    assert "not a first subscription order" in conditions["detail"]


def test_explain_lets_in_an_order_that_passes_the_filter(store):
    experience = _experience(
        store,
        {
            "event": "order_processed",
            "order_type": "first",
            "conditions": [[{"field": "orders_count", "operator": "gte", "value": 1}]],
        },
    )
    customer = make_customer(store, orders_count=1)
    make_order(customer, is_subscription=True, is_first_subscription_order=True, type="first")
    answer = explain(experience, customer)
    assert _check(answer, "conditions")["passed"] is True
    assert answer["conditions"][0][0]["passed"] is True


def test_explain_applies_the_triggers_segment_filter(store):
    # given a trigger on entering a segment the customer is not in
    vip = static_segment(store, "VIP")
    experience = _experience(
        store,
        {"event": "customer_entered_segment", "segment_id": vip.pk, "confirm_every_order": True},
    )
    customer = make_customer(store)
    # when explained, then there is no event to test, and the answer says why
    answer = explain(experience, customer)
    event = _check(answer, "event")
    assert event["passed"] is False and f"not in segment {vip.pk}" in event["detail"]
    assert answer["would_enter"] is False


def test_a_condition_on_a_subscription_the_event_lacks_says_so(store):
    # given an order trigger with a condition on the subscription, for a customer without any
    experience = _experience(
        store,
        {
            "event": "order_processed",
            "conditions": [[{"field": "subscription.status", "operator": "eq", "value": "active"}]],
        },
    )
    customer = make_customer(store)
    make_order(customer, is_subscription=True, type="recurring")  # no subscription row
    # when explained
    answer = explain(experience, customer)
    # then the condition failed and says that nothing was there to test
    (result,) = answer["conditions"][0]
    assert result["passed"] is False
    assert result["note"] == (
        "the event names no subscription and the customer has none: the test is false"
    )


def test_a_condition_on_the_order_of_a_subscription_event_names_the_order_tested(store):
    # given a subscription-cancelled trigger with a condition on the order (the event names none)
    experience = _experience(
        store,
        {
            "event": "subscription_cancelled",
            "confirm_every_order": True,
            "conditions": [[{"field": "order.total", "operator": "gt", "value": 10}]],
        },
    )
    customer = make_customer(store)
    order = make_order(customer, is_subscription=True, total="50.00")
    make_subscription(customer, status="cancelled")
    # when explained, then the condition says which order stood in for the event's
    answer = explain(experience, customer)
    (result,) = answer["conditions"][0]
    assert result["passed"] is True
    assert result["note"] == f"the event names no order: tested on the customer's order {order.pk}"
