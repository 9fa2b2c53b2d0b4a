"""Errors of the rule language: each names the line and column it is about."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleProblem:
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, col {self.column}: {self.message}"

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "message": str(self)}


class RuleError(ValueError):
    """A rule that cannot be used, with every problem found (at least one)."""

    def __init__(self, problems: list[RuleProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    @classmethod
    def at(cls, line: int, column: int, message: str) -> RuleError:
        return cls([RuleProblem(line, column, message)])
