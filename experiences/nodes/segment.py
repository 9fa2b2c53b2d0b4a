"""Segment: add the customer to a static segment, or remove them, in the step's transaction."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from segments.models import Segment

from ..effects import MembershipChange
from .base import ExecutionContext, NodeType, Outcome, ValidationContext


class SegmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["add", "remove"] = "add"
    segment_id: int = Field(
        title="Segment",
        description="A static segment of this store.",
        json_schema_extra={"x-picker": "segment", "x-segment-kinds": ["static"]},
    )


class SegmentNode(NodeType):
    type = "segment"
    label = "Segment"
    kinds = frozenset({"reward_strategy", "upcoming_order_cross_sell"})
    requires_rewards = True
    config_model = SegmentConfig
    writes = True
    description = "Add the customer to a static segment, or remove them from it."

    def validate(self, config: SegmentConfig, ctx: ValidationContext) -> dict[str, list[str]]:
        segment = ctx.segments.get(config.segment_id)
        if segment is None:
            return {"segment_id": [f"Segment {config.segment_id} does not exist in this store."]}
        if segment.kind != Segment.Kind.STATIC:
            return {
                "segment_id": [f"{segment.name!r} is dynamic; a Segment node needs a static one."]
            }
        return {}

    def segment_ids(self, config: SegmentConfig) -> set[int]:
        return {config.segment_id}

    def execute(self, config: SegmentConfig, ctx: ExecutionContext) -> Outcome:
        change = ctx.effect(
            MembershipChange, segment_id=config.segment_id, add=config.action == "add"
        )
        return Outcome(effects=[change])
