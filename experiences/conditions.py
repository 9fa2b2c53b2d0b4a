"""Conditions of triggers and branches: up to 10 OR-blocks of up to 5 AND-conditions.

A condition tests one field of the customer (the catalog in ``segments.fields``), of the order
or of the subscription of the event. There is ONE semantics for conditions and segment rules: a
condition is translated into the rule language's syntax tree and compiled to SQL by the segment
compiler (``segments.rules.compiler``), so how each field type and operator treats a missing value,
dates in the store's time zone, lists and money is defined once, there. The event's order and
subscription are fields the compiler is given as extra SQL expressions (``EVENT_FIELD_SQL``).

Conditions are evaluated in the database, many at once: every condition of every trigger that an
event may start, for one or many (customer, order, subscription) subjects, in one statement.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from django.db import connection
from pydantic import BaseModel, ConfigDict, Field

from segments.fields import CUSTOMER_FIELDS, FieldType
from segments.models import Customer, Order, OrderLine, Subscription
from segments.rules import context_for, shift_date
from segments.rules.ast import Condition as RuleCondition
from segments.rules.ast import Position, Value
from segments.rules.compiler import ExtraField, compile_rule, compile_value

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

RELATIVE_DATE = re.compile(r"^(?:today|[+-]\d{1,4}[dwmy])$", re.IGNORECASE)


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
            return f"{value!r} is not a date (2026-01-31, today, -30d, +3d, -2w, -3m, -1y)."
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
    try:
        if RELATIVE_DATE.match(value):
            return today if value.lower() == "today" else shift_date(today, value)
        return dt.date.fromisoformat(value)
    except (ValueError, OverflowError):
        return None


def segment_ids_in(blocks: Conditions) -> set[int]:
    return {
        c.value
        for block in blocks
        for c in block
        if field_type(c.field) == FieldType.SEGMENT and isinstance(c.value, int)
    }


# --- translation to the rule language ----------------------------------------------------------

_ORDER = Order._meta.db_table
_LINE = OrderLine._meta.db_table
_SUB = Subscription._meta.db_table
_CUSTOMER = Customer._meta.db_table

# The event's fields as SQL over the evaluation query's order ``o`` and subscription ``s``.
EVENT_FIELD_SQL: dict[str, str] = {
    "order.total": "o.total",
    "order.products": (
        f"CASE WHEN o.id IS NULL THEN NULL ELSE ARRAY(SELECT p FROM {_LINE} ol,"
        " LATERAL (VALUES (ol.product_id), (ol.sku)) AS v(p)"
        " WHERE ol.order_id = o.id AND p <> '') END"
    ),
    "order.discount_codes": (
        "CASE WHEN o.id IS NULL THEN NULL ELSE ARRAY(SELECT CASE WHEN jsonb_typeof(d) = 'object'"
        " THEN d ->> 'code' ELSE d #>> '{}' END FROM jsonb_array_elements(CASE WHEN"
        " jsonb_typeof(o.discount_codes) = 'array' THEN o.discount_codes ELSE '[]'::jsonb END)"
        " AS t(d)) END"
    ),
    "order.type": (
        "CASE WHEN o.id IS NULL THEN NULL WHEN NOT o.is_subscription THEN 'one_time'"
        " WHEN o.is_first_subscription_order THEN 'first' ELSE 'recurring' END"
    ),
    "order.is_subscription": "o.is_subscription",
    "subscription.status": "s.status",
    "subscription.product": "s.product_id",
    "subscription.variant": "s.variant_id",
    "subscription.quantity": "s.quantity",
    "subscription.interval_unit": "s.interval_unit",
    "subscription.is_prepaid": "s.is_prepaid",
    "subscription.next_charge_date": "s.next_charge_date",
}
EXTRA_FIELDS = {
    name: ExtraField(EVENT_FIELDS[name][0], sql) for name, sql in EVENT_FIELD_SQL.items()
}

_OPS = {
    "eq": "=",
    "neq": "!=",
    "lt": "<",
    "lte": "<=",
    "gt": ">",
    "gte": ">=",
    "between": "BETWEEN",
    "contains": "CONTAINS",
    "not_contains": "NOT_CONTAINS",
    "is_null": "IS_NULL",
    "is_not_null": "IS_NOT_NULL",
    "in": "=",
    "not_in": "!=",
}
_HERE = Position(1, 1)


def _rule_value(ftype: FieldType, value: Any) -> Value:
    if ftype in (FieldType.NUMBER, FieldType.MONEY):
        return Value("NUMBER", str(_to_decimal(value)), _HERE)
    if ftype == FieldType.DATE:
        text = str(value).strip()
        if text.lower() == "today":
            return Value("TODAY", text, _HERE)
        if RELATIVE_DATE.match(text):
            return Value("RELATIVE_DATE", text, _HERE)
        return Value("DATE", text, _HERE)
    if ftype == FieldType.BOOLEAN:
        return Value("TRUE" if value else "FALSE", str(value).lower(), _HERE)
    return Value("STRING", str(value), _HERE)


def to_rule(cond: Condition) -> RuleCondition:
    """Return the rule language's condition that tests what this condition tests."""
    ftype = field_type(cond.field)
    if ftype is None:
        raise ValueError(f"unknown field {cond.field!r}")
    if cond.operator in ("is_null", "is_not_null"):
        values: tuple[Value, ...] = ()
    elif cond.operator == "between":
        values = tuple(_rule_value(ftype, v) for v in cond.value)
    else:
        values = (_rule_value(ftype, cond.value),)
    return RuleCondition(cond.field, _OPS[cond.operator], values, _HERE)


