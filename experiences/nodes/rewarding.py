"""What the reward node types share: the incentive check at validation, and the grant call.

Each reward node's grant is applied with the level's others (``rewards.actions.grant_rewards``),
keyed by the step (``source_key="step:<id>"``, ``step_id``): the ledger's unique constraints make a
redelivered, retried or killed-and-rerun step find the grant it already made instead of making a
second one. A grant the ledger skips (a cap, the experience's budget) is recorded on the step with
its reason and the run goes on.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from rewards.models import Incentive

from ..effects import RewardGrant, grant_result
from .base import ExecutionContext, NodeType, Outcome, ValidationContext

__all__ = ["REWARD_KINDS", "RewardNode", "grant_result", "money"]

REWARD_KINDS = frozenset({"reward_strategy", "surprise_and_delight"})


class RewardNode(NodeType):
    requires_rewards = True
    writes = True
    # Whether the run's path depends on the grant's answer (issued or skipped): a simulation
    # decides the caps and budget of other grants later, in replayed time (simulation/effects).
    routes_on_answer: ClassVar[bool] = False
    incentive_kinds: ClassVar[tuple[str, ...]] = ()

    def check_incentive(self, incentive_id: int, ctx: ValidationContext) -> dict[str, list[str]]:
        """Errors for an incentive that is not an active one of this store of a fitting kind."""
        incentive = (
            Incentive.objects.filter(store=ctx.store, pk=incentive_id)
            .only("id", "name", "kind", "active")
            .first()
        )
        if incentive is None:
            return {"incentive_id": [f"Incentive {incentive_id} does not exist in this store."]}
        if incentive.kind not in self.incentive_kinds:
            wanted = " or ".join(k.replace("_", " ") for k in self.incentive_kinds)
            return {
                "incentive_id": [
                    f"{incentive.name!r} is a {incentive.kind.replace('_', ' ')} incentive; "
                    f"a {self.label} node needs a {wanted} one."
                ]
            }
        if not incentive.active:
            return {"incentive_id": [f"{incentive.name!r} is deactivated."]}
        return {}

    def grant(self, ctx: ExecutionContext, *, kind: str, **kwargs: Any) -> Outcome:
        """Decide a grant: an effect, applied through the ledger (``grant_reward``) later."""
        return Outcome(effects=[ctx.effect(RewardGrant, kind=kind, **kwargs)])


def money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))
