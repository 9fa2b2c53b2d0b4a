"""The node-type registry. Adding a type: one module in this package and one line below."""

from __future__ import annotations

from .ab_split import ABSplit
from .base import NodeType, NodeUnavailable, Outcome
from .condition import ConditionBranch
from .credit import Credit
from .cross_sell import CrossSell
from .end import End
from .incentive import IncentiveNode
from .notification import Notification
from .segment import SegmentNode
from .trigger import Trigger
from .wait import Wait

REGISTRY: dict[str, NodeType] = {
    node_type.type: node_type
    for node_type in [
        Trigger(),
        ConditionBranch(),
        ABSplit(),
        Wait(),
        SegmentNode(),
        Notification(),
        Credit(),
        IncentiveNode(),
        CrossSell(),
        End(),
    ]
}


def node_type(name: str) -> NodeType | None:
    return REGISTRY.get(name)


__all__ = ["REGISTRY", "NodeType", "NodeUnavailable", "Outcome", "node_type"]
