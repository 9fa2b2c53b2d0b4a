"""Every change to rewards goes through these functions (views, API, admin and tasks call them)."""

from .common import RewardError
from .credit import adjust_credit, close_lot, open_lots, spend_on_order
from .grants import (
    GrantRequest,
    attach_issued,
    extend_grant,
    grant_reward,
    grant_rewards,
    revoke_grant,
)
from .incentives import create_incentive, deactivate_incentive, set_policy, update_incentive
from .liability import advance_checkpoints, drop_checkpoint
from .lifecycle import handle_events, revoke_for_cancelled_subscription, settle_paid_order
from .offers import ACCEPT, CROSS_SELL_ANSWERED, DECLINE, answer_offer
from .sweep import sweep_expired

__all__ = [
    "ACCEPT",
    "CROSS_SELL_ANSWERED",
    "DECLINE",
    "RewardError",
    "adjust_credit",
    "advance_checkpoints",
    "drop_checkpoint",
    "answer_offer",
    "attach_issued",
    "close_lot",
    "create_incentive",
    "deactivate_incentive",
    "extend_grant",
    "GrantRequest",
    "grant_reward",
    "grant_rewards",
    "handle_events",
    "open_lots",
    "revoke_for_cancelled_subscription",
    "revoke_grant",
    "set_policy",
    "settle_paid_order",
    "spend_on_order",
    "sweep_expired",
    "update_incentive",
]
