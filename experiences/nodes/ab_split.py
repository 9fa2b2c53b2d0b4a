"""A/B split: paths by percentage; a customer always lands on the same path of an experience."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .base import NODE_ERRORS, ExecutionContext, NodeType, Outcome, ValidationContext, bucket


class Path(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=64)
    percent: int = Field(ge=0, le=100)


class ABSplitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paths: list[Path] = Field(min_length=2, max_length=5)


class ABSplit(NodeType):
    type = "ab_split"
    label = "A/B split"
    config_model = ABSplitConfig
    description = "Split customers into paths by percentage, the same path every time."

    def validate(self, config: ABSplitConfig, ctx: ValidationContext) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        total = sum(p.percent for p in config.paths)
        if total != 100:
            errors.setdefault("paths", []).append(f"Percentages sum to {total}, not 100.")
        labels = [p.label for p in config.paths]
        if len(set(labels)) != len(labels):
            errors.setdefault(NODE_ERRORS, []).append("Path labels must be unique.")
        return errors

    def branches(self, config: ABSplitConfig | None) -> list[str]:
        return [p.label for p in config.paths] if config else []

    def execute(self, config: ABSplitConfig, ctx: ExecutionContext) -> Outcome:
        point = bucket(ctx.experience.pk, ctx.node.key, ctx.run.customer_id)
        cumulative = 0
        for path in config.paths:
            cumulative += path.percent
            if point < cumulative:
                return Outcome(branch=path.label, result={"bucket": point})
        return Outcome(branch=config.paths[-1].label, result={"bucket": point})
