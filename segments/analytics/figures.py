"""The segment figures, each one SQL statement over membership history, orders and
subscriptions (PostgreSQL). Nothing here loops over customers: Python only arranges the rows
the aggregates return.

Definitions (also in the API's schema and on the page):

- Days are whole days in the store's time zone. ``members`` is the count at the end of the day
  (today's row: so far). Every other figure is as of the start of today (``as_of``, passed as
  ``now``): windows are whole days, so a refresh later the same day only has to redo what late
  data or membership changes touched, and the daily refresh moves the windows.
- Behaviour **before/after** joining, window W: the current members who joined at least W days
  ago (so every one has a whole window each side), each aligned on their own join date; orders
  in the W days before joining against the W days from joining.
- **Rest of the store**: every customer not in the segment, over the last W days.
- Orders count unless cancelled, refunded or voided (as in the customer figures).
  ``repeat_rate`` is the share of customers who ordered who ordered twice or more;
  ``cancellations`` are subscriptions cancelled in the window;
  ``active_subscriptions`` those started before the window's end and not cancelled by then.
- Retention: current members by the month they joined; ``months[k]`` is the share of the cohort
  with an order in the k-th month after that (0 = the joining month), up to the current month.
"""

import datetime as dt
from decimal import Decimal

from django.db import connection

WINDOWS = (30, 60, 90)
RETENTION_MONTHS = 12

_BLOCK = (
    "customers",
    "orders",
    "revenue",
    "ordering",
    "repeaters",
    "cancellations",
    "active_subscriptions",
)


def refresh_daily_sizes(segment_id: int, store_id: int, tz: str, since: dt.date, today: dt.date):
    """Write the segment's daily rows from ``since`` to ``today`` (one statement)."""
    with connection.cursor() as cur:
        cur.execute(
            """
            WITH days AS (
                SELECT (h.at AT TIME ZONE %(tz)s)::date AS d,
                       count(*) FILTER (WHERE h.action = 'added') AS entered,
                       count(*) FILTER (WHERE h.action = 'removed') AS left_
                FROM segments_segmenthistory h
                WHERE h.segment_id = %(seg)s
                GROUP BY 1
            ), span AS (
                SELECT generate_series(
                    LEAST((SELECT min(d) FROM days), %(today)s), %(today)s, interval '1 day'
                )::date AS d
            ), series AS (
                SELECT span.d, coalesce(days.entered, 0) AS entered,
                       coalesce(days.left_, 0) AS left_,
                       sum(coalesce(days.entered, 0) - coalesce(days.left_, 0))
                           OVER (ORDER BY span.d) AS members
                FROM span LEFT JOIN days ON days.d = span.d
            )
            INSERT INTO segments_segmentdailysize
                (store_id, segment_id, date, members, entered, "left")
            SELECT %(store)s, %(seg)s, d, greatest(members, 0), entered, left_
            FROM series WHERE d >= %(since)s
            ON CONFLICT (segment_id, date) DO UPDATE SET
                members = EXCLUDED.members, entered = EXCLUDED.entered, "left" = EXCLUDED."left"
            """,
            {"tz": tz, "seg": segment_id, "store": store_id, "since": since, "today": today},
        )


def _filters(prefix: str, start: str, end: str) -> str:
    """The aggregate columns of one window [start, end) over the ``o`` (orders) join."""
    inside = f"o.processed_at >= {start} AND o.processed_at < {end}"
    return (
        f"count(o.id) FILTER (WHERE {inside}) AS {prefix}_orders, "
        f"coalesce(sum(o.total) FILTER (WHERE {inside}), 0) AS {prefix}_revenue"
    )


def _block(row, offset: int) -> dict:
    """Turn the seven sums of a block into the published figures."""
    customers, orders, revenue, ordering, repeaters, cancellations, active = row[
        offset : offset + 7
    ]
    customers, orders, ordering = int(customers or 0), int(orders or 0), int(ordering or 0)
    revenue = Decimal(revenue or 0)
    return {
        "customers": customers,
        "orders": orders,
        "orders_per_customer": round(orders / customers, 4) if customers else None,
        "aov": str((revenue / orders).quantize(Decimal("0.01"))) if orders else None,
        "revenue": str(revenue.quantize(Decimal("0.01"))),
        "repeat_rate": round(int(repeaters or 0) / ordering, 4) if ordering else None,
        "cancellations": int(cancellations or 0),
        "active_subscriptions": int(active or 0),
    }


