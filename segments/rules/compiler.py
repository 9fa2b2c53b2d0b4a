"""Compile a checked rule tree to one SQL condition over the customer table.

The condition is a boolean SQL fragment on a customer row (alias ``c`` unless told otherwise), so
the same text selects the whole set (``WHERE store_id = %s AND <rule>``), evaluates one customer
for many segments at once (``SELECT <rule 1>, <rule 2>, ... WHERE id = %s``), or filters a
Django queryset through ``RawSQL``. Every comparison yields true or false, never NULL, so ``NOT``
reads as merchants expect: ``NOT last_order_date > -90d`` includes customers who never ordered.
The SQL is PostgreSQL's.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal

from ..fields import CUSTOMER_FIELDS, FieldType
from ..models import Customer, OrderLine, SegmentMembership, Subscription, UpcomingOrder
from .ast import AllOf, AnyOf, Condition, Node, Not, Value
from .errors import RuleError

_SQL_OPS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_NULLABLE_COLUMNS = {"first_order_at", "last_order_at"}
_TIMESTAMP_COLUMNS = {"first_order_at", "last_order_at", "created_at"}


@dataclass(frozen=True)
class ExtraField:
    """A field that is not on the customer: an SQL expression over other tables of the query
    (an experience event's order ``o`` and subscription ``s``), compiled with the same semantics
    as the customer's fields. A LIST field's expression is a ``text[]``."""

    type: FieldType
    sql: str


@dataclass
class CompileContext:
    """What a rule needs from outside itself: the store's today and its segments, and the fields
    beyond the customer's that the query provides (an experience event's order and subscription).
    """

    today: date
    tz: tzinfo
    # Lower-cased names and str(ids) of the store's segments, mapped to their ids.
    segments: dict[str, int] = field(default_factory=dict)
    alias: str = "c"
    extra_fields: dict[str, ExtraField] = field(default_factory=dict)


def shift_date(day: date, text: str) -> date:
    """Return ``day`` moved by a relative date like ``-30d``, ``+2w``, ``-3m`` or ``-1y``."""
    sign = -1 if text[0] == "-" else 1
    amount, unit = int(text[1:-1]) * sign, text[-1].lower()
    if unit == "d":
        return day + timedelta(days=amount)
    if unit == "w":
        return day + timedelta(weeks=amount)
    months = amount * (12 if unit == "y" else 1)
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    year = min(max(year, 1), 9999)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last_day))


def _date_value(value: Value, ctx: CompileContext) -> date:
    try:
        if value.kind == "TODAY":
            return ctx.today
        if value.kind == "RELATIVE_DATE":
            return shift_date(ctx.today, value.text)
        return date.fromisoformat(value.text)
    except (ValueError, OverflowError):
        raise RuleError.at(
            value.pos.line, value.pos.column, f"'{value.text}' is out of range"
        ) from None


class _Compiler:
    def __init__(self, ctx: CompileContext):
        self.ctx = ctx
        self.params: list = []
        a = ctx.alias
        self.c = a
        self.tables = {
            "line": OrderLine._meta.db_table,
            "sub": Subscription._meta.db_table,
            "upcoming": UpcomingOrder._meta.db_table,
            "member": SegmentMembership._meta.db_table,
        }

    def param(self, value) -> str:
        self.params.append(value)
        return "%s"

    # --- tree -----------------------------------------------------------------------------
    def node(self, node: Node) -> str:
        if isinstance(node, AllOf):
            return "(" + " AND ".join(self.node(i) for i in node.items) + ")"
        if isinstance(node, AnyOf):
            return "(" + " OR ".join(self.node(i) for i in node.items) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.node(node.item)})"
        return self.condition(node)

    def condition(self, cond: Condition) -> str:
        extra = self.ctx.extra_fields.get(cond.field)
        if extra is not None:
            return self.extra_condition(extra, cond)
        spec = CUSTOMER_FIELDS[cond.field.lower()]
        if spec.type == FieldType.LIST:
            sql = self.list_contains(spec.name, cond.values[0].text)
            return f"(NOT {sql})" if cond.op == "NOT_CONTAINS" else sql
        if spec.type == FieldType.SEGMENT:
            sql = self.segment_member(cond.values[0])
            return f"(NOT {sql})" if cond.op == "!=" else sql
        expr, nullable = self.scalar(spec.name)
        if cond.op in {"IS_NULL", "IS_NOT_NULL"}:
            return f"({expr} IS {'NOT ' if cond.op == 'IS_NOT_NULL' else ''}NULL)"
        if spec.type == FieldType.DATE:
            test = self.date_test(spec.column, expr, cond)
        elif spec.type == FieldType.STRING:
            test = self.string_test(expr, cond)
        elif spec.type == FieldType.BOOLEAN:
            wanted = (cond.values[0].kind == "TRUE") == (cond.op == "=")
            test = f"({expr} = {self.param(wanted)})"
        else:
            test = self.number_test(expr, cond)
        if not nullable:
            return test
        if spec.column:
            return f"({expr} IS NOT NULL AND {test})"
        return f"COALESCE({test}, false)"

    def extra_condition(self, extra: ExtraField, cond: Condition) -> str:
        """Compile a test of a field beyond the customer's; a missing value tests false."""
        expr = f"({extra.sql})"
        if extra.type == FieldType.LIST:
            if cond.op in {"IS_NULL", "IS_NOT_NULL"}:
                empty = f"(coalesce(cardinality({expr}), 0) = 0)"
                return empty if cond.op == "IS_NULL" else f"(NOT {empty})"
            sql = (
                f"COALESCE(EXISTS (SELECT 1 FROM unnest({expr}) AS x(v)"
                f" WHERE lower(x.v) = lower({self.param(cond.values[0].text)})), false)"
            )
            return f"(NOT {sql})" if cond.op == "NOT_CONTAINS" else sql
        if cond.op in {"IS_NULL", "IS_NOT_NULL"}:
            return f"({expr} IS {'NOT ' if cond.op == 'IS_NOT_NULL' else ''}NULL)"
        if extra.type == FieldType.DATE:
            test = self.date_test(None, expr, cond)
        elif extra.type == FieldType.STRING:
            test = self.string_test(expr, cond)
        elif extra.type == FieldType.BOOLEAN:
            wanted = (cond.values[0].kind == "TRUE") == (cond.op == "=")
            test = f"({expr} = {self.param(wanted)})"
        else:
            test = self.number_test(expr, cond)
        return f"COALESCE({test}, false)"

    # --- fields ---------------------------------------------------------------------------
    def scalar(self, name: str) -> tuple[str, bool]:
        """Return the SQL expression of a one-valued field and whether it may be NULL."""
        spec = CUSTOMER_FIELDS[name]
        c = self.c
        if spec.column:
            return f"{c}.{spec.column}", spec.column in _NULLABLE_COLUMNS
        if name == "email_domain":
            return f"lower(split_part({c}.email, '@', 2))", False
        if name == "next_charge_date":
            return (
                f"(SELECT min(u.scheduled_at) FROM {self.tables['upcoming']} u"
                f" WHERE u.customer_id = {c}.id AND u.status = 'scheduled')",
                True,
            )
        raise RuleError.at(1, 1, f"'{name}' cannot be compared")  # catalog and compiler disagree

    def value(self, name: str) -> str:
        """Return an SQL expression of the field's value, for showing it (``explain``): scalars
        as they compare (timestamps as the store's local date), lists as ``text[]``."""
        extra = self.ctx.extra_fields.get(name)
        if extra is not None:
            return f"({extra.sql})"
        spec = CUSTOMER_FIELDS[name]
        c = self.c
        if spec.type == FieldType.LIST:
            if name == "tags":
                return (
                    f"ARRAY(SELECT t.tag FROM jsonb_array_elements_text("
                    f"CASE WHEN jsonb_typeof({c}.tags) = 'array' THEN {c}.tags"
                    f" ELSE '[]'::jsonb END) AS t(tag))"
                )
            if name == "products_purchased":
                return (
                    f"ARRAY(SELECT DISTINCT p FROM {self.tables['line']} ol,"
                    f" LATERAL (VALUES (ol.product_id), (ol.sku)) AS v(p)"
                    f" WHERE ol.customer_id = {c}.id AND p <> '' ORDER BY p)"
                )
            return (
                f"ARRAY(SELECT DISTINCT s.status::text FROM {self.tables['sub']} s"
                f" WHERE s.customer_id = {c}.id ORDER BY 1)"
            )
        if spec.type == FieldType.SEGMENT:
            return (
                f"ARRAY(SELECT sm.segment_id::text FROM {self.tables['member']} sm"
                f" WHERE sm.customer_id = {c}.id ORDER BY 1)"
            )
        expr, _ = self.scalar(name)
        if spec.column in _TIMESTAMP_COLUMNS:
            return f"(({expr}) AT TIME ZONE {self.param(str(self.ctx.tz))})::date"
        return expr

    def list_contains(self, name: str, text: str) -> str:
        c = self.c
        if name == "tags":
            return (
                f"EXISTS (SELECT 1 FROM jsonb_array_elements_text("
                f"CASE WHEN jsonb_typeof({c}.tags) = 'array' THEN {c}.tags ELSE '[]'::jsonb END"
                f") AS t(tag) WHERE lower(t.tag) = lower({self.param(text)}))"
            )
        if name == "products_purchased":
            p1, p2 = self.param(text), self.param(text)
            return (
                f"EXISTS (SELECT 1 FROM {self.tables['line']} ol WHERE ol.customer_id = {c}.id"
                f" AND (ol.product_id = {p1} OR ol.sku = {p2}))"
            )
        return (
            f"EXISTS (SELECT 1 FROM {self.tables['sub']} s WHERE s.customer_id = {c}.id"
            f" AND s.status = {self.param(text.lower())})"
        )

    def segment_member(self, value: Value) -> str:
        segment_id = self.ctx.segments.get(value.text.strip().lower())
        if segment_id is None:
            raise RuleError.at(
                value.pos.line, value.pos.column, f"no segment named '{value.text}' in this store"
            )
        return (
            f"EXISTS (SELECT 1 FROM {self.tables['member']} sm WHERE sm.customer_id = {self.c}.id"
            f" AND sm.segment_id = {self.param(segment_id)})"
        )

    # --- comparisons ----------------------------------------------------------------------
    def number_test(self, expr: str, cond: Condition) -> str:
        values = [Decimal(v.text) for v in cond.values]
        if cond.op == "BETWEEN":
            low, high = sorted(values)
            return f"({expr} BETWEEN {self.param(low)} AND {self.param(high)})"
        return f"({expr} {_SQL_OPS[cond.op]} {self.param(values[0])})"

    def string_test(self, expr: str, cond: Condition) -> str:
        text = cond.values[0].text
        if cond.op in {"CONTAINS", "NOT_CONTAINS"}:
            escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            sql = f"(lower({expr}) LIKE {self.param('%' + escaped + '%')})"
            return f"(NOT {sql})" if cond.op == "NOT_CONTAINS" else sql
        return f"(lower({expr}) {_SQL_OPS[cond.op]} lower({self.param(text)}))"

    def day_start(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=self.ctx.tz)

    def date_test(self, column: str | None, expr: str, cond: Condition) -> str:
        days = [_date_value(v, self.ctx) for v in cond.values]
        if column not in _TIMESTAMP_COLUMNS:  # a date column: compare days directly
            if cond.op == "BETWEEN":
                low, high = sorted(days)
                return f"({expr} BETWEEN {self.param(low)} AND {self.param(high)})"
            return f"({expr} {_SQL_OPS[cond.op]} {self.param(days[0])})"
        # A timestamp: a day is the half-open range [its midnight, the next midnight) in the
        # store's time zone.
        day = days[0]
        if cond.op == "BETWEEN":
            low, high = sorted(days)
            return (
                f"({expr} >= {self.param(self.day_start(low))}"
                f" AND {expr} < {self.param(self.next_day_start(high))})"
            )
        if cond.op in {"=", "!="}:
            inside = (
                f"({expr} >= {self.param(self.day_start(day))}"
                f" AND {expr} < {self.param(self.next_day_start(day))})"
            )
            return inside if cond.op == "=" else f"(NOT {inside})"
        if cond.op == ">":
            return f"({expr} >= {self.param(self.next_day_start(day))})"
        if cond.op == ">=":
            return f"({expr} >= {self.param(self.day_start(day))})"
        if cond.op == "<":
            return f"({expr} < {self.param(self.day_start(day))})"
        return f"({expr} < {self.param(self.next_day_start(day))})"

    def next_day_start(self, day: date) -> datetime:
        if day == date.max:
            return datetime.combine(day, time.max, tzinfo=self.ctx.tz)
        return self.day_start(day + timedelta(days=1))


def compile_rule(node: Node, ctx: CompileContext) -> tuple[str, list]:
    """Return ``(sql, params)``: a boolean SQL condition on one customer row."""
    compiler = _Compiler(ctx)
    sql = compiler.node(node)
    return sql, compiler.params


def compile_value(name: str, ctx: CompileContext) -> tuple[str, list]:
    """Return ``(sql, params)``: the value of one field on one customer row (for ``explain``)."""
    compiler = _Compiler(ctx)
    sql = compiler.value(name)
    return sql, compiler.params


def customer_table() -> str:
    return Customer._meta.db_table
