"""Derived customer figures, defined once and computed set-based from orders and subscriptions.

An order counts unless it was cancelled, refunded or voided. Orders count, subscription orders
count, total spent, subscription AOV and first/last order date are over counted orders; active
subscriptions counts subscriptions whose status is active. The streak counts the counted
subscription orders since the last subscription order that broke it; when Recharge reported a
streak no older than that break, it starts from Recharge's number and adds the counted
subscription orders since the report.

Two shapes of the same definition, for two access patterns:
- ``refresh_customer_figures(ids)``: correlated subqueries for a handful of customers (event
  processing refreshes the customers of one batch);
- ``FIGURES_SELECT`` / ``refresh_store_figures``: grouped joins over a range of a store's
  customers (the demo seed's millions, repairs, the consistency check).
``tests/segments/test_figures.py`` proves both give the same figures.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

CHUNK = 5000


def counted(alias: str) -> str:
    """Return the SQL predicate saying an order (table alias ``alias``) counts."""
    return (
        f"{alias}.cancelled_at IS NULL AND {alias}.financial_status NOT IN ('refunded', 'voided')"
    )


FIGURE_COLUMNS = [
    "orders_count",
    "subscription_orders_count",
    "total_spent",
    "subscription_aov",
    "first_order_at",
    "last_order_at",
    "active_subscriptions_count",
    "streak",
]

# --- one customer at a time: correlated subqueries --------------------------------------------
_ORDERS = "FROM segments_order o WHERE o.customer_id = segments_customer.id"
_SUBS = f"{_ORDERS} AND o.is_subscription"
_LAST_BREAK = f"(SELECT MAX(o.processed_at) {_SUBS} AND NOT ({counted('o')}))"
_REPORTED = (
    "(SELECT r.{col} FROM segments_reportedstreak r WHERE r.customer_id = segments_customer.id)"
)


def _subscription_orders_after(bound: str) -> str:
    after = f"({bound} IS NULL OR o.processed_at > {bound})"
    return f"(SELECT COUNT(*) {_SUBS} AND {counted('o')} AND {after})"


_STREAK = f"""CASE
    WHEN {_REPORTED.format(col="value")} IS NOT NULL
         AND ({_LAST_BREAK} IS NULL OR {_REPORTED.format(col="reported_at")} >= {_LAST_BREAK})
    THEN {_REPORTED.format(col="value")}
         + {_subscription_orders_after(_REPORTED.format(col="reported_at"))}
    ELSE {_subscription_orders_after(_LAST_BREAK)}
END"""

_UPDATE_BY_ID = f"""
UPDATE segments_customer SET
    orders_count = (SELECT COUNT(*) {_ORDERS} AND {counted("o")}),
    subscription_orders_count = (SELECT COUNT(*) {_SUBS} AND {counted("o")}),
    total_spent = COALESCE((SELECT SUM(o.total) {_ORDERS} AND {counted("o")}), 0),
    subscription_aov = COALESCE((SELECT ROUND(AVG(o.total), 2) {_SUBS} AND {counted("o")}), 0),
    first_order_at = (SELECT MIN(o.processed_at) {_ORDERS} AND {counted("o")}),
    last_order_at = (SELECT MAX(o.processed_at) {_ORDERS} AND {counted("o")}),
    active_subscriptions_count = (
        SELECT COUNT(*) FROM segments_subscription s
        WHERE s.customer_id = segments_customer.id AND s.status = 'active'
    ),
    streak = {_STREAK}
WHERE id IN ({{ids}})
"""


def refresh_customer_figures(customer_ids: Iterable[int]) -> int:
    """Recompute the derived figures of these customers; return how many rows were updated."""
    ids = sorted({int(i) for i in customer_ids if i is not None})
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            cursor.execute(_UPDATE_BY_ID.format(ids=", ".join(["%s"] * len(chunk))), chunk)
            updated += cursor.rowcount
    return updated


# --- a range of a store's customers: grouped joins ----------------------------------------------
_RANGE = "{a}.store_id = %(store)s AND {a}.customer_id BETWEEN %(lo)s AND %(hi)s"
_LAST_BREAKS = f"""(
    SELECT customer_id, MAX(processed_at) AS last_break
    FROM segments_order b
    WHERE {_RANGE.format(a="b")} AND b.is_subscription AND NOT ({counted("b")})
    GROUP BY customer_id
)"""
_REPORT_APPLIES = (
    "{r}.value IS NOT NULL AND ({lb}.last_break IS NULL OR {r}.reported_at >= {lb}.last_break)"
)

# Figures of every row of ``{source}`` (a table or subquery with ``id`` and ``store_id``) whose
# store is %(store)s and whose id is in [%(lo)s, %(hi)s].
FIGURES_SELECT = f"""
SELECT c.id AS customer_id,
       COALESCE(o.orders_count, 0) AS orders_count,
       COALESCE(o.subscription_orders_count, 0) AS subscription_orders_count,
       COALESCE(o.total_spent, 0) AS total_spent,
       COALESCE(o.subscription_aov, 0) AS subscription_aov,
       o.first_order_at AS first_order_at,
       o.last_order_at AS last_order_at,
       COALESCE(s.active_subscriptions_count, 0) AS active_subscriptions_count,
       CASE WHEN {_REPORT_APPLIES.format(r="r", lb="lb")} THEN r.value ELSE 0 END
           + COALESCE(k.n, 0) AS streak
