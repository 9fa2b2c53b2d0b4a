"""The segment rule language: grammar, syntax tree, checks and the compiler to SQL.

``validate_rule(text)`` parses and checks a rule; ``compile_for_store(text, store)`` returns the SQL
condition on a customer row for that store (its time zone, its segments). Every problem is a
``RuleError`` whose problems name a line and a column.
"""

from __future__ import annotations

from django.utils import timezone

from .compiler import CompileContext, compile_rule, shift_date
from .errors import RuleError, RuleProblem
from .parser import parse_rule, referenced_segments, validate_rule

__all__ = [
    "CompileContext",
    "RuleError",
    "RuleProblem",
    "compile_for_store",
    "compile_rule",
    "context_for",
    "parse_rule",
    "referenced_segments",
    "shift_date",
    "validate_rule",
]


def segment_lookup(segments) -> dict[str, int]:
    """Map lower-cased names and string ids of ``(id, name)`` pairs to ids."""
    lookup: dict[str, int] = {}
    for segment_id, name in segments:
        lookup[str(segment_id)] = segment_id
        lookup[name.strip().lower()] = segment_id
    return lookup


def context_for(store, segments=None, alias: str = "c") -> CompileContext:
    """Return the compile context of a store; ``segments`` is an iterable of (id, name) pairs."""
    if segments is None:
        from ..models import Segment

        segments = Segment.objects.filter(store=store).values_list("id", "name")
    tz = store.tzinfo
    return CompileContext(
        today=timezone.localdate(timezone.now(), tz),
        tz=tz,
        segments=segment_lookup(segments),
        alias=alias,
    )


def compile_for_store(text: str, store, alias: str = "c", segments=None) -> tuple[str, list]:
    """Validate the rule and return its SQL condition for the store, or raise ``RuleError``."""
    return compile_rule(validate_rule(text), context_for(store, segments, alias))
