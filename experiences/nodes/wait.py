"""Wait: a duration, until the customer's next order, or until a date field (with an offset).

A wait is a step row with a due time; the periodic sweep resumes it. Nothing waits in the broker.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from segments import domain

from .base import ExecutionContext, NodeType, Outcome, ValidationContext

MAX_MINUTES = 90 * 24 * 60


class WaitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["duration", "next_order", "date_field"] = "duration"
    minutes: int | None = Field(None, ge=1, le=MAX_MINUTES, description="For duration.")
    date_field: Literal["next_charge_date"] = "next_charge_date"
    offset_days: int = Field(
        0, ge=-90, le=90, description="For date_field: -3 means three days before."
    )
    timeout_minutes: int = Field(
        MAX_MINUTES,
        ge=1,
        le=MAX_MINUTES,
        description="For next_order: continue anyway after this long.",
    )

    @model_validator(mode="after")
    def _duration_needs_minutes(self):
        if self.mode == "duration" and self.minutes is None:
            raise ValueError("A duration wait needs minutes (1 to 129600, i.e. 90 days).")
        return self


class Wait(NodeType):
    type = "wait"
    label = "Wait"
    config_model = WaitConfig
    description = "Pause the run for a while, until the next order, or until a date."

    def validate(self, config: WaitConfig, ctx: ValidationContext) -> dict[str, list[str]]:
        return {}

    def execute(self, config: WaitConfig, ctx: ExecutionContext) -> Outcome:
        if config.mode == "duration":
            due = ctx.now + dt.timedelta(minutes=config.minutes)
            return Outcome(wait_until=due, result={"until": due.isoformat()})
        if config.mode == "next_order":
            due = ctx.now + dt.timedelta(minutes=config.timeout_minutes)
            return Outcome(
                wait_until=due,
                wait_for=domain.ORDER_PROCESSED,
                result={"until": "next order", "timeout": due.isoformat()},
            )
        date = ctx.evaluation.next_charge_date()
        if date is None:
            return Outcome(result={"skipped": "the customer has no next charge date"})
        due = dt.datetime.combine(
            date + dt.timedelta(days=config.offset_days),
            dt.time.min,
            tzinfo=ctx.evaluation.store.tzinfo,
        )
        if due <= ctx.now:
            return Outcome(result={"skipped": f"{due.isoformat()} has passed"})
        return Outcome(wait_until=due, result={"until": due.isoformat()})
