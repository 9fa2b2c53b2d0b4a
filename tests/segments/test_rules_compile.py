"""Rules compiled to SQL select exactly the customers they describe, on real PostgreSQL."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from segments.rules import RuleError, compile_for_store, shift_date
from tests.fixtures.factories import (
    make_customer,
    make_order,
    make_subscription,
    make_upcoming_order,
)

from .segment_helpers import dynamic_segment, member_emails


@pytest.fixture
def shoppers(store):
    now = timezone.now()
    big = make_customer(
        store,
        email="big@shop.com",
        orders_count=5,
        total_spent=Decimal("250.00"),
        last_order_at=now - timedelta(days=10),
        tags=["VIP", "coffee"],
        accepts_marketing=True,
    )
    old = make_customer(
        store,
        email="old@other.org",
        orders_count=3,
        total_spent=Decimal("150.00"),
        last_order_at=now - timedelta(days=200),
    )
    new = make_customer(store, email="new@shop.com")
    make_order(old, lines=2)
    make_subscription(big, status="active")
    make_subscription(old, status="cancelled")
    make_upcoming_order(big, scheduled_at=(now + timedelta(days=3)).date())
    return {"big": big, "old": old, "new": new}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("orders_count >= 3 AND total_spent > 100 AND last_order_date > -90d", {"big@shop.com"}),
        ("orders_count >= 3", {"big@shop.com", "old@other.org"}),
        ("NOT last_order_date > -90d", {"old@other.org", "new@shop.com"}),
        ("last_order_date IS NULL", {"new@shop.com"}),
        ("total_spent BETWEEN 100 AND 200", {"old@other.org"}),
        ("email_domain = 'SHOP.com'", {"big@shop.com", "new@shop.com"}),
        ("email CONTAINS 'other'", {"old@other.org"}),
        ("tags CONTAINS 'vip'", {"big@shop.com"}),
        ("tags NOT CONTAINS 'vip'", {"old@other.org", "new@shop.com"}),
        ("accepts_marketing = true", {"big@shop.com"}),
        ("products_purchased CONTAINS '1002'", {"old@other.org"}),
        ("subscription_status CONTAINS 'cancelled'", {"old@other.org"}),
        ("next_charge_date <= +7d", {"big@shop.com"}),
        ("created_date = today", {"big@shop.com", "old@other.org", "new@shop.com"}),
        ("orders_count = 5 OR (orders_count = 0 AND NOT email_domain = 'x.org')", None),
    ],
)
def test_rule_selects_exactly_the_matching_customers(store, shoppers, rule, expected):
    # given customers with different figures, when a dynamic segment with the rule is computed
    segment = dynamic_segment(store, rule)
    # then its members are exactly those the rule describes
    if expected is None:
        expected = {"big@shop.com", "new@shop.com"}
    assert member_emails(segment) == expected
    assert segment.member_count == len(expected)


def test_relative_dates_use_the_stores_time_zone(store):
    # given a store in Tokyo where it is already the next day while it is evening in UTC
    store.timezone = "Asia/Tokyo"
    store.save()
    with time_machine.travel(datetime(2026, 3, 10, 20, 0, tzinfo=ZoneInfo("UTC")), tick=False):
        # 2026-03-11 03:00 in Tokyo; the customer ordered on 2026-03-11 01:00 Tokyo time
        make_customer(
            store,
            email="tokyo@shop.com",
            last_order_at=datetime(2026, 3, 11, 1, 0, tzinfo=ZoneInfo("Asia/Tokyo")),
        )
        # when "today" is evaluated, then it is Tokyo's today
        assert member_emails(dynamic_segment(store, "last_order_date = today")) == {
            "tokyo@shop.com"
        }


def test_relative_months_clamp_to_the_end_of_month():
    from datetime import date

    assert shift_date(date(2026, 5, 31), "-3m") == date(2026, 2, 28)
    assert shift_date(date(2026, 1, 1), "-1y") == date(2025, 1, 1)
    assert shift_date(date(2026, 1, 1), "+2w") == date(2026, 1, 15)


def test_rule_naming_an_unknown_segment_is_positioned(store):
    with pytest.raises(RuleError, match="line 1, col 11: no segment named 'Nope'"):
        compile_for_store("segment = 'Nope'", store)


def test_segment_field_selects_members_of_another_segment(store, shoppers):
    # given a segment of big spenders
    dynamic_segment(store, "total_spent > 200", name="Big spenders")
    # when another rule tests membership of it by name
    segment = dynamic_segment(store, "segment = 'big spenders' OR email_domain = 'other.org'")
    # then it selects its members and the others it names
    assert member_emails(segment) == {"big@shop.com", "old@other.org"}
