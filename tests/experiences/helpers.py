"""Builders for experiences in tests: graphs as the builder would send them."""

from __future__ import annotations

import itertools

from experiences import actions
from experiences.models import Experience
from segments import domain
from segments.domain import DomainEvent
from segments.models import Segment

_keys = itertools.count(1)


def node(key, type_, config=None):
    return {"key": key, "type": type_, "config": config or {}, "position": {"x": 0, "y": 0}}


def edge(source, target, branch=""):
    return {"source": source, "target": target, "branch": branch}


def static_segment(store, name) -> Segment:
    return Segment.objects.create(store=store, name=name, kind=Segment.Kind.STATIC)


def milestone_graph(test_customers: Segment, reached: Segment, *, orders: int = 3):
    nodes = [
        node(
            "trigger",
            "trigger",
            {
                "event": "order_processed",
                "order_type": "any",
                "conditions": [
                    [
                        {"field": "subscription_orders_count", "operator": "eq", "value": orders},
                        {"field": "segment", "operator": "in", "value": test_customers.pk},
                    ]
                ],
            },
        ),
        node("add-reached", "segment", {"action": "add", "segment_id": reached.pk}),
        node(
            "email",
            "notification",
            {
                "subject": "Congratulations {{ customer.first_name }}!",
                "body": "Order {{ order.name }} is number "
                "{{ customer.subscription_orders_count }}. "
                "Thanks from {{ experience.name }}.",
            },
        ),
        node("end", "end"),
    ]
    edges = [edge("trigger", "add-reached"), edge("add-reached", "email"), edge("email", "end")]
    return nodes, edges


def publish(
    store, nodes, edges, *, name="Experience", kind="reward_strategy", **settings
) -> Experience:
    experience = actions.create_experience(store, name=name, kind=kind, **settings)
    _, report = actions.save_draft(experience, revision=1, nodes=nodes, edges=edges)
    assert report.ok, report.as_dict()
    actions.publish_draft(experience)
    experience.refresh_from_db()
    return experience


def republish(experience, nodes, edges) -> None:
    actions.save_draft(experience, revision=0, nodes=nodes, edges=edges)
    actions.publish_draft(experience)
    experience.refresh_from_db()


def order_event(order, *, key=None, **data) -> DomainEvent:
    payload = {
        "order_id": order.pk,
        "is_subscription": order.is_subscription,
        "is_first_subscription_order": order.is_first_subscription_order,
        "order_type": order.type,
        "total": str(order.total),
    }
    payload.update(data)
    return DomainEvent(
        name=domain.ORDER_PROCESSED,
        store_id=order.store_id,
        customer_id=order.customer_id,
        key=key or f"inbound:test-{next(_keys)}",
        data=payload,
    )


def event(name, customer, *, key=None, **data) -> DomainEvent:
    return DomainEvent(
        name=name,
        store_id=customer.store_id,
        customer_id=customer.pk,
        key=key or f"inbound:test-{next(_keys)}",
        data=data,
    )


GIFT_PARAMS = {
    "product_id": "501",
    "sku": "GIFT",
    "title": "Sample",
    "quantity": 1,
    "price": "4.00",
}
DISCOUNT_PARAMS = {"discount_type": "percent", "value": "10"}
CROSS_SELL_PARAMS = {
    "product_id": "601",
    "sku": "ADDON",
    "title": "Add-on",
    "quantity": 1,
    "price": "12.00",
    "discount_type": "percent",
    "discount_value": "15",
}
_PARAMS = {"free_gift": GIFT_PARAMS, "discount": DISCOUNT_PARAMS, "cross_sell": CROSS_SELL_PARAMS}


def incentive(store, kind="free_gift", *, active=True, **kwargs):
    """An incentive of the store, created (and deactivated) through the rewards actions."""
    from rewards.actions import create_incentive, deactivate_incentive

    defaults = {"name": f"{kind} {next(_keys)}", "params": dict(_PARAMS.get(kind, {}))}
    defaults.update(kwargs)
    made = create_incentive(store, kind=kind, **defaults)
    return made if active else deactivate_incentive(made)


def reward_graph(*reward_nodes, trigger=None):
    """trigger -> reward nodes in a chain -> end (a reward strategy on every subscription order)."""
    config = trigger or {"event": "order_processed", "confirm_every_order": True}
    nodes = [node("trigger", "trigger", config), *reward_nodes, node("end", "end")]
    keys = [n["key"] for n in nodes]
    return nodes, [edge(a, b) for a, b in zip(keys, keys[1:], strict=False)]


def cross_sell_graph(offer_incentive, *, days=2):
    nodes = [
        node("trigger", "trigger", {"event": "upcoming_order", "days_before": 3,
                                    "confirm_every_order": True}),
        node("offer", "cross_sell", {"incentive_id": offer_incentive.pk,
                                     "respond_within_days": days}),
        node("yes", "end"),
        node("no", "end"),
        node("late", "end"),
    ]  # fmt: skip
    edges = [
        edge("trigger", "offer"),
        edge("offer", "yes", "accepted"),
        edge("offer", "no", "declined"),
        edge("offer", "late", "expired"),
    ]
    return nodes, edges
