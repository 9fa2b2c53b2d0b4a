"""Condition branch: 2 to 15 branches tested top-down, the first that holds wins, else ELSE."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..conditions import Conditions, evaluate, segment_ids_in, validate_conditions
from .base import NODE_ERRORS, ExecutionContext, NodeType, Outcome, ValidationContext

ELSE = "else"


class Branch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=64)
    conditions: Conditions = Field(min_length=1)


class ConditionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    branches: list[Branch] = Field(min_length=2, max_length=15)


class ConditionBranch(NodeType):
    type = "condition"
    label = "Condition branch"
    config_model = ConditionConfig
    description = "Send customers down the first branch whose conditions hold, else ELSE."

    def validate(self, config: ConditionConfig, ctx: ValidationContext) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        labels = [b.label for b in config.branches]
        if len(set(labels)) != len(labels):
            errors.setdefault(NODE_ERRORS, []).append("Branch labels must be unique.")
        if ELSE in labels:
            errors.setdefault(NODE_ERRORS, []).append(f"{ELSE!r} is the reserved ELSE branch.")
        for i, branch in enumerate(config.branches):
            errors.update(
                validate_conditions(branch.conditions, ctx.segment_ids, f"branches.{i}.conditions")
            )
        return errors

    def branches(self, config: ConditionConfig | None) -> list[str]:
        if config is None:
            return []
        return [b.label for b in config.branches] + [ELSE]

    def segment_ids(self, config: ConditionConfig) -> set[int]:
        return set().union(*(segment_ids_in(b.conditions) for b in config.branches))

    def execute(self, config: ConditionConfig, ctx: ExecutionContext) -> Outcome:
        tested = []
        for i, branch in enumerate(config.branches):
            if ctx.tested is not None:  # evaluated for the whole batch at once
                passed, trace = ctx.tested[i]
            else:
                passed, trace = evaluate(branch.conditions, ctx.evaluation)
            tested.append({"branch": branch.label, "passed": passed, "conditions": _plain(trace)})
            if passed:
                return Outcome(branch=branch.label, result={"tested": tested})
        return Outcome(branch=ELSE, result={"tested": tested})


def _plain(trace):
    return [[r.as_dict() for r in block] for block in trace]
