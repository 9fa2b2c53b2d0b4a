"""The derived figures: one definition in two shapes (per customer, per store range) that agree."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from segments.figures import (
    FIGURE_COLUMNS,
    count_inconsistent_customers,
    refresh_customer_figures,
    refresh_store_figures,
)
from segments.models import Customer, ReportedStreak
from tests.fixtures.factories import make_customer, make_order, make_subscription


def _figures(store):
    return {
        c["id"]: c
        for c in Customer.objects.filter(store=store).order_by("id").values("id", *FIGURE_COLUMNS)
    }


def _histories(store):
    now = timezone.now()
    day = timedelta(days=1)
    # plain: two subscription orders and a one-off
    plain = make_customer(store)
    make_order(plain, is_subscription=True, total=Decimal("20.00"), processed_at=now - 40 * day)
    make_order(plain, is_subscription=True, total=Decimal("30.00"), processed_at=now - 10 * day)
    make_order(plain, total=Decimal("5.50"), processed_at=now - 5 * day)
    make_subscription(plain)
    # broken: refunded and cancelled subscription orders do not count and break the streak
    broken = make_customer(store)
    make_order(broken, is_subscription=True, processed_at=now - 90 * day)
    make_order(
        broken, is_subscription=True, processed_at=now - 60 * day, financial_status="refunded"
    )
    make_order(broken, is_subscription=True, processed_at=now - 30 * day)
    make_order(broken, is_subscription=True, processed_at=now - 20 * day, cancelled_at=now)
    make_subscription(broken, status="cancelled")
    # reported: Recharge said 7 twenty days ago; one subscription order since
    reported = make_customer(store)
    make_order(reported, is_subscription=True, processed_at=now - 50 * day)
    make_order(reported, is_subscription=True, processed_at=now - 3 * day)
    ReportedStreak.objects.create(
        store=store, customer=reported, value=7, reported_at=now - 20 * day
    )
    # stale report: a break after the report wins over it
    stale = make_customer(store)
    ReportedStreak.objects.create(store=store, customer=stale, value=9, reported_at=now - 80 * day)
    make_order(stale, is_subscription=True, processed_at=now - 70 * day, financial_status="voided")
    make_order(stale, is_subscription=True, processed_at=now - 2 * day)
    make_customer(store)  # never ordered
    return plain, broken, reported, stale


def test_both_shapes_of_the_figures_agree(store):
    # given customers with refunds, cancellations and reported streaks
    plain, broken, reported, stale = _histories(store)
    ids = list(Customer.objects.filter(store=store).values_list("id", flat=True))
    # when the figures are computed per customer, then per store range
    refresh_customer_figures(ids)
    per_customer = _figures(store)
    Customer.objects.filter(store=store).update(orders_count=99, streak=99)
    refresh_store_figures(store.id)
    per_range = _figures(store)
    # then both shapes give the same figures, and the consistency check agrees
    assert per_customer == per_range
    assert count_inconsistent_customers(store.id) == 0
    assert per_range[plain.id]["orders_count"] == 3
    assert per_range[plain.id]["total_spent"] == Decimal("55.50")
    assert per_range[plain.id]["subscription_aov"] == Decimal("25.00")
    assert per_range[plain.id]["streak"] == 2
    assert per_range[broken.id]["orders_count"] == 2
    assert per_range[broken.id]["streak"] == 0  # the cancelled order broke it last
    assert per_range[broken.id]["active_subscriptions_count"] == 0
    assert per_range[reported.id]["streak"] == 8
    assert per_range[stale.id]["streak"] == 1


def test_consistency_check_finds_a_wrong_figure(store):
    # given consistent figures
    _histories(store)
    refresh_store_figures(store.id)
    # when one customer's total is tampered with
    customer = Customer.objects.filter(store=store, orders_count__gt=0).first()
    Customer.objects.filter(pk=customer.pk).update(total_spent=Decimal("1.00"))
    # then the check counts exactly that customer
    assert count_inconsistent_customers(store.id) == 1
