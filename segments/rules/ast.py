"""The syntax tree of a segment rule: small frozen dataclasses that carry their source position."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Position:
    line: int
    column: int


@dataclass(frozen=True)
class Value:
    kind: str  # STRING, DATE, RELATIVE_DATE, NUMBER, TODAY, TRUE, FALSE
    text: str  # the source text, quotes removed for strings
    pos: Position


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # = != < <= > >= BETWEEN IS_NULL IS_NOT_NULL CONTAINS NOT_CONTAINS
    values: tuple[Value, ...]
    pos: Position


@dataclass(frozen=True)
class AllOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Condition | AllOf | AnyOf | Not


def conditions(node: Node):
    """Yield every condition of the tree, left to right."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Condition):
            yield current
        elif isinstance(current, Not):
            stack.append(current.item)
        else:
            stack.extend(reversed(current.items))
