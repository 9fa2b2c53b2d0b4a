"""Cross-sell: offer a product for the customer's upcoming order, then wait for the answer.

The step waits as a database timer (``respond_within_days``) and for ``cross_sell_answered`` of
its own grant; the answer names the branch (``accepted`` / ``declined``), the timer ``expired``.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from rewards.actions import CROSS_SELL_ANSWERED
from rewards.models import Incentive, RewardGrant
from segments.domain import DomainEvent

from .base import ExecutionContext, Outcome, ValidationContext
from .rewarding import RewardNode

BRANCHES = ["accepted", "declined", "expired"]


class CrossSellConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incentive_id: int = Field(
        title="Incentive",
        description="An active cross-sell incentive of this store.",
        # The builder offers the store's incentives of these kinds by name.
        json_schema_extra={"x-picker": "incentive", "x-incentive-kinds": ["cross_sell"]},
    )
    respond_within_days: int = Field(
        3, ge=1, le=60, description="Days the customer has to answer before the offer expires."
    )


class CrossSell(RewardNode):
    type = "cross_sell"
    label = "Cross-sell"
    kinds = frozenset({"upcoming_order_cross_sell"})
    config_model = CrossSellConfig
    incentive_kinds = (Incentive.Kind.CROSS_SELL,)
    routes_on_answer = True  # a skipped offer is not waited for
    description = "Offer a product for the upcoming order; branch on accepted, declined, expired."

    def validate(self, config: CrossSellConfig, ctx: ValidationContext) -> dict[str, list[str]]:
        return self.check_incentive(config.incentive_id, ctx)

    def branches(self, config: CrossSellConfig | None) -> list[str]:
        return list(BRANCHES)

    def execute(self, config: CrossSellConfig, ctx: ExecutionContext) -> Outcome:
        incentive = Incentive.objects.filter(
            store_id=ctx.run.store_id, pk=config.incentive_id
        ).first()
        if incentive is None:
            return Outcome(
                branch="expired",
                result={"skipped": f"incentive {config.incentive_id} was deleted"},
            )
        outcome = self.grant(
            ctx,
            kind=incentive.kind,
            incentive=incentive,
            respond_within_days=config.respond_within_days,
        )
        # The timer resumes onto the branch recorded now; the answer picks its own.
        outcome.branch = "expired"
        outcome.wait_until = ctx.now + dt.timedelta(days=config.respond_within_days)
        outcome.wait_for = CROSS_SELL_ANSWERED
        return outcome

    def settle(self, config, outcome: Outcome, applied: list[dict]) -> Outcome:
        outcome = super().settle(config, outcome, applied)
        if outcome.result.get("status") == RewardGrant.Status.SKIPPED:
            # No offer was shown (a cap, the budget, a deactivated incentive): nothing to wait
            # for, and the customer did not answer, so the run goes on as if it had expired.
            outcome.wait_until, outcome.wait_for = None, ""
        elif outcome.wait_until is not None:
            outcome.result["respond_by"] = outcome.wait_until.isoformat()
        return outcome

    def resume_branch(self, step, event: DomainEvent) -> str | None:
        if event.data.get("grant_id") != step.result.get("grant_id"):
            return None
        answer = event.data.get("answer")
        return answer if answer in BRANCHES else None
