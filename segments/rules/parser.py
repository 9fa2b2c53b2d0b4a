"""Parse a segment rule with the lark grammar and check it against the field catalog.

``parse_rule`` turns text into a syntax tree (``ast.py``) or raises ``RuleError`` naming the line
and column. No input makes it raise anything else: the parser is fuzzed with hypothesis.
"""

from __future__ import annotations

import difflib
import re
from datetime import date
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from ..fields import CUSTOMER_FIELDS, FieldType
from .ast import AllOf, AnyOf, Condition, Node, Not, Position, Value, conditions
from .errors import RuleError, RuleProblem

MAX_RULE_LENGTH = 10_000
SUBSCRIPTION_STATUSES = ("active", "paused", "cancelled", "expired")

_TERMINAL_WORDS = {
    "FIELD": "a field name",
    "COMPARE": "a comparison (=, !=, <, <=, >, >=)",
    "STRING": "a quoted text",
    "NUMBER": "a number",
    "DATE": "a date like 2026-01-31",
    "RELATIVE_DATE": "a relative date like -30d",
    "TODAY": "today",
    "TRUE": "true",
    "FALSE": "false",
    "_AND": "AND",
    "_OR": "OR",
    "_NOT": "NOT",
    "_BETWEEN": "BETWEEN",
    "_IS": "IS",
    "_NULL": "NULL",
    "_CONTAINS": "CONTAINS",
    "LPAR": "'('",
    "RPAR": "')'",
    "$END": "the end of the rule",
}

