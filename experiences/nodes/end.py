"""End: the run is complete."""

from __future__ import annotations

from .base import ExecutionContext, NodeType, Outcome


class End(NodeType):
    type = "end"
    label = "End"
    description = "The run is complete."

    def branches(self, config) -> list[str]:
        return []

    def execute(self, config, ctx: ExecutionContext) -> Outcome:
        return Outcome(end=True)