def before_after(segment_id: int, window: int, now: dt.datetime) -> tuple[dict, dict]:
    """Members' behaviour in the ``window`` days before and after their own join date."""
    w = f"interval '{int(window)} days'"
    with connection.cursor() as cur:
        cur.execute(
            f"""
            WITH m AS (
                SELECT customer_id, added_at AS j FROM segments_segmentmembership
                WHERE segment_id = %(seg)s AND added_at <= %(now)s - {w}
            ), per AS (
                SELECT m.customer_id,
                       {_filters("b", f"m.j - {w}", "m.j")},
                       {_filters("a", "m.j", f"m.j + {w}")}
                FROM m LEFT JOIN segments_order o
                  ON o.customer_id = m.customer_id AND o.cancelled_at IS NULL
                    AND o.financial_status NOT IN ('refunded', 'voided')
                 AND o.processed_at >= m.j - {w} AND o.processed_at < m.j + {w}
                GROUP BY m.customer_id
            ), subs AS (
                SELECT
                  count(*) FILTER (WHERE s.cancelled_at >= m.j - {w} AND s.cancelled_at < m.j)
                    AS b_cancel,
                  count(*) FILTER (WHERE s.cancelled_at >= m.j AND s.cancelled_at < m.j + {w})
                    AS a_cancel,
                  count(*) FILTER (WHERE s.created_at < m.j
                                     AND (s.cancelled_at IS NULL OR s.cancelled_at >= m.j))
                    AS b_active,
                  count(*) FILTER (WHERE s.created_at < m.j + {w}
                                     AND (s.cancelled_at IS NULL OR s.cancelled_at >= m.j + {w}))
                    AS a_active
                FROM m JOIN segments_subscription s ON s.customer_id = m.customer_id
            )
            SELECT count(*), sum(b_orders), sum(b_revenue),
                   count(*) FILTER (WHERE b_orders >= 1), count(*) FILTER (WHERE b_orders >= 2),
                   (SELECT b_cancel FROM subs), (SELECT b_active FROM subs),
                   count(*), sum(a_orders), sum(a_revenue),
                   count(*) FILTER (WHERE a_orders >= 1), count(*) FILTER (WHERE a_orders >= 2),
                   (SELECT a_cancel FROM subs), (SELECT a_active FROM subs)
            FROM per
            """,
            {"seg": segment_id, "now": now},
        )
        row = cur.fetchone()
    return _block(row, 0), _block(row, 7)


MEMBERS = "SELECT customer_id FROM segments_segmentmembership WHERE segment_id = %(seg)s"
# Customers who joined since a history watermark (joins of today, added to the stored sums).
JOINED_SINCE = (
    "SELECT DISTINCT customer_id FROM segments_segmenthistory "
    "WHERE segment_id = %(seg)s AND id > %(mark)s AND action = 'added'"
)


def _period_sums(
    store_id: int,
    now: dt.datetime,
    segment_id: int | None,
    members_sql: str = MEMBERS,
    mark: int = 0,
) -> dict[int, tuple]:
    """Sums over the last 30/60/90 days for the store's customers (or one segment's members)."""
    members = f"AND o.customer_id IN ({members_sql})"
    sub_members = members.replace("o.customer_id", "s.customer_id")
    cols_per, cols_sum, cols_sub = [], [], []
    for w in WINDOWS:
        since = f"%(now)s - interval '{w} days'"
        cols_per.append(f"count(*) FILTER (WHERE o.processed_at >= {since}) AS o{w}")
        cols_per.append(f"coalesce(sum(o.total) FILTER (WHERE o.processed_at >= {since}), 0) r{w}")
        cols_sum.append(
            f"sum(o{w}), sum(r{w}), count(*) FILTER (WHERE o{w} >= 1), "
            f"count(*) FILTER (WHERE o{w} >= 2)"
        )
        cols_sub.append(
            f"count(*) FILTER (WHERE s.cancelled_at >= {since} AND s.cancelled_at < %(now)s)"
        )
    active = (
        "count(*) FILTER (WHERE s.created_at < %(now)s "
        "AND (s.cancelled_at IS NULL OR s.cancelled_at >= %(now)s))"
    )
    scope = members if segment_id is not None else ""
    sub_scope = sub_members if segment_id is not None else ""
    params = {"store": store_id, "now": now, "seg": segment_id, "mark": mark}
    with connection.cursor() as cur:
        cur.execute(
            f"""
            WITH per AS (
                SELECT o.customer_id, {", ".join(cols_per)}
                FROM segments_order o
                WHERE o.store_id = %(store)s AND o.cancelled_at IS NULL
                  AND o.financial_status NOT IN ('refunded', 'voided')
                  AND o.customer_id IS NOT NULL
                  AND o.processed_at >= %(now)s - interval '{max(WINDOWS)} days'
                  AND o.processed_at < %(now)s {scope}
                GROUP BY o.customer_id
            )
            SELECT {", ".join(cols_sum)} FROM per
            """,
            params,
        )
        orders = cur.fetchone()
        cur.execute(
            f"""SELECT {", ".join(cols_sub)}, {active} FROM segments_subscription s
            WHERE s.store_id = %(store)s {sub_scope}""",
            params,
        )
        subs = cur.fetchone()
        if segment_id is None:
            cur.execute("SELECT count(*) FROM segments_customer WHERE store_id = %s", [store_id])
        else:
            cur.execute(f"SELECT count(*) FROM ({members_sql}) m", params)
        (customers,) = cur.fetchone()
    sums = {}
    for i, w in enumerate(WINDOWS):
        o, r, ordering, repeaters = orders[4 * i : 4 * i + 4]
        sums[w] = (customers, o or 0, r or 0, ordering, repeaters, subs[i], subs[-1])
    return sums


