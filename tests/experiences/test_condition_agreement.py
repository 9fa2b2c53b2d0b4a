"""One condition language: an experience condition and the segment rule that says the same thing
select the same customers.

Random customers (figures, tags, dates in and out of the store's day, subscriptions, purchases,
upcoming charges, segment membership) and random conditions over every customer field type and
operator: the engine's answer (``experiences.conditions.evaluate_many``) must equal the segment
compiler's answer for the rule text (``segments.rules.compile_for_store``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiences.conditions import (
    OPERATORS_BY_TYPE,
    Condition,
    Subject,
    evaluate_many,
    validate_conditions,
)
from segments.fields import CUSTOMER_FIELDS, FieldType
from segments.models import Customer, Segment, SegmentMembership
from segments.rules import compile_for_store, validate_rule
from tests.fixtures.factories import (
    make_customer,
    make_order,
    make_store,
    make_subscription,
    make_upcoming_order,
)

pytestmark = pytest.mark.django_db

TAGS = ["vip", "VIP", "gold", "new"]
PRODUCTS = ["1001", "1002", "SKU-9"]
STATUSES = ["active", "paused", "cancelled", "expired"]
DOMAINS = ["example.com", "Shop.io", "mail.test"]
RULE_OPS = {
    "eq": "=",
    "neq": "!=",
    "lt": "<",
    "lte": "<=",
    "gt": ">",
    "gte": ">=",
    "contains": "CONTAINS",
    "not_contains": "NOT CONTAINS",
}

relative = st.builds(
    lambda sign, n, unit: f"{sign}{n}{unit}",
    st.sampled_from("+-"),
    st.integers(0, 400),
    st.sampled_from("dwmy"),
)
iso_day = st.dates(dt.date(2024, 1, 1), dt.date(2027, 12, 31)).map(dt.date.isoformat)
# Values are drawn from small pools shared by customers and conditions, so that equal values and
# day boundaries (where "<" and "<=" differ) come up often.
MONEY = [Decimal("0.00"), Decimal("10.00"), Decimal("19.99"), Decimal("100.00")]
DAY_OFFSETS = [-400, -31, -30, -7, -1, 0, 1, 30]
moment = st.one_of(
    st.none(),
    st.builds(
        lambda days, hours: timezone.now() + dt.timedelta(days=days, hours=hours),
        st.sampled_from(DAY_OFFSETS),
        st.integers(-30, 30),
    ),
)
date_value = st.one_of(
    st.just("today"),
    st.sampled_from(DAY_OFFSETS).map(lambda d: f"{'+' if d >= 0 else '-'}{abs(d)}d"),
    relative,
    iso_day,
    st.sampled_from(DAY_OFFSETS).map(
        lambda d: (timezone.localdate() + dt.timedelta(days=d)).isoformat()
    ),
)


@st.composite
def customers(draw):
    return draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "local": st.sampled_from(["ann", "bob", "Cleo", "dan"]),
                    "domain": st.sampled_from(DOMAINS),
                    "orders_count": st.integers(0, 4),
                    "total_spent": st.sampled_from(MONEY),
                    "streak": st.integers(0, 8),
                    "tags": st.lists(st.sampled_from(TAGS), max_size=3),
                    "first_order_at": moment,
                    "last_order_at": moment,
                    "created_at": st.integers(-800 * 24, 0).map(
                        lambda h: timezone.now() + dt.timedelta(hours=h)
                    ),
                    "accepts_marketing": st.booleans(),
                    "statuses": st.lists(st.sampled_from(STATUSES), max_size=2),
                    "products": st.lists(st.sampled_from(["1001", "1002"]), max_size=2),
                    "charge_in_days": st.one_of(st.none(), st.sampled_from(DAY_OFFSETS)),
                    "member": st.booleans(),
                }
            ),
            min_size=1,
            max_size=4,
        )
    )


def _value_for(draw, field: str, ftype: FieldType):
    if ftype == FieldType.NUMBER:
        return draw(st.integers(-1, 5))
    if ftype == FieldType.MONEY:
        return str(draw(st.one_of(st.sampled_from(MONEY), st.decimals(0, 300, places=2))))
    if ftype == FieldType.DATE:
        return draw(date_value)
    if ftype == FieldType.BOOLEAN:
        return draw(st.booleans())
    if field == "tags":
        return draw(st.sampled_from(TAGS))
    if field == "products_purchased":
        return draw(st.sampled_from(PRODUCTS))
    if field == "subscription_status":
        return draw(st.sampled_from(STATUSES))
    if field == "email_domain":
        return draw(st.sampled_from([*DOMAINS, "shop", "EXAMPLE"]))
    return draw(st.sampled_from(["ann@example.com", "bob", "@shop.io", "x"]))


def _literal(ftype: FieldType, value) -> str:
    if ftype == FieldType.BOOLEAN:
        return "true" if value else "false"
    if ftype in (FieldType.NUMBER, FieldType.MONEY):
        return str(value)
    if ftype == FieldType.DATE:
        return str(value)
    return "'" + str(value) + "'"


@st.composite
def condition_and_rule(draw, segment_id: int):
    """Return an experience condition and the rule text that tests the same thing."""
    name = draw(st.sampled_from(sorted(CUSTOMER_FIELDS)))
    ftype = CUSTOMER_FIELDS[name].type
    operators = OPERATORS_BY_TYPE[ftype]
    if ftype == FieldType.LIST:  # a list is "null" when empty; the rule language has no such test
        operators = operators - {"is_null", "is_not_null"}
    operator = draw(st.sampled_from(sorted(operators)))
    if ftype == FieldType.SEGMENT:
        rule = f"{name} {'=' if operator == 'in' else '!='} {segment_id}"
        return Condition(field=name, operator=operator, value=segment_id), rule
    if operator in ("is_null", "is_not_null"):
        words = "IS NULL" if operator == "is_null" else "IS NOT NULL"
        return Condition(field=name, operator=operator), f"{name} {words}"
    if operator == "between":
        low, high = _value_for(draw, name, ftype), _value_for(draw, name, ftype)
        rule = f"{name} BETWEEN {_literal(ftype, low)} AND {_literal(ftype, high)}"
        return Condition(field=name, operator=operator, value=[low, high]), rule
    value = _value_for(draw, name, ftype)
    rule = f"{name} {RULE_OPS[operator]} {_literal(ftype, value)}"
    return Condition(field=name, operator=operator, value=value), rule


def _create(store, segment, people) -> list[Customer]:
    created = []
    for i, p in enumerate(people):
        customer = make_customer(
            store,
            email=f"{p['local']}{i}@{p['domain']}",
            orders_count=p["orders_count"],
            subscription_orders_count=p["orders_count"],
            total_spent=p["total_spent"],
            subscription_aov=p["total_spent"],
            streak=p["streak"],
            active_subscriptions_count=p["statuses"].count("active"),
            tags=p["tags"],
            first_order_at=p["first_order_at"],
            last_order_at=p["last_order_at"],
            accepts_marketing=p["accepts_marketing"],
        )
        Customer.objects.filter(pk=customer.pk).update(created_at=p["created_at"])
        for status in p["statuses"]:
            make_subscription(customer, status=status)
        for product in p["products"]:
            order = make_order(customer, lines=0)
            order.lines.create(
                store=store, customer=customer, product_id=product, sku="SKU-9", price=Decimal(1)
            )
        if p["charge_in_days"] is not None:
            day = timezone.localdate() + dt.timedelta(days=p["charge_in_days"])
            make_upcoming_order(customer, scheduled_at=day)
        if p["member"]:
            SegmentMembership.objects.create(
                store=store, segment=segment, customer=customer, source="manual"
            )
        created.append(customer)
    return created


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_condition_and_its_rule_select_the_same_customers(data):
    with transaction.atomic():
        store = make_store(timezone=data.draw(st.sampled_from(["UTC", "Pacific/Kiritimati"])))
        segment = Segment.objects.create(store=store, name="Chosen", kind=Segment.Kind.STATIC)
        people = _create(store, segment, data.draw(customers()))
        condition, rule = data.draw(condition_and_rule(segment.pk))
        assert validate_conditions([[condition]], {segment.pk}, "c") == {}
        validate_rule(rule)

        sql, params = compile_for_store(rule, store)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT c.id FROM {Customer._meta.db_table} c WHERE c.store_id = %s AND {sql}",
                [store.pk, *params],
            )
            by_rule = {row[0] for row in cursor.fetchall()}
        answers = evaluate_many(
            store, [Subject(c.pk) for c in people], [[[[condition]]] for _ in people]
        )
        by_engine = {c.pk for c, [(passed, _)] in zip(people, answers, strict=True) if passed}

        assert by_engine == by_rule, f"{rule!r}: engine {by_engine}, rule {by_rule}"
        transaction.set_rollback(True)


def test_not_equal_on_a_missing_value_is_false_in_both(store):
    # given a customer who never ordered
    customer = make_customer(store)
    condition = Condition(field="last_order_date", operator="neq", value="2026-01-01")
    # when the engine tests "last order date is not 2026-01-01"
    [[(passed, trace)]] = evaluate_many(store, [Subject(customer.pk)], [[[[condition]]]])
    # then it is false, as the segment rule says (a comparison with a missing value is false)
    assert passed is False and trace[0][0].passed is False


def test_relative_dates_in_weeks_months_and_years_are_accepted_by_conditions(store):
    customer = make_customer(store, last_order_at=timezone.now() - dt.timedelta(days=40))
    errors = validate_conditions(
        [[Condition(field="last_order_date", operator="gt", value="-2m")]], set(), "c"
    )
    assert errors == {}
    for value, expected in (("-2m", True), ("-1w", False), ("-1y", True)):
        cond = Condition(field="last_order_date", operator="gt", value=value)
        [[(passed, _)]] = evaluate_many(store, [Subject(customer.pk)], [[[[cond]]]])
        assert passed is expected, value


def test_many_conditions_for_many_customers_take_one_statement(store, django_assert_num_queries):
    people = [make_customer(store, orders_count=n) for n in range(5)]
    sets = [[[Condition(field="orders_count", operator="gte", value=n)]] for n in range(4)]
    with django_assert_num_queries(1):
        answers = evaluate_many(store, [Subject(c.pk) for c in people], [sets for _ in people])
    assert [[passed for passed, _ in row] for row in answers] == [
        [c.orders_count >= n for n in range(4)] for c in people
    ]