# Which operators each field type accepts, and which kinds of value it compares with.
_OPERATORS = {
    FieldType.STRING: {"=", "!=", "CONTAINS", "NOT_CONTAINS", "IS_NULL", "IS_NOT_NULL"},
    FieldType.NUMBER: {"=", "!=", "<", "<=", ">", ">=", "BETWEEN", "IS_NULL", "IS_NOT_NULL"},
    FieldType.MONEY: {"=", "!=", "<", "<=", ">", ">=", "BETWEEN", "IS_NULL", "IS_NOT_NULL"},
    FieldType.DATE: {"=", "!=", "<", "<=", ">", ">=", "BETWEEN", "IS_NULL", "IS_NOT_NULL"},
    FieldType.BOOLEAN: {"=", "!="},
    FieldType.LIST: {"CONTAINS", "NOT_CONTAINS"},
    FieldType.SEGMENT: {"=", "!="},
}
_VALUE_KINDS = {
    FieldType.STRING: {"STRING"},
    FieldType.NUMBER: {"NUMBER"},
    FieldType.MONEY: {"NUMBER"},
    FieldType.DATE: {"DATE", "RELATIVE_DATE", "TODAY"},
    FieldType.BOOLEAN: {"TRUE", "FALSE"},
    FieldType.LIST: {"STRING"},
    FieldType.SEGMENT: {"STRING", "NUMBER"},
}
_OP_WORDS = {
    "IS_NULL": "IS NULL",
    "IS_NOT_NULL": "IS NOT NULL",
    "NOT_CONTAINS": "NOT CONTAINS",
}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = (Path(__file__).parent / "grammar.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _pos(token: Token) -> Position:
    return Position(token.line or 1, token.column or 1)


def _value(token: Token) -> Value:
    text = str(token)
    if token.type == "STRING":
        text = re.sub(r"\\(.)", r"\1", text[1:-1])
    return Value(token.type, text, _pos(token))


@v_args(inline=True)
class _ToAst(Transformer):
    def start(self, node):
        return node

    def any_of(self, *items):
        return items[0] if len(items) == 1 else AnyOf(tuple(items))

    def all_of(self, *items):
        return items[0] if len(items) == 1 else AllOf(tuple(items))

    def negation(self, item):
        return Not(item)

    def value(self, token):
        return _value(token)

    def compare(self, field, op, value):
        return Condition(str(field), str(op), (value,), _pos(field))

    def between(self, field, low, high):
        return Condition(str(field), "BETWEEN", (low, high), _pos(field))

    def is_null(self, field):
        return Condition(str(field), "IS_NULL", (), _pos(field))

    def is_not_null(self, field):
        return Condition(str(field), "IS_NOT_NULL", (), _pos(field))

    def contains(self, field, value):
        return Condition(str(field), "CONTAINS", (value,), _pos(field))

    def not_contains(self, field, value):
        return Condition(str(field), "NOT_CONTAINS", (value,), _pos(field))


def _expected_words(expected) -> str:
    words = sorted({_TERMINAL_WORDS.get(name, name.strip("_").lower()) for name in expected})
    return ", ".join(words[:8])


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def _syntax_error(text: str, exc: UnexpectedInput) -> RuleError:
    line, column = getattr(exc, "line", -1), getattr(exc, "column", -1)
    if isinstance(exc, UnexpectedEOF) or line is None or line < 1:
        line, column = _end_position(text)
        return RuleError.at(
            line, column, f"the rule ends too early; expected {_expected_words(exc.expected)}"
        )
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        if char in "'\"":
            return RuleError.at(line, column, "text opened with a quote is never closed")
        return RuleError.at(line, column, f"unexpected character {char!r}")
    token = getattr(exc, "token", None)
    expected = getattr(exc, "expected", None) or getattr(exc, "accepts", None) or set()
    if token is not None and token.type == "$END":
        line, column = _end_position(text)
        return RuleError.at(
            line, column, f"the rule ends too early; expected {_expected_words(expected)}"
        )
    found = repr(str(token)) if token is not None else "input"
    return RuleError.at(line, column, f"unexpected {found}; expected {_expected_words(expected)}")


def parse_rule(text: str) -> Node:
    """Return the syntax tree of the rule, or raise ``RuleError`` with line and column."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError.at(1, 1, "the rule is empty")
    if len(text) > MAX_RULE_LENGTH:
        raise RuleError.at(1, 1, f"the rule is longer than {MAX_RULE_LENGTH} characters")
    try:
        tree = _parser().parse(text)
        return _ToAst().transform(tree)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    except RecursionError:
        raise RuleError.at(1, 1, "the rule is nested too deeply") from None
    except LarkError as exc:  # any other parser complaint still becomes a positioned error
        raise RuleError.at(1, 1, f"the rule cannot be read ({exc.__class__.__name__})") from None


def suggest_field(name: str) -> str:
    matches = difflib.get_close_matches(name.lower(), CUSTOMER_FIELDS, n=1, cutoff=0.6)
    return f"; did you mean '{matches[0]}'?" if matches else ""


def _check_value(field_type: FieldType, field: str, value: Value) -> RuleProblem | None:
    where = value.pos
    if value.kind not in _VALUE_KINDS[field_type]:
        wanted = " or ".join(sorted(_TERMINAL_WORDS[k] for k in _VALUE_KINDS[field_type]))
        return RuleProblem(where.line, where.column, f"'{field}' compares with {wanted}")
    if value.kind == "DATE":
        try:
            date.fromisoformat(value.text)
        except ValueError:
            return RuleProblem(where.line, where.column, f"'{value.text}' is not a real date")
    if field == "subscription_status" and value.text.lower() not in SUBSCRIPTION_STATUSES:
        return RuleProblem(
            where.line,
            where.column,
            f"unknown subscription status '{value.text}'; use one of "
            + ", ".join(SUBSCRIPTION_STATUSES),
        )
    return None


def check_rule(node: Node) -> list[RuleProblem]:
    """Return every problem of fields, operators and values in the tree (empty if none)."""
    problems: list[RuleProblem] = []
    for cond in conditions(node):
        field = CUSTOMER_FIELDS.get(cond.field.lower())
        if field is None:
            problems.append(
                RuleProblem(
                    cond.pos.line,
                    cond.pos.column,
                    f"unknown field '{cond.field}'{suggest_field(cond.field)}",
                )
            )
            continue
        if cond.op not in _OPERATORS[field.type]:
            allowed = ", ".join(sorted(_OP_WORDS.get(o, o) for o in _OPERATORS[field.type]))
            problems.append(
                RuleProblem(
                    cond.pos.line,
                    cond.pos.column,
                    f"'{field.name}' cannot be tested with {_OP_WORDS.get(cond.op, cond.op)};"
                    f" use {allowed}",
                )
            )
            continue
        for value in cond.values:
            problem = _check_value(field.type, field.name, value)
            if problem is not None:
                problems.append(problem)
    return problems


def validate_rule(text: str) -> Node:
    """Parse and check the rule; raise ``RuleError`` with every problem found."""
    node = parse_rule(text)
    problems = check_rule(node)
    if problems:
        raise RuleError(problems)
    return node


def referenced_segments(node: Node) -> list[Value]:
    """Return the values of every ``segment`` condition (names or ids of other segments)."""
    return [c.values[0] for c in conditions(node) if c.field.lower() == "segment" and c.values]