# --- evaluation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """Who and what conditions are evaluated against: a customer, and the event's order and
    subscription (when the event names none, the customer's latest order and their active, else
    latest, subscription)."""

    customer_id: int
    order_id: int | None = None
    subscription_id: int | None = None
    # A simulation's replayed moment: the customer's order figures are read as they were then
    # (see ``_historical_customer_sql``); None for the live engine (the stored figures).
    at: dt.datetime | None = None

    @classmethod
    def of(cls, customer_id: int, event_data: dict[str, Any] | None, at=None) -> Subject:
        data = event_data or {}

        def as_id(value):
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        return cls(customer_id, as_id(data.get("order_id")), as_id(data.get("subscription_id")), at)


@dataclass
class ConditionResult:
    field: str
    operator: str
    value: Any
    actual: Any
    passed: bool
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        actual = self.actual
        if isinstance(actual, Decimal | dt.date | dt.datetime):
            actual = str(actual)
        elif isinstance(actual, set | frozenset):
            actual = sorted(actual, key=str)
        answer = {
            "field": self.field,
            "operator": self.operator,
            "value": self.value,
            "actual": actual,
            "passed": self.passed,
        }
        if self.note:
            answer["note"] = self.note
        return answer


Trace = list[list[ConditionResult]]


# The customer's order figures recomputed from their orders up to the subject's moment ``e.at``
# (an order counts if it was processed by then, not cancelled by then, and is not refunded or
# voided today); every other column is the stored one.
HISTORICAL_FIGURES = {
    "orders_count": "COUNT(*)",
    "subscription_orders_count": "COUNT(*) FILTER (WHERE ho.is_subscription)",
    "total_spent": "COALESCE(SUM(ho.total), 0)",
    "subscription_aov": "COALESCE(ROUND(AVG(ho.total) FILTER (WHERE ho.is_subscription), 2), 0)",
    "first_order_at": "MIN(ho.processed_at)",
    "last_order_at": "MAX(ho.processed_at)",
}


def _historical_customer_sql() -> str:
    columns = ", ".join(
        f"h.{f.column}" if f.column in HISTORICAL_FIGURES else f"hc.{f.column}"
        for f in Customer._meta.concrete_fields
    )
    figures = ", ".join(f"{sql} AS {name}" for name, sql in HISTORICAL_FIGURES.items())
    return (
        f" JOIN LATERAL (SELECT {columns} FROM {_CUSTOMER} hc, LATERAL (SELECT {figures}"
        f" FROM {_ORDER} ho WHERE ho.customer_id = hc.id AND ho.processed_at <= e.at"
        " AND (ho.cancelled_at IS NULL OR ho.cancelled_at > e.at)"
        " AND ho.financial_status NOT IN ('refunded', 'voided')) h"
        " WHERE hc.id = e.customer_id) c ON true"
    )


def _source_sql(count: int, historical: bool = False) -> str:
    if historical:  # a simulation's many subjects: five arrays, not five parameters per subject
        # Each array is one text parameter ("1,2,3", ISO moments): quoting
        # tens of thousands of list items one by one costs more than the statement.
        arrays = ", ".join(
            f"string_to_array(%s, ',', '')::{kind}[]"
            for kind in ("int", "bigint", "bigint", "bigint")
        )
        source = (
            f"unnest({arrays}, string_to_array(%s, ',')::timestamptz[])"
            " AS e(i, customer_id, order_id, subscription_id, at)"
        )
        customer = _historical_customer_sql()
    else:
        rows = ", ".join(["(%s::int, %s::bigint, %s::bigint, %s::bigint)"] * count)
        source = f"(VALUES {rows}) AS e(i, customer_id, order_id, subscription_id)"
        customer = f" JOIN {_CUSTOMER} c ON c.id = e.customer_id"
    # The customer's latest order when the event names none (as of the moment, in a simulation).
    by_then = " AND lo.processed_at <= e.at" if historical else ""
    return (
        f" FROM {source}"
        + customer
        + f" LEFT JOIN {_ORDER} o ON o.customer_id = c.id AND o.id = COALESCE(e.order_id,"
        f" (SELECT lo.id FROM {_ORDER} lo WHERE lo.customer_id = c.id{by_then}"
        " ORDER BY lo.processed_at DESC, lo.id DESC LIMIT 1))"
        f" LEFT JOIN {_SUB} s ON s.customer_id = c.id AND s.id = COALESCE(e.subscription_id,"
        f" (SELECT ls.id FROM {_SUB} ls WHERE ls.customer_id = c.id"
        " ORDER BY (ls.status = 'active') DESC, ls.created_at DESC, ls.id DESC LIMIT 1))"
    )


def evaluate_many(
    store,
    subjects: list[Subject],
    tests: list[list[Conditions]],
    *,
    with_values: bool = False,
    today: dt.date | None = None,
) -> list[list[tuple[bool, Trace]]]:
    """Evaluate, for each subject ``i``, every conditions set of ``tests[i]``; return for each
    subject and set whether any OR-block held entirely, and every condition's outcome.

    One statement whatever the number of subjects and sets (none when nothing is to be tested).
    ``with_values`` also reads each tested field's value (for explanations). A simulation gives
    ``today`` (its replayed day, for relative dates) and subjects with ``at`` (figures as then).
    """
    answers: list[list[tuple[bool, Trace]]] = [[] for _ in subjects]
    flat: list[list[Condition]] = []
    for sets in tests:
        flat.append([c for blocks in sets for block in blocks for c in block])
    wanted = [i for i, conds in enumerate(flat) if conds]
    results: dict[int, tuple[list[bool], list[Any], int | None, int | None]] = {}
    if wanted:
        referenced = {
            c.value
            for i in wanted
            for c in flat[i]
            if field_type(c.field) == FieldType.SEGMENT and isinstance(c.value, int)
        }
        ctx = context_for(store, segments=[(sid, str(sid)) for sid in referenced], alias="c")
        ctx.extra_fields = EXTRA_FIELDS
        if today is not None:
            ctx.today = today
        historical = any(s.at is not None for s in subjects)
        # Subjects tested against the very same conditions (the same triggers) share one
        # SELECT over a VALUES list of them; the SELECTs are joined with UNION ALL.
        groups: dict[tuple, list[int]] = {}
        for i in wanted:
            groups.setdefault(tuple(id(c) for c in flat[i]), []).append(i)
        selects, params = [], []
        for members in groups.values():
            conds = flat[members[0]]
            tests_sql, values_sql = [], []
            for cond in conds:
                sql, p = compile_rule(to_rule(cond), ctx)
                tests_sql.append(sql)
                params.extend(p)
            if with_values:
                for cond in conds:
                    sql, p = compile_value(cond.field, ctx)
                    values_sql.append(f"to_jsonb({sql})")
                    params.extend(p)
            values = f"jsonb_build_array({', '.join(values_sql)})" if with_values else "NULL"
            selects.append(
                f"SELECT e.i, ARRAY[{', '.join(tests_sql)}]::boolean[], {values}::jsonb"
                + ", o.id, s.id"
                + _source_sql(len(members), historical)
            )
            if historical:
                chosen = [subjects[i] for i in members]
                params.extend(
                    [
                        ",".join(map(str, members)),
                        ",".join(str(s.customer_id) for s in chosen),
                        ",".join("" if s.order_id is None else str(s.order_id) for s in chosen),
                        ",".join(
                            "" if s.subscription_id is None else str(s.subscription_id)
                            for s in chosen
                        ),
                        ",".join(s.at.isoformat() for s in chosen),
                    ]
                )
            else:
                for i in members:
                    subject = subjects[i]
                    params.extend(
                        [i, subject.customer_id, subject.order_id, subject.subscription_id]
                    )
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(selects), params)
            for i, passed, values, order_id, subscription_id in cursor.fetchall():
                results[i] = (passed, values or [], order_id, subscription_id)
    for i, sets in enumerate(tests):
        passed, values, order_id, subscription_id = results.get(i, ([], [], None, None))
        k = 0
        for blocks in sets:
            trace: Trace = []
            for block in blocks:
                row = []
                for cond in block:
                    ok = bool(passed[k]) if k < len(passed) else False
                    actual = values[k] if k < len(values) else None
                    note = _missing_note(cond.field, subjects[i], order_id, subscription_id)
                    row.append(
                        ConditionResult(cond.field, cond.operator, cond.value, actual, ok, note)
                    )
                    k += 1
                trace.append(row)
            held = any(all(r.passed for r in block) for block in trace)
            answers[i].append((held, trace))
    return answers


def _missing_note(field: str, subject: Subject, order_id, subscription_id) -> str:
    """Say when a condition on the event's order or subscription had none to test."""
    for prefix, named, found in (
        ("order.", subject.order_id, order_id),
        ("subscription.", subject.subscription_id, subscription_id),
    ):
        if not field.startswith(prefix):
            continue
        thing = prefix[:-1]
        if found is None:
            if named is None:
                return f"the event names no {thing} and the customer has none: the test is false"
            return f"the event's {thing} {named} was not found: the test is false"
        if named is None:
            return f"the event names no {thing}: tested on the customer's {thing} {found}"
    return ""


def evaluate(blocks: Conditions, ctx, *, with_values: bool = True) -> tuple[bool, Trace]:
    """Return whether any OR-block holds entirely for the context's customer and event, and every
    condition's outcome (each one is evaluated, so diagnostics can show each)."""
    subject = Subject.of(ctx.customer.pk, ctx.event_data)
    return evaluate_many(ctx.store, [subject], [[blocks]], with_values=with_values)[0][0]
