"""Recompute customers' derived figures from their rows, set-based: one UPDATE for many customers.

Event processing calls it once per batch for the customers the batch touched; ``seed_demo`` and
repair scripts can call it for every customer of a store. Portable SQL (PostgreSQL and SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

CHUNK = 5000

# An order counts towards the figures unless it was cancelled, refunded or voided.
_COUNTED = "o.cancelled_at IS NULL AND o.financial_status NOT IN ('refunded', 'voided')"
_ORDERS = "FROM segments_order o WHERE o.customer_id = segments_customer.id"
_SUBS = f"{_ORDERS} AND o.is_subscription"
# The latest subscription order that broke the streak (cancelled, refunded or voided).
_LAST_BREAK = f"(SELECT MAX(o.processed_at) {_SUBS} AND NOT ({_COUNTED}))"
_REPORTED = (
    "(SELECT r.{col} FROM segments_reportedstreak r WHERE r.customer_id = segments_customer.id)"
)


def _subscription_orders_after(bound: str) -> str:
    after = f"({bound} IS NULL OR o.processed_at > {bound})"
    return f"(SELECT COUNT(*) {_SUBS} AND {_COUNTED} AND {after})"


_STREAK = f"""CASE
    WHEN {_REPORTED.format(col="value")} IS NOT NULL
         AND ({_LAST_BREAK} IS NULL OR {_REPORTED.format(col="reported_at")} >= {_LAST_BREAK})
    THEN {_REPORTED.format(col="value")}
         + {_subscription_orders_after(_REPORTED.format(col="reported_at"))}
    ELSE {_subscription_orders_after(_LAST_BREAK)}
END"""

_UPDATE = f"""
UPDATE segments_customer SET
    orders_count = (SELECT COUNT(*) {_ORDERS} AND {_COUNTED}),
    subscription_orders_count = (SELECT COUNT(*) {_SUBS} AND {_COUNTED}),
    total_spent = COALESCE((SELECT SUM(o.total) {_ORDERS} AND {_COUNTED}), 0),
    subscription_aov = COALESCE((SELECT ROUND(AVG(o.total), 2) {_SUBS} AND {_COUNTED}), 0),
    first_order_at = (SELECT MIN(o.processed_at) {_ORDERS} AND {_COUNTED}),
    last_order_at = (SELECT MAX(o.processed_at) {_ORDERS} AND {_COUNTED}),
    active_subscriptions_count = (
        SELECT COUNT(*) FROM segments_subscription s
        WHERE s.customer_id = segments_customer.id AND s.status = 'active'
    ),
    streak = {_STREAK}
WHERE id IN ({{ids}})
"""


def refresh_customer_figures(customer_ids: Iterable[int]) -> int:
    """Recompute the derived figures of these customers from their orders and subscriptions.

    Orders count unless cancelled, refunded or voided. The streak counts the subscription orders
    since the last one that broke it; when Recharge reported a streak no older than that break,
    it starts from Recharge's number and adds the subscription orders seen since the report.
    Return the number of customers updated.
    """
    ids = sorted({int(i) for i in customer_ids if i is not None})
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            cursor.execute(_UPDATE.format(ids=", ".join(["%s"] * len(chunk))), chunk)
            updated += cursor.rowcount
    return updated
