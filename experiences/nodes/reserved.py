"""Slots for the node types that come with the Rewards issue.

They are listed in the catalog as unavailable so the builder can show them greyed out; validation
refuses them and they never run.
"""

from __future__ import annotations

from .base import NodeType


class Reserved(NodeType):
    available = False
    requires_rewards = True

    def __init__(self, type_: str, label: str, kinds: frozenset[str], description: str):
        self.type = type_
        self.label = label
        self.kinds = kinds
        self.description = description


REWARD_KINDS = frozenset({"reward_strategy", "surprise_and_delight"})

RESERVED = [
    Reserved("reward", "Reward", REWARD_KINDS, "Grant a reward (comes with Rewards)."),
    Reserved("incentive", "Incentive", REWARD_KINDS, "A free gift or order discount."),
    Reserved("credit", "Credit", REWARD_KINDS, "Fixed or percentage store credit."),
    Reserved(
        "cross_sell",
        "Cross-sell",
        frozenset({"upcoming_order_cross_sell"}),
        "Offer a product for the upcoming order.",
    ),
]
