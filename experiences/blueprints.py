"""Experience templates ("blueprints"): ready-made graphs a merchant starts from.

A blueprint names the kind, the merchant-facing name and description, and builds the draft's
nodes and edges. What its nodes point at (a static segment, an incentive) is found or created in
the store by name when the experience is created (see ``actions.create_from_template``), so the
draft is valid and publishable at once; the merchant then edits the incentive's product or the
amounts. (Named blueprints because ``experiences/templates/`` holds the Django templates.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REWARD_STRATEGY = "reward_strategy"
SURPRISE_AND_DELIGHT = "surprise_and_delight"
CROSS_SELL = "upcoming_order_cross_sell"


@dataclass(frozen=True)
class SegmentNeed:
    """A static segment the graph refers to, found or created by name."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class IncentiveNeed:
    """An incentive the graph refers to, found (active, same kind and name) or created."""

    name: str
    kind: str
    params: dict[str, Any]
    expires_in_days: int | None = None


Refs = dict[str, int]  # need name -> id in the store
Graph = tuple[list[dict[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Blueprint:
    key: str
    kind: str
    name: str
    description: str
    build: Callable[[Refs], Graph]
    segments: dict[str, SegmentNeed] = field(default_factory=dict)
    incentives: dict[str, IncentiveNeed] = field(default_factory=dict)
    requires_rewards: bool = True


def _node(key: str, type_: str, config: dict | None = None, x: int = 0, y: int = 0) -> dict:
    return {"key": key, "type": type_, "config": config or {}, "position": {"x": x, "y": y}}


def _edge(source: str, target: str, branch: str = "") -> dict:
    return {"source": source, "target": target, "branch": branch}


def _on_order(*conditions: dict) -> dict:
    """A trigger on every processed subscription order, with these AND-conditions."""
    if not conditions:
        return {"event": "order_processed", "order_type": "any", "confirm_every_order": True}
    return {"event": "order_processed", "order_type": "any", "conditions": [list(conditions)]}


def _count_is(n: int) -> dict:
    return {"field": "subscription_orders_count", "operator": "eq", "value": n}


def _chain(*nodes: dict) -> Graph:
    """Lay the nodes out top to bottom and join each to the next."""
    for i, node in enumerate(nodes):
        node["position"] = {"x": 0, "y": 120 * i}
    return list(nodes), [_edge(a["key"], b["key"]) for a, b in zip(nodes, nodes[1:], strict=False)]


def _credit_after_purchase(refs: Refs) -> Graph:
    return _chain(
        _node("trigger", "trigger", _on_order()),
        _node(
            "credit",
            "credit",
            {"amount_type": "percent", "amount": "3", "expires_in_days": 90},
        ),
        _node("end", "end"),
    )


def _milestone_gift(refs: Refs) -> Graph:
    return _chain(
        _node("trigger", "trigger", _on_order(_count_is(3))),
        _node("gift", "incentive", {"incentive_id": refs["gift"]}),
        _node("end", "end"),
    )


def _streak_reward(refs: Refs) -> Graph:
    return _chain(
        _node(
            "trigger",
            "trigger",
            _on_order({"field": "streak", "operator": "eq", "value": 6}),
        ),
        _node("credit", "credit", {"amount_type": "fixed", "amount": "10.00"}),
        _node("end", "end"),
    )


def _ab_test(refs: Refs) -> Graph:
    nodes = [
        _node("trigger", "trigger", _on_order(_count_is(2))),
        _node(
            "split",
            "ab_split",
            {"paths": [{"label": "reward", "percent": 50}, {"label": "control", "percent": 50}]},
            y=120,
        ),
        _node("credit", "credit", {"amount_type": "fixed", "amount": "5.00"}, x=-160, y=240),
        _node("end", "end", y=360),
    ]
    edges = [
        _edge("trigger", "split"),
        _edge("split", "credit", "reward"),
        _edge("split", "end", "control"),
        _edge("credit", "end"),
    ]
    return nodes, edges


def _tag_milestone(refs: Refs) -> Graph:
    return _chain(
        _node("trigger", "trigger", _on_order(_count_is(3))),
        _node("tag", "segment", {"action": "add", "segment_id": refs["milestone"]}),
        _node("credit", "credit", {"amount_type": "fixed", "amount": "5.00"}),
        _node("end", "end"),
    )


def _surprise_gift(refs: Refs) -> Graph:
    return _chain(
        _node(
            "trigger",
            "trigger",
            _on_order(
                _count_is(2), {"field": "segment", "operator": "in", "value": refs["members"]}
            ),
        ),
        _node("gift", "incentive", {"incentive_id": refs["gift"]}),
        _node("end", "end"),
    )


def _cross_sell(refs: Refs) -> Graph:
    nodes = [
        _node(
            "trigger",
            "trigger",
            {"event": "upcoming_order", "days_before": 3, "confirm_every_order": True},
        ),
        _node(
            "offer",
            "cross_sell",
            {"incentive_id": refs["offer"], "respond_within_days": 2},
            y=120,
        ),
        _node(
            "thanks",
            "notification",
            {
                "subject": "Added to your next order",
                "body": "Thanks {{ customer.first_name }}: it ships with your next order.",
            },
            x=-200,
            y=240,
        ),
        _node("end", "end", y=360),
    ]
    edges = [
        _edge("trigger", "offer"),
        _edge("offer", "thanks", "accepted"),
        _edge("offer", "end", "declined"),
        _edge("offer", "end", "expired"),
        _edge("thanks", "end"),
    ]
    return nodes, edges


_GIFT = IncentiveNeed(
    name="Free gift",
    kind="free_gift",
    params={
        "product_id": "gift",
        "sku": "GIFT-1",
        "title": "Free sample (edit the product)",
        "quantity": 1,
        "price": "5.00",
    },
)

BLUEPRINTS: dict[str, Blueprint] = {
    b.key: b
    for b in [
        Blueprint(
            "credit_after_purchase",
            REWARD_STRATEGY,
            "Credit after any subscription purchase",
            "3% of the order's subscription items back as store credit, valid 90 days.",
            _credit_after_purchase,
        ),
        Blueprint(
            "milestone_gift",
            REWARD_STRATEGY,
            "Milestone gift on the 3rd subscription order",
            "A free gift added to the next order when a customer's 3rd subscription order is "
            "processed.",
            _milestone_gift,
            incentives={"gift": _GIFT},
        ),
        Blueprint(
            "streak_reward",
            REWARD_STRATEGY,
            "Streak reward",
            "10.00 store credit when a customer reaches 6 consecutive subscription orders.",
            _streak_reward,
        ),
        Blueprint(
            "ab_test_reward",
            REWARD_STRATEGY,
            "A/B test a new reward",
            "Half of the customers reaching their 2nd subscription order get 5.00 credit, the "
            "other half nothing: compare them.",
            _ab_test,
        ),
        Blueprint(
            "tag_milestone_customers",
            REWARD_STRATEGY,
            "Tag milestone customers",
            "On the 3rd subscription order, add the customer to the static segment "
            "'Milestone customers', then give 5.00 credit.",
            _tag_milestone,
            segments={
                "milestone": SegmentNeed(
                    "Milestone customers", "Customers who reached their 3rd subscription order."
                )
            },
        ),
        Blueprint(
            "surprise_free_gift",
            SURPRISE_AND_DELIGHT,
            "Free gift on the 2nd order",
            "A free gift on the 2nd subscription order for members of the static segment "
            "'Surprise and delight'.",
            _surprise_gift,
            segments={
                "members": SegmentNeed(
                    "Surprise and delight", "Customers chosen for surprise gifts."
                )
            },
            incentives={"gift": _GIFT},
        ),
        Blueprint(
            "cross_sell_before_charge",
            CROSS_SELL,
            "Offer a product 3 days before the next charge",
            "3 days before the next charge, offer a product at 15% off for that order; thank "
            "the customer when they accept, end when they decline or let it expire.",
            _cross_sell,
            incentives={
                "offer": IncentiveNeed(
                    name="Cross-sell offer",
                    kind="cross_sell",
                    params={
                        "product_id": "add-on",
                        "sku": "ADDON-1",
                        "title": "Add-on product (edit the product)",
                        "quantity": 1,
                        "price": "12.00",
                        "discount_type": "percent",
                        "discount_value": "15",
                    },
                )
            },
        ),
    ]
}


def blueprints_for(kind: str | None = None) -> list[Blueprint]:
    return [b for b in BLUEPRINTS.values() if kind is None or b.kind == kind]
