"""Derived customer figures computed set-based from the orders and subscriptions.

One definition, used by the demo seed and by anything that needs to rebuild the figures of many
customers at once: orders count, subscription orders count, total spent, subscription AOV, first
and last order date count orders that were not cancelled; active subscriptions counts
subscriptions whose status is active; the streak counts the uncancelled subscription orders after
the customer's last cancelled one. The SQL runs on PostgreSQL and on SQLite (3.33+).
"""

from django.db import connection

# Figures of every customer row of ``{source}`` (a table or subquery with ``id`` and ``store_id``)
# whose store is %(store)s and whose id is in [%(lo)s, %(hi)s].
FIGURES_SELECT = """
SELECT c.id AS customer_id,
       COALESCE(o.orders_count, 0) AS orders_count,
       COALESCE(o.subscription_orders_count, 0) AS subscription_orders_count,
       COALESCE(o.total_spent, 0) AS total_spent,
       COALESCE(o.subscription_aov, 0) AS subscription_aov,
       o.first_order_at AS first_order_at,
       o.last_order_at AS last_order_at,
       COALESCE(s.active_subscriptions_count, 0) AS active_subscriptions_count,
       COALESCE(k.streak, 0) AS streak
FROM {source} c
LEFT JOIN (
    SELECT customer_id,
           COUNT(*) AS orders_count,
           SUM(CASE WHEN is_subscription THEN 1 ELSE 0 END) AS subscription_orders_count,
           ROUND(SUM(total), 2) AS total_spent,
           ROUND(AVG(CASE WHEN is_subscription THEN total END), 2) AS subscription_aov,
           MIN(processed_at) AS first_order_at,
           MAX(processed_at) AS last_order_at
    FROM segments_order
    WHERE store_id = %(store)s AND cancelled_at IS NULL
      AND customer_id BETWEEN %(lo)s AND %(hi)s
    GROUP BY customer_id
) o ON o.customer_id = c.id
LEFT JOIN (
    SELECT customer_id, COUNT(*) AS active_subscriptions_count
    FROM segments_subscription
    WHERE store_id = %(store)s AND status = 'active' AND customer_id BETWEEN %(lo)s AND %(hi)s
    GROUP BY customer_id
) s ON s.customer_id = c.id
LEFT JOIN (
    SELECT so.customer_id, COUNT(*) AS streak
    FROM segments_order so
    LEFT JOIN (
        SELECT customer_id, MAX(processed_at) AS last_cancelled_at
        FROM segments_order
        WHERE store_id = %(store)s AND is_subscription AND cancelled_at IS NOT NULL
          AND customer_id BETWEEN %(lo)s AND %(hi)s
        GROUP BY customer_id
    ) lc ON lc.customer_id = so.customer_id
    WHERE so.store_id = %(store)s AND so.is_subscription AND so.cancelled_at IS NULL
      AND so.customer_id BETWEEN %(lo)s AND %(hi)s
      AND (lc.last_cancelled_at IS NULL OR so.processed_at > lc.last_cancelled_at)
    GROUP BY so.customer_id
) k ON k.customer_id = c.id
WHERE c.store_id = %(store)s AND c.id BETWEEN %(lo)s AND %(hi)s
"""

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

# Customers whose stored figures differ from the ones computed from their orders.
MISMATCH_SQL = f"""
SELECT COUNT(*) FROM segments_customer cu
JOIN ({FIGURES_SELECT.format(source="segments_customer")}) f ON f.customer_id = cu.id
WHERE {" OR ".join(f"cu.{c} IS DISTINCT FROM f.{c}" for c in FIGURE_COLUMNS)}
"""


def _bounds(store_id: int, lo: int | None, hi: int | None) -> dict:
    return {"store": store_id, "lo": lo if lo is not None else 0, "hi": hi or 2**62}


def refresh_customer_figures(store_id: int, lo: int | None = None, hi: int | None = None) -> int:
    """Recompute the derived figures of the store's customers (optionally an id range) in one
    statement; return the number of customer rows updated."""
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
    sql = MISMATCH_SQL
    if connection.vendor == "sqlite":
        sql = sql.replace("IS DISTINCT FROM", "IS NOT")
    with connection.cursor() as cursor:
        cursor.execute(sql, _bounds(store_id, None, None))
        return cursor.fetchone()[0]
