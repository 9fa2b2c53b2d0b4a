"""The rule language's parser: trees for good rules, positioned errors for bad ones, no crash."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.rules import RuleError, parse_rule, validate_rule
from segments.rules.ast import AllOf, AnyOf, Condition, Not


def test_conditions_joined_by_and_and_or_follow_precedence():
    tree = validate_rule("orders_count >= 3 AND total_spent > 100 OR tags CONTAINS 'vip'")
    assert isinstance(tree, AnyOf)
    assert isinstance(tree.items[0], AllOf)
    assert tree.items[1] == Condition("tags", "CONTAINS", tree.items[1].values, tree.items[1].pos)


def test_keywords_are_case_insensitive_and_not_is_parsed():
    tree = validate_rule("not (accepts_marketing = TRUE) and email_domain = 'x.com'")
    assert isinstance(tree, AllOf)
    assert isinstance(tree.items[0], Not)


def test_every_operator_parses():
    rules = [
        "orders_count BETWEEN 1 AND 3",
        "first_order_date IS NULL",
        "last_order_date IS NOT NULL",
        "products_purchased NOT CONTAINS 'SKU-1'",
        "created_date <= today",
        "next_charge_date < +7d",
        "last_order_date >= -3m",
        "last_order_date = 2026-01-31",
        "segment = 'Top Customers'",
        'email != "a@b.com"',
    ]
    for rule in rules:
        assert validate_rule(rule) is not None, rule


def test_unknown_field_names_line_column_and_a_suggestion():
    with pytest.raises(RuleError) as caught:
        validate_rule("total_spent > 5 AND order_count > 3")
    assert str(caught.value) == (
        "line 1, col 21: unknown field 'order_count'; did you mean 'orders_count'?"
    )
    problem = caught.value.problems[0]
    assert (problem.line, problem.column) == (1, 21)


def test_error_on_a_later_line_names_that_line():
    with pytest.raises(RuleError) as caught:
        validate_rule("orders_count > 1\nAND\ntotal_spent >")
    assert caught.value.problems[0].line == 3
    assert "ends too early" in str(caught.value)


def test_wrong_operator_and_wrong_value_type_are_explained():
    with pytest.raises(RuleError) as caught:
        validate_rule("tags > 3 OR orders_count = 'many' OR last_order_date > 2026-02-30")
    messages = [p.message for p in caught.value.problems]
    assert "'tags' cannot be tested with >" in messages[0]
    assert "'orders_count' compares with a number" in messages[1]
    assert "'2026-02-30' is not a real date" in messages[2]


def test_unclosed_quote_and_stray_character_are_positioned():
    with pytest.raises(RuleError, match="line 1, col 9: text opened with a quote"):
        parse_rule("email = 'abc")
    with pytest.raises(RuleError, match="line 1, col 14: unexpected character '#'"):
        parse_rule("orders_count #3")


def test_unknown_subscription_status_is_refused():
    with pytest.raises(RuleError, match="unknown subscription status 'gone'"):
        validate_rule("subscription_status CONTAINS 'gone'")


def test_empty_and_oversized_rules_are_refused():
    with pytest.raises(RuleError, match="empty"):
        parse_rule("   ")
    with pytest.raises(RuleError, match="longer than"):
        parse_rule("orders_count > 1 AND " * 1000)


_tokens = st.sampled_from(
    ["orders_count", "tags", "AND", "OR", "NOT", "(", ")", "=", ">=", "BETWEEN", "IS", "NULL",
     "CONTAINS", "'vip'", "3", "-30d", "2026-01-31", "today", "true", "segment", "\n", "'"]
)  # fmt: skip


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=200))
def test_no_text_crashes_the_parser(text):
    try:
        validate_rule(text)
    except RuleError as exc:
        assert exc.problems and all(p.line >= 1 and p.column >= 1 for p in exc.problems)


@settings(max_examples=400, deadline=None)
@given(st.lists(_tokens, max_size=30).map(" ".join))
def test_no_sequence_of_rule_words_crashes_the_parser(text):
    try:
        validate_rule(text)
    except RuleError as exc:
        assert exc.problems and all(p.line >= 1 and p.column >= 1 for p in exc.problems)
