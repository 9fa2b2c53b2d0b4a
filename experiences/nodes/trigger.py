"""Trigger: the one entry of an experience; which event it listens to and who gets in."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from segments import domain

from ..conditions import Conditions, segment_ids_in, validate_conditions
from .base import ExecutionContext, NodeType, Outcome, ValidationContext

TriggerEvent = Literal[
    "order_processed",
    "upcoming_order",
    "customer_entered_segment",
    "customer_left_segment",
    "subscription_created",
    "subscription_cancelled",
]

# The domain event each trigger event listens to.
DOMAIN_EVENTS: dict[str, str] = {
    "order_processed": domain.ORDER_PROCESSED,
    "upcoming_order": domain.UPCOMING_ORDER_SCHEDULED,
    "customer_entered_segment": domain.CUSTOMER_ENTERED_SEGMENT,
    "customer_left_segment": domain.CUSTOMER_LEFT_SEGMENT,
    "subscription_created": domain.SUBSCRIPTION_CREATED,
    "subscription_cancelled": domain.SUBSCRIPTION_CANCELLED,
}

# Where Recharge fixes the event by kind: orders for rewards and delight, the upcoming order for
# cross-sell. Segment and subscription events are offered to every kind.
EVENTS_BY_KIND: dict[str, set[str]] = {
    "reward_strategy": set(DOMAIN_EVENTS) - {"upcoming_order"},
    "surprise_and_delight": set(DOMAIN_EVENTS) - {"upcoming_order"},
    "upcoming_order_cross_sell": set(DOMAIN_EVENTS) - {"order_processed"},
}


class TriggerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: TriggerEvent = "order_processed"
    order_type: Literal["any", "first", "recurring"] = Field(
        "any", description="For order_processed: which subscription orders count."
    )
    days_before: int = Field(
        3, ge=0, le=60, description="For upcoming_order: days before the charge to start."
    )
    segment_id: int | None = Field(None, description="For entered/left segment triggers.")
    conditions: Conditions = Field(default_factory=list)
    confirm_every_order: bool = Field(
        False, description="Explicitly allow a trigger without conditions."
    )


class Trigger(NodeType):
    type = "trigger"
    label = "Trigger"
    config_model = TriggerConfig
    description = "Where customers enter: the event and the conditions they must meet."

    def validate(self, config: TriggerConfig, ctx: ValidationContext) -> dict[str, list[str]]:
        errors = validate_conditions(config.conditions, ctx.segment_ids, "conditions")
        if config.event not in EVENTS_BY_KIND[ctx.kind]:
            errors.setdefault("event", []).append(
                f"A {ctx.kind.replace('_', ' ')} experience cannot start on {config.event}."
            )
        if not config.conditions and not config.confirm_every_order:
            errors.setdefault("conditions", []).append(
                "Add at least one condition, or confirm that every event should start a run."
            )
        if config.event in ("customer_entered_segment", "customer_left_segment"):
            if config.segment_id is None:
                errors.setdefault("segment_id", []).append("Choose the segment.")
            elif config.segment_id not in ctx.segments:
                errors.setdefault("segment_id", []).append(
                    f"Segment {config.segment_id} does not exist in this store."
                )
        return errors

    def segment_ids(self, config: TriggerConfig) -> set[int]:
        ids = segment_ids_in(config.conditions)
        if config.segment_id is not None:
            ids.add(config.segment_id)
        return ids

    def domain_event(self, config: TriggerConfig) -> str:
        return DOMAIN_EVENTS[config.event]

    def matches_event(self, config: TriggerConfig, event: domain.DomainEvent) -> tuple[bool, str]:
        """Return whether the event is one this trigger starts on, and why not."""
        data = event.data
        if config.event == "order_processed":
            if not data.get("is_subscription"):
                return False, "not a subscription order"
            first = bool(data.get("is_first_subscription_order"))
            if config.order_type == "first" and not first:
                return False, "not a first subscription order"
            if config.order_type == "recurring" and first:
                return False, "not a recurring order"
        if config.event in ("customer_entered_segment", "customer_left_segment"):
            if data.get("segment_id") != config.segment_id:
                return False, "another segment"
        return True, ""

    def execute(self, config: TriggerConfig, ctx: ExecutionContext) -> Outcome:
        if config.event == "upcoming_order":
            charge = ctx.evaluation.next_charge_date()
            if charge is not None:
                start = dt.datetime.combine(
                    charge - dt.timedelta(days=config.days_before),
                    dt.time.min,
                    tzinfo=ctx.evaluation.store.tzinfo,
                )
                if start > ctx.now:
                    return Outcome(wait_until=start, result={"starts_at": start.isoformat()})
        return Outcome(result={"event": ctx.event.name, "event_key": ctx.event.key})