def store_period_sums(store_id: int, now: dt.datetime) -> dict[int, tuple]:
    """The whole store's sums per window, computed once per refresh."""
    return _period_sums(store_id, now, None)


def member_period_sums(store_id: int, segment_id: int, now: dt.datetime) -> dict[int, tuple]:
    """One segment's members' sums per window over the same days as the store's."""
    return _period_sums(store_id, now, segment_id)


def joined_since_sums(
    store_id: int, segment_id: int, history_mark: int, now: dt.datetime
) -> dict[int, tuple]:
    """The sums of the customers who joined since the watermark: what today's joins add."""
    return _period_sums(store_id, now, segment_id, JOINED_SINCE, history_mark)


def rest_of_store(store_sums: list, member_sums: list) -> dict:
    """The rest of the store: the store's sums less the members' over the same days."""
    return _block(
        tuple(Decimal(s) - Decimal(m) for s, m in zip(store_sums, member_sums, strict=True)), 0
    )


def retention(
    segment_id: int, tz: str, now: dt.datetime, from_cohort: dt.date | None = None
) -> list[dict]:
    """Cohorts by joining month with the share ordering in each month since (one statement);
    ``from_cohort``: only the cohorts of that month on (the rest did not change)."""
    with connection.cursor() as cur:
        cur.execute(
            """
            WITH m AS (
                SELECT customer_id,
                       date_trunc('month', added_at AT TIME ZONE %(tz)s)::date AS cohort
                FROM segments_segmentmembership WHERE segment_id = %(seg)s
                  AND (%(from)s::date IS NULL
                       OR date_trunc('month', added_at AT TIME ZONE %(tz)s)::date >= %(from)s)
            ), sizes AS (
                SELECT cohort, count(*) AS size FROM m GROUP BY cohort
            ), active AS (
                SELECT m.cohort,
                       ((extract(year FROM o.at) - extract(year FROM m.cohort)) * 12
                        + extract(month FROM o.at) - extract(month FROM m.cohort))::int AS k,
                       count(DISTINCT m.customer_id) AS n
                FROM m JOIN LATERAL (
                    SELECT date_trunc('month', o.processed_at AT TIME ZONE %(tz)s) AS at
                    FROM segments_order o
                    WHERE o.customer_id = m.customer_id AND o.cancelled_at IS NULL
                      AND o.financial_status NOT IN ('refunded', 'voided')
                      AND o.processed_at < %(now)s
                ) o ON o.at >= m.cohort
                GROUP BY 1, 2
            )
            SELECT sizes.cohort, sizes.size, active.k, active.n
            FROM sizes LEFT JOIN active
              ON active.cohort = sizes.cohort AND active.k <= %(months)s
            ORDER BY sizes.cohort, active.k
            """,
            {
                "seg": segment_id,
                "tz": tz,
                "now": now,
                "months": RETENTION_MONTHS,
                "from": from_cohort,
            },
        )
        rows = cur.fetchall()
    local_now = (now - dt.timedelta(microseconds=1)).astimezone(__import__("zoneinfo").ZoneInfo(tz))
    cohorts: dict[dt.date, dict] = {}
    for cohort, size, k, n in rows:
        elapsed = (local_now.year - cohort.year) * 12 + local_now.month - cohort.month
        entry = cohorts.setdefault(
            cohort,
            {
                "cohort": cohort.strftime("%Y-%m"),
                "size": size,
                "months": [0.0] * (min(elapsed, RETENTION_MONTHS) + 1),
            },
        )
        if k is not None and k < len(entry["months"]):
            entry["months"][k] = round(n / size, 4)
    return list(cohorts.values())