FROM {{source}} c
LEFT JOIN (
    SELECT customer_id,
           COUNT(*) AS orders_count,
           SUM(CASE WHEN is_subscription THEN 1 ELSE 0 END) AS subscription_orders_count,
           SUM(total) AS total_spent,
           ROUND(AVG(CASE WHEN is_subscription THEN total END), 2) AS subscription_aov,
           MIN(processed_at) AS first_order_at,
           MAX(processed_at) AS last_order_at
    FROM segments_order o
    WHERE {_RANGE.format(a="o")} AND {counted("o")}
    GROUP BY customer_id
) o ON o.customer_id = c.id
LEFT JOIN (
    SELECT customer_id, COUNT(*) AS active_subscriptions_count
    FROM segments_subscription ss
    WHERE {_RANGE.format(a="ss")} AND status = 'active'
    GROUP BY customer_id
) s ON s.customer_id = c.id
LEFT JOIN segments_reportedstreak r ON r.customer_id = c.id
LEFT JOIN {_LAST_BREAKS} lb ON lb.customer_id = c.id
LEFT JOIN (
    SELECT so.customer_id, COUNT(*) AS n
    FROM segments_order so
    LEFT JOIN segments_reportedstreak r2 ON r2.customer_id = so.customer_id
    LEFT JOIN {_LAST_BREAKS} lb2 ON lb2.customer_id = so.customer_id
    WHERE {_RANGE.format(a="so")} AND so.is_subscription AND {counted("so")}
      AND (CASE WHEN {_REPORT_APPLIES.format(r="r2", lb="lb2")} THEN r2.reported_at
                ELSE lb2.last_break END IS NULL
           OR so.processed_at > CASE WHEN {_REPORT_APPLIES.format(r="r2", lb="lb2")}
                                     THEN r2.reported_at ELSE lb2.last_break END)
    GROUP BY so.customer_id
) k ON k.customer_id = c.id
WHERE c.store_id = %(store)s AND c.id BETWEEN %(lo)s AND %(hi)s
"""

# Customers whose stored figures differ from the ones computed from their orders.
_MISMATCH_SQL = f"""
SELECT COUNT(*) FROM segments_customer cu
JOIN ({FIGURES_SELECT.format(source="segments_customer")}) f ON f.customer_id = cu.id
WHERE {" OR ".join(f"cu.{c} IS DISTINCT FROM f.{c}" for c in FIGURE_COLUMNS)}
"""


def _bounds(store_id: int, lo: int | None, hi: int | None) -> dict:
    return {"store": store_id, "lo": lo if lo is not None else 0, "hi": hi or 2**62}


def refresh_store_figures(store_id: int, lo: int | None = None, hi: int | None = None) -> int:
    """Recompute the figures of the store's customers (optionally an id range) in one statement;
    return the number of customer rows updated."""
    assignments = ", ".join(f"{c} = f.{c}" for c in FIGURE_COLUMNS)
    sql = (
        f"UPDATE segments_customer AS cu SET {assignments} "
        f"FROM ({FIGURES_SELECT.format(source='segments_customer')}) f "
        "WHERE f.customer_id = cu.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, _bounds(store_id, lo, hi))
        return cursor.rowcount


def count_inconsistent_customers(store_id: int) -> int:
    """Return how many of the store's customers hold figures that disagree with their orders."""
    with connection.cursor() as cursor:
        cursor.execute(_MISMATCH_SQL, _bounds(store_id, None, None))
        return cursor.fetchone()[0]
