"""Incentive: give one of the store's discount or free-gift incentives; the ledger attaches it to
the customer's soonest upcoming order (or keeps it issued until one is scheduled)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from rewards.models import Incentive

from .base import ExecutionContext, Outcome, ValidationContext
from .rewarding import REWARD_KINDS, RewardNode


class IncentiveConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incentive_id: int = Field(
        title="Incentive",
        description="An active discount or free-gift incentive of this store.",
        # The builder offers the store's incentives of these kinds by name.
        json_schema_extra={"x-picker": "incentive", "x-incentive-kinds": ["discount", "free_gift"]},
    )


class IncentiveNode(RewardNode):
    type = "incentive"
    label = "Incentive"
    kinds = REWARD_KINDS
    config_model = IncentiveConfig
    incentive_kinds = (Incentive.Kind.DISCOUNT, Incentive.Kind.FREE_GIFT)
    description = "Give a discount on the next order, or a free gift added to it."

    def validate(self, config: IncentiveConfig, ctx: ValidationContext) -> dict[str, list[str]]:
        return self.check_incentive(config.incentive_id, ctx)

    def execute(self, config: IncentiveConfig, ctx: ExecutionContext) -> Outcome:
        incentive = Incentive.objects.filter(
            store_id=ctx.run.store_id, pk=config.incentive_id
        ).first()
        if incentive is None:
            return Outcome(result={"skipped": f"incentive {config.incentive_id} was deleted"})
        # A deactivated incentive is the ledger's to refuse: it records a skipped grant.
        return self.grant(ctx, kind=incentive.kind, incentive=incentive)
