"""What every node type provides: a configuration schema, validation and execution.

A node type is an instance of a ``NodeType`` subclass in its own module, listed once in
``experiences.nodes.REGISTRY``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from segments.domain import DomainEvent
    from segments.models import Segment, Store

    from ..context import EvaluationContext
    from ..effects import Effect
    from ..models import Experience, Node, Run, RunStep

ALL_KINDS = frozenset({"reward_strategy", "surprise_and_delight", "upcoming_order_cross_sell"})
NODE_ERRORS = "non_field_errors"


class NodeUnavailable(Exception):
    """A node type whose slot is kept for a later issue was asked to run."""


@dataclass
class ValidationContext:
    """What validation may look at: the store, the experience kind, the store's segments."""

    store: Store
    kind: str
    segments: dict[int, Segment]

    @property
    def segment_ids(self) -> set[int]:
        return set(self.segments)


@dataclass
class ExecutionContext:
    run: Run
    node: Node
    step: RunStep
    experience: Experience
    evaluation: EvaluationContext
    event: DomainEvent
    now: dt.datetime
    # A condition node's branch tests, when the walker evaluated them for a whole batch.
    tested: list | None = None

    def effect(self, effect_type: type[Effect], /, **fields: Any) -> Effect:
        """Return an effect of this step (applied later, through ``experiences.effects``)."""
        return effect_type(
            store=self.evaluation.store,
            customer=self.evaluation.customer,
            experience=self.experience,
            run=self.run,
            node=self.node,
            step=self.step,
            event=self.event,
            now=self.now,
            **fields,
        )


@dataclass
class Outcome:
    """What a node decided: the branch to follow, or a wait; what to record in its step; and the
    effects to apply (``experiences.effects``): executing a node never writes them itself."""

    branch: str = ""
    wait_until: dt.datetime | None = None
    wait_for: str = ""  # an event name that resumes the wait before wait_until
    end: bool = False
    result: dict[str, Any] = field(default_factory=dict)
    effects: list[Effect] = field(default_factory=list)

    @property
    def waits(self) -> bool:
        return self.wait_until is not None or bool(self.wait_for)


class NodeType:
    type: ClassVar[str]
    label: ClassVar[str]
    kinds: ClassVar[frozenset[str]] = ALL_KINDS
    requires_rewards: ClassVar[bool] = False
    available: ClassVar[bool] = True
    config_model: ClassVar[type[BaseModel] | None] = None
    description: ClassVar[str] = ""
    # Whether execution returns effects (then its step row is written before they are applied,
    # since they point at it).
    writes: ClassVar[bool] = False

    def json_schema(self) -> dict[str, Any] | None:
        return self.config_model.model_json_schema() if self.config_model else None

    def offered(self, store: Store, kind: str) -> bool:
        """Whether the builder may offer this type in an experience of this kind in this store."""
        if not self.available or kind not in self.kinds:
            return False
        return store.rewards_enabled or not self.requires_rewards

    def parse(self, config: dict[str, Any]) -> tuple[BaseModel | None, dict[str, list[str]]]:
        """Return the parsed configuration, or None with errors keyed by field path."""
        if self.config_model is None:
            return None, {}
        try:
            return self.config_model.model_validate(config), {}
        except ValidationError as exc:
            errors: dict[str, list[str]] = {}
            for err in exc.errors():
                path = ".".join(str(p) for p in err["loc"]) or NODE_ERRORS
                errors.setdefault(path, []).append(err["msg"])
            return None, errors

    def validate(self, config: BaseModel | None, ctx: ValidationContext) -> dict[str, list[str]]:
        """Return store-aware errors of a parsed configuration (beyond its schema)."""
        return {}

    def branches(self, config: BaseModel | None) -> list[str]:
        """Return the labels of the outgoing edges this node needs ("" is the single next)."""
        return [""]

    def segment_ids(self, config: BaseModel | None) -> set[int]:
        return set()

    def resume_branch(self, step: RunStep, event: DomainEvent) -> str | None:
        """Return the branch a waiting step of this type takes on ``event`` (the one it waits
        for), or None when the event is not for this step."""
        return step.branch

    def execute(self, config: BaseModel | None, ctx: ExecutionContext) -> Outcome:
        """Decide what this node does for the run: read, never write (effects are records)."""
        raise NodeUnavailable(f"Node type {self.type!r} cannot run yet.")

    def settle(self, config: BaseModel | None, outcome: Outcome, applied: list[dict]) -> Outcome:
        """Return the outcome once its effects were applied (``applied``: what each answered);
        by default their answers join the step's result."""
        for answer in applied:
            outcome.result.update(answer)
        return outcome


def bucket(*parts: object) -> int:
    """Return a stable number in 0..99 for these parts (the same on every machine and run)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100
