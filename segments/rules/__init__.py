"""The segment rule language: grammar, syntax tree, checks and the compiler to SQL.

``validate_rule(text)`` parses and checks a rule; ``compile_for_store(text, store)`` returns the SQL
condition on a customer row for that store (its time zone, its segments). Every problem is a
``RuleError`` whose problems name a line and a column.

The language, in short (keywords in any case)::

    orders_count >= 3 AND total_spent > 100 AND last_order_date > -90d
    tags CONTAINS 'vip' OR NOT (email_domain = 'example.com')
    total_spent BETWEEN 50 AND 200
    first_order_date IS NULL
    subscription_status CONTAINS 'active' AND next_charge_date <= +7d
    segment = 'Top Customers'          (or segment = 12; cycles are refused)

Fields come from ``segments.fields.CUSTOMER_FIELDS``. Numbers and money take ``= != < <= > >=``,
``BETWEEN`` and ``IS [NOT] NULL``; dates take the same with ``2026-01-31``, ``today`` or a relative
``-30d`` / ``+2w`` / ``-3m`` / ``-1y``, as whole days in the store's time zone; text takes ``=``,
``!=`` and ``[NOT] CONTAINS`` (case-insensitive); lists (``tags``, ``products_purchased``,
``subscription_status``) take ``[NOT] CONTAINS``. A comparison with a missing value is false, so
``NOT last_order_date > -90d`` includes customers who never ordered.
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
