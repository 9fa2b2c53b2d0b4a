"""Conditions of triggers and branches: up to 10 OR-blocks of up to 5 AND-conditions.

A condition tests one field of the customer (the catalog in ``segments.fields``), of the order
or of the subscription of the event. They are evaluated for ONE customer in Python, on an
``EvaluationContext`` loaded with a bounded number of queries (see ``experiences.context``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from segments.fields import CUSTOMER_FIELDS, FieldType

MAX_OR_BLOCKS = 10
MAX_AND_CONDITIONS = 5

Operator = Literal[
    "eq",
    "neq",
    "lt",
    "lte",
    "gt",
    "gte",
    "between",
    "contains",
    "not_contains",
    "is_null",
    "is_not_null",
    "in",
    "not_in",
]

# Order and subscription fields of the event, next to the customer catalog.
EVENT_FIELDS: dict[str, tuple[FieldType, str]] = {
    "order.total": (FieldType.MONEY, "Order total"),
    "order.products": (FieldType.LIST, "Order products"),
    "order.discount_codes": (FieldType.LIST, "Order discount codes"),
    "order.type": (FieldType.STRING, "Order type (first, recurring, one_time)"),
    "order.is_subscription": (FieldType.BOOLEAN, "Subscription order"),
    "subscription.status": (FieldType.STRING, "Subscription status"),
    "subscription.product": (FieldType.STRING, "Subscription product"),
    "subscription.variant": (FieldType.STRING, "Subscription variant"),
    "subscription.quantity": (FieldType.NUMBER, "Subscription quantity"),
    "subscription.interval_unit": (FieldType.STRING, "Subscription interval unit"),
    "subscription.is_prepaid": (FieldType.BOOLEAN, "Prepaid subscription"),
    "subscription.next_charge_date": (FieldType.DATE, "Subscription next charge date"),
}

OPERATORS_BY_TYPE: dict[FieldType, set[str]] = {
    FieldType.STRING: {"eq", "neq", "contains", "not_contains", "is_null", "is_not_null"},
    FieldType.NUMBER: {"eq", "neq", "lt", "lte", "gt", "gte", "between"},
    FieldType.MONEY: {"eq", "neq", "lt", "lte", "gt", "gte", "between"},
    FieldType.DATE: {"eq", "neq", "lt", "lte", "gt", "gte", "between", "is_null", "is_not_null"},
    FieldType.BOOLEAN: {"eq", "neq"},
    FieldType.LIST: {"contains", "not_contains", "is_null", "is_not_null"},
    FieldType.SEGMENT: {"in", "not_in"},
}

RELATIVE_DATE = re.compile(r"^(?:today|[+-]\d{1,4}d)$")


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="A customer field, or order.* / subscription.* of the event.")
    operator: Operator
    value: Any = Field(default=None, description="Omitted for is_null / is_not_null.")


# OR of AND-blocks.
Conditions = list[list[Condition]]


def field_type(name: str) -> FieldType | None:
    if name in CUSTOMER_FIELDS:
        return CUSTOMER_FIELDS[name].type
    if name in EVENT_FIELDS:
        return EVENT_FIELDS[name][0]
    return None


def field_catalog() -> list[dict[str, str]]:
    """Return every field a condition may test, with its type and label (for the builder)."""
    fields = [
        {"name": f.name, "type": str(f.type), "label": f.label} for f in CUSTOMER_FIELDS.values()
    ]
    fields += [
        {"name": n, "type": str(t), "label": label} for n, (t, label) in EVENT_FIELDS.items()
    ]
    return fields


def validate_conditions(
    blocks: Conditions, store_segment_ids: set[int], prefix: str
) -> dict[str, list[str]]:
    """Return errors keyed by field path (``conditions.0.1.value``); empty when valid."""
    errors: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        errors.setdefault(path, []).append(message)

    if len(blocks) > MAX_OR_BLOCKS:
        add(prefix, f"At most {MAX_OR_BLOCKS} OR-blocks.")
    for i, block in enumerate(blocks):
        if not block:
            add(f"{prefix}.{i}", "An OR-block needs at least one condition.")
        if len(block) > MAX_AND_CONDITIONS:
            add(f"{prefix}.{i}", f"At most {MAX_AND_CONDITIONS} conditions in an OR-block.")
        for j, cond in enumerate(block):
            path = f"{prefix}.{i}.{j}"
            ftype = field_type(cond.field)
            if ftype is None:
                add(f"{path}.field", f"Unknown field {cond.field!r}.")
                continue
            if cond.operator not in OPERATORS_BY_TYPE[ftype]:
                allowed = ", ".join(sorted(OPERATORS_BY_TYPE[ftype]))
                add(
                    f"{path}.operator",
                    f"{cond.operator!r} does not apply to {ftype}; use {allowed}.",
                )
                continue
            message = _value_error(ftype, cond, store_segment_ids)
            if message:
                add(f"{path}.value", message)
    return errors


def _value_error(ftype: FieldType, cond: Condition, store_segment_ids: set[int]) -> str:
    op, value = cond.operator, cond.value
    if op in ("is_null", "is_not_null"):
        return ""
    if value is None:
        return "A value is required."
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            return "between needs a list of two values."
        return _scalar_error(ftype, value[0]) or _scalar_error(ftype, value[1])
    if ftype == FieldType.SEGMENT:
        if not isinstance(value, int) or isinstance(value, bool):
            return "Give the segment id."
        if value not in store_segment_ids:
            return f"Segment {value} does not exist in this store."
        return ""
    if ftype == FieldType.LIST:
        return "" if isinstance(value, str | int) and str(value) else "Give a text value."
    return _scalar_error(ftype, value)


def _scalar_error(ftype: FieldType, value: Any) -> str:
    if ftype in (FieldType.NUMBER, FieldType.MONEY):
        if isinstance(value, bool) or _to_decimal(value) is None:
            return f"{value!r} is not a number."
        if ftype == FieldType.NUMBER and _to_decimal(value) != int(_to_decimal(value)):
            return f"{value!r} is not a whole number."
    elif ftype == FieldType.DATE:
        if not isinstance(value, str) or _parse_date(value, dt.date(2000, 1, 1)) is None:
            return f"{value!r} is not a date (2026-01-31, today, -30d, +3d)."
    elif ftype == FieldType.BOOLEAN:
        if not isinstance(value, bool):
            return "Give true or false."
    elif not isinstance(value, str):
        return "Give a text value."
    return ""


def _to_decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _parse_date(value: str, today: dt.date) -> dt.date | None:
    value = value.strip()
    if RELATIVE_DATE.match(value):
        return today if value == "today" else today + dt.timedelta(days=int(value[:-1]))
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def segment_ids_in(blocks: Conditions) -> set[int]:
    return {
        c.value
        for block in blocks
        for c in block
        if field_type(c.field) == FieldType.SEGMENT and isinstance(c.value, int)
    }


# --- evaluation ---------------------------------------------------------------------------------


@dataclass
class ConditionResult:
    field: str
    operator: str
    value: Any
    actual: Any
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        actual = self.actual
        if isinstance(actual, Decimal | dt.date | dt.datetime):
            actual = str(actual)
        elif isinstance(actual, set | frozenset):
            actual = sorted(actual, key=str)
        return {
            "field": self.field,
            "operator": self.operator,
            "value": self.value,
            "actual": actual,
            "passed": self.passed,
        }


def evaluate(blocks: Conditions, ctx) -> tuple[bool, list[list[ConditionResult]]]:
    """Return whether any OR-block holds entirely, and every condition's outcome.

    Evaluates every condition (no short cut) so diagnostics can show each one.
    """
    trace = [[evaluate_one(c, ctx) for c in block] for block in blocks]
    return any(all(r.passed for r in block) for block in trace), trace


def evaluate_one(cond: Condition, ctx) -> ConditionResult:
    ftype = field_type(cond.field)
    if ftype == FieldType.SEGMENT:
        member = cond.value in ctx.segment_ids
        passed = member if cond.operator == "in" else not member
        return ConditionResult(cond.field, cond.operator, cond.value, member, passed)
    actual = ctx.value_of(cond.field)
    return ConditionResult(
        cond.field, cond.operator, cond.value, actual, _compare(ftype, cond, actual, ctx.today)
    )


def _normalise(ftype: FieldType, value: Any, today: dt.date):
    if value is None:
        return None
    if ftype in (FieldType.NUMBER, FieldType.MONEY):
        return _to_decimal(value)
    if ftype == FieldType.DATE:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return _parse_date(str(value), today)
    if ftype == FieldType.STRING:
        return str(value).lower()
    return value


def _compare(ftype: FieldType, cond: Condition, actual: Any, today: dt.date) -> bool:
    op = cond.operator
    if ftype == FieldType.LIST:
        items = {str(x).lower() for x in (actual or [])}
        if op == "is_null":
            return not items
        if op == "is_not_null":
            return bool(items)
        present = str(cond.value).lower() in items
        return present if op == "contains" else not present
    left = _normalise(ftype, actual, today)
    if ftype == FieldType.STRING and left == "":
        left = None
    if op == "is_null":
        return left is None
    if op == "is_not_null":
        return left is not None
    if ftype == FieldType.STRING and op in ("contains", "not_contains"):
        found = left is not None and str(cond.value).lower() in left
        return found if op == "contains" else not found
    if op == "between":
        low, high = (_normalise(ftype, v, today) for v in cond.value)
        return left is not None and low is not None and high is not None and low <= left <= high
    right = _normalise(ftype, cond.value, today)
    if op == "eq":
        return left == right
    if op == "neq":
        return left != right
    if left is None or right is None:
        return False
    return {
        "lt": left < right,
        "lte": left <= right,
        "gt": left > right,
        "gte": left >= right,
    }[op]
