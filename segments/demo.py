"""Demo data: a coffee-subscription store with merchant users, customers, subscriptions, order
histories, upcoming orders and two static segments.

Seeding is idempotent per store: the store, users and memberships are created once, customers are
numbered and only the missing numbers are added (``--customers 2000`` after 1,000 adds 1,000).
Every table is filled by set-based ``INSERT ... SELECT`` over ``generate_series``, so a million
customers take minutes, not hours; the derived figures come from the orders actually written,
through ``segments.figures``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.dispatch import Signal

from .figures import FIGURES_SELECT
from .models import (
    Customer,
    MembershipSource,
    Role,
    Segment,
    SegmentHistory,
    SegmentMembership,
    Store,
    StoreMembership,
)

DEMO_PASSWORD = "demo-password"
# (username, role in the store); ``None`` is the Django staff superuser.
DEMO_USERS = [
    ("staff", None),
    ("owner", Role.OWNER),
    ("editor", Role.EDITOR),
    ("viewer", Role.VIEWER),
]
SHOPIFY_ID_BASE = 6_000_000_000
RECHARGE_ID_BASE = 80_000_000
ORDER_ID_BASE = 4_500_000_000

FIRST_NAMES = (
    "Ava Ben Chloe Dan Ella Finn Grace Hugo Isla Jack Kara Leo Mia Noah Olive Paul Quinn Rosa Sam "
    "Tara Uma Vik Wren Xavi Yara Zane Amir Bea Cruz Dina Eli Faye Gil Hana Ivo Jo Kai Lena Milo Nia"
).split()
LAST_NAMES = (
    "Adams Brown Clark Diaz Evans Fox Green Hill Ito Jones King Lopez Moore Nash Owen Park Quinn "
    "Reed Smith Tran Usman Vega Walsh Xu Young Zhou Baker Cole Dunn Ellis Ford Gray Hart Ives Kim "
    "Lane Mills Nolan Ortiz Price"
).split()
# (product id, sku, title, price): the store's subscription catalogue.
PRODUCTS = [
    ("1001", "HOUSE-12", "House Blend 12oz", "16.00"),
    ("1002", "ESPRESSO-12", "Espresso Roast 12oz", "18.00"),
    ("1003", "DECAF-12", "Swiss Water Decaf 12oz", "17.00"),
    ("1004", "ORIGIN-12", "Single Origin of the Month", "21.00"),
    ("1005", "COLDBREW-4", "Cold Brew Packs x4", "14.00"),
    ("1006", "HOUSE-2LB", "House Blend 2lb", "38.00"),
]
# One-off items bought at checkout.
EXTRAS = [
    ("2001", "MUG-01", "Ceramic Mug", "12.00"),
    ("2002", "FILTER-100", "Paper Filters x100", "6.00"),
    ("2003", "GRINDER-01", "Hand Grinder", "45.00"),
    ("2004", "SAMPLER-3", "Tasting Sampler", "24.00"),
]
CANCELLATION_REASONS = ["Too much coffee", "Price", "Moving", "Trying another roaster", "Other"]
# Cumulative odds of a subscription's status (the SQL path uses the same thresholds).
STATUS_ODDS = [(0.22, "cancelled"), (0.27, "paused"), (0.30, "expired"), (1.01, "active")]
# (unit, frequency, days): monthly, every two weeks, every two months.
INTERVALS = [("month", 1, 30), ("week", 2, 14), ("month", 2, 60)]


# Sent with store= and report= once the demo store is seeded: higher layers (experiences) add
# their own demo content without this layer importing them.
demo_seeded = Signal()


@dataclass
class SeedReport:
    store: Store
    created_customers: int = 0
    total_customers: int = 0
    users: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what receivers of demo_seeded added


def seed_demo(
    customers: int = 1000, slug: str = "demo", name: str | None = None, stdout=None
) -> SeedReport:
    """Create (or complete) the demo store ``slug`` with ``customers`` customers."""
    store = _ensure_store(slug, name)
    report = SeedReport(store=store)
    report.users = _ensure_users(store)
    existing = Customer.objects.filter(store=store).count()
    missing = max(customers - existing, 0)
    if missing:
        with transaction.atomic():
            _seed_customers_sql(store, existing + 1, customers)
    report.created_customers = missing
    report.total_customers = existing + missing
    _ensure_segments(store)
    demo_seeded.send(sender=seed_demo, store=store, report=report)
    return report


def _ensure_store(slug: str, name: str | None) -> Store:
    demo = slug == "demo"
    store, created = Store.objects.get_or_create(
        slug=slug,
        defaults={
            "name": name or ("Demo Coffee Co" if demo else f"{slug.replace('-', ' ').title()} Co"),
            "shopify_domain": "demo-coffee.myshopify.com" if demo else f"{slug}.myshopify.com",
            "currency": "USD",
            "timezone": "America/New_York",
            "experiences_enabled": True,
            "rewards_enabled": True,
            "shopify_webhook_secret": f"shpss_{secrets.token_hex(16)}",
            "recharge_webhook_secret": f"rch_{secrets.token_hex(16)}",
        },
    )
    return store


def _ensure_users(store: Store) -> list[str]:
    User = get_user_model()
    names = []
    for username, role in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "email": f"{username}@example.com",
                "is_staff": role is None,
                "is_superuser": role is None,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        if role is not None:
            StoreMembership.objects.get_or_create(store=store, user=user, defaults={"role": role})
        names.append(username)
    return names


def _ensure_segments(store: Store) -> None:
    """Create the two static demo segments once, with members and their history."""
    picks = {
        "Test Customers": Customer.objects.filter(store=store).order_by("id")[:5],
        "Top Customers": Customer.objects.filter(store=store).order_by("-total_spent", "id")[:25],
    }
    descriptions = {
        "Test Customers": "Internal test accounts: experiences can be tried on them first.",
        "Top Customers": "Highest lifetime spend.",
    }
    for name, members in picks.items():
        with transaction.atomic():
            segment, created = Segment.objects.get_or_create(
                store=store,
                name=name,
                defaults={"kind": Segment.Kind.STATIC, "description": descriptions[name]},
            )
            if not created:
                continue
            ids = list(members.values_list("id", flat=True))
            common = {"store": store, "segment": segment, "source": MembershipSource.MANUAL}
            SegmentMembership.objects.bulk_create(
                [SegmentMembership(customer_id=i, reference="seed", **common) for i in ids],
                ignore_conflicts=True,
            )
            SegmentHistory.objects.bulk_create(
                [
                    SegmentHistory(
                        customer_id=i,
                        action=SegmentHistory.Action.ADDED,
                        reference="seed",
                        **common,
                    )
                    for i in ids
                ]
            )
            segment.member_count = len(ids)
            segment.save(update_fields=["member_count"])


# --- PostgreSQL: set-based ----------------------------------------------------------------------


def _u(k: int) -> str:
    """SQL for a deterministic pseudo-random number in [0, 1) from the customer number ``i``."""
    return f"((hashint8extended(i, {k}) & 1048575) / 1048576.0)"


def _sql_array(values, cast: str = "text") -> str:
    items = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)
    return f"(ARRAY[{items}]::{cast}[])"


def _seed_customers_sql(store: Store, first: int, last: int) -> None:
    """Insert customers ``first``..``last`` and their histories with a handful of statements."""
    params = {"store": store.id, "first": first, "last": last, "currency": store.currency}
    p_ids = _sql_array([p[0] for p in PRODUCTS])
    p_skus = _sql_array([p[1] for p in PRODUCTS])
    p_titles = _sql_array([p[2] for p in PRODUCTS])
    p_prices = _sql_array([p[3] for p in PRODUCTS], "numeric")
    x_ids = _sql_array([p[0] for p in EXTRAS])
    x_skus = _sql_array([p[1] for p in EXTRAS])
    x_titles = _sql_array([p[2] for p in EXTRAS])
    x_prices = _sql_array([p[3] for p in EXTRAS], "numeric")
    statements = [
        "SET LOCAL synchronous_commit = off",
        "SET LOCAL work_mem = '256MB'",
        # One row per customer with every choice made up front; ids reserved from the sequences.
        f"""
        CREATE TEMP TABLE seed_c ON COMMIT DROP AS
        SELECT i,
               nextval(pg_get_serial_sequence('segments_customer', 'id')) AS customer_id,
               CASE WHEN is_sub
                    THEN nextval(pg_get_serial_sequence('segments_subscription', 'id')) END
                   AS subscription_id,
               first_name, last_name, is_sub, days_ago, created_at, product, quantity,
               interval_unit, interval_frequency, interval_days, status, checkout_orders,
               accepts_marketing, source, welcome, reason,
               CASE WHEN status = 'active' THEN max_k
                    ELSE floor(u10 * (max_k + 1))::int END AS recurring
        FROM (
            SELECT i,
                   {_sql_array(FIRST_NAMES)}[1 + floor({_u(1)} * {len(FIRST_NAMES)})::int]
                       AS first_name,
                   {_sql_array(LAST_NAMES)}[1 + floor({_u(2)} * {len(LAST_NAMES)})::int]
                       AS last_name,
                   {_u(5)} < 0.62 AS is_sub,
                   days_ago,
                   now() - make_interval(days => days_ago, secs => floor({_u(4)} * 86400)::int)
                       AS created_at,
                   1 + floor({_u(7)} * {len(PRODUCTS)})::int AS product,
                   1 + ({_u(8)} < 0.2)::int AS quantity,
                   (ARRAY['month', 'week', 'month'])[plan] AS interval_unit,
                   (ARRAY[1, 2, 2])[plan] AS interval_frequency,
                   (ARRAY[30, 14, 60])[plan] AS interval_days,
                   (days_ago - 1) / (ARRAY[30, 14, 60])[plan] AS max_k,
                   CASE WHEN {_u(9)} < 0.22 THEN 'cancelled' WHEN {_u(9)} < 0.27 THEN 'paused'
                        WHEN {_u(9)} < 0.30 THEN 'expired' ELSE 'active' END AS status,
                   floor({_u(11)} * 4)::int AS checkout_orders,
                   {_u(12)} < 0.55 AS accepts_marketing,
                   CASE WHEN {_u(13)} < 0.6 THEN 'shopify_checkout' ELSE 'recharge_checkout' END
                       AS source,
                   {_u(14)} < 0.3 AS welcome,
                   {_sql_array(CANCELLATION_REASONS)}[1 + floor({_u(15)} * 5)::int] AS reason,
                   {_u(10)} AS u10
            FROM (
                SELECT i, 14 + floor(power({_u(3)}, 2) * 540)::int AS days_ago,
                       CASE WHEN {_u(6)} < 0.6 THEN 1 WHEN {_u(6)} < 0.7 THEN 2 ELSE 3 END AS plan
                FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i
            ) base
        ) chosen
        """,
        # Every order: the first subscription order and the recurring charges of subscribers,
        # one-off checkouts of everyone else; about 4% of recurring charges were cancelled.
        f"""
        CREATE TEMP TABLE seed_o ON COMMIT DROP AS
        SELECT nextval(pg_get_serial_sequence('segments_order', 'id')) AS order_id, o.*
        FROM (
            SELECT c.customer_id, c.i, n, true AS is_subscription, n = 0 AS is_first,
                   CASE WHEN n = 0 THEN 'checkout' ELSE 'recurring' END AS type,
                   c.source,
                   c.created_at + make_interval(days => n * c.interval_days, mins => 7)
                       AS processed_at,
                   n > 0 AND (hashint8extended(c.i * 100 + n, 40) & 1023) < 41 AS cancelled,
                   {p_ids}[c.product] AS product_id, {p_skus}[c.product] AS sku,
                   {p_titles}[c.product] AS title, {p_prices}[c.product] AS price,
                   c.quantity,
                   CASE WHEN n = 0 AND c.welcome
                        THEN round({p_prices}[c.product] * c.quantity * 0.9, 2)
                        ELSE {p_prices}[c.product] * c.quantity END AS total,
                   CASE WHEN n = 0 AND c.welcome THEN '["WELCOME10"]' ELSE '[]' END AS discounts
            FROM seed_c c CROSS JOIN LATERAL generate_series(0, c.recurring) AS n
            WHERE c.is_sub
            UNION ALL
            SELECT c.customer_id, c.i, 50 + n, false, false, 'checkout', 'shopify_checkout',
                   c.created_at + make_interval(days => n * 45, mins => 3),
                   false,
                   {x_ids}[x], {x_skus}[x], {x_titles}[x], {x_prices}[x], 1, {x_prices}[x], '[]'
            FROM seed_c c
            CROSS JOIN LATERAL generate_series(1, c.checkout_orders) AS n
            CROSS JOIN LATERAL (SELECT 1 + ((c.i + n) %% {len(EXTRAS)})::int AS x) pick
            WHERE NOT c.is_sub AND c.created_at + make_interval(days => n * 45) < now()
        ) o
        """,
        """
        INSERT INTO segments_order (id, store_id, customer_id, external_id, recharge_id, name,
            number, total, currency, source, type, is_subscription, is_first_subscription_order,
            discount_codes, financial_status, processed_at, cancelled_at)
        SELECT order_id, %(store)s, customer_id, (4500000000 + i * 100 + n)::text,
               CASE WHEN is_subscription THEN (90000000 + i * 100 + n)::text ELSE '' END,
               '#' || (1000 + (i - 1) * 100 + n)::text, 1000 + (i - 1) * 100 + n, total,
               %(currency)s, source, type, is_subscription, is_first, discounts::jsonb,
               CASE WHEN cancelled THEN 'refunded' ELSE 'paid' END, processed_at,
               CASE WHEN cancelled THEN processed_at + interval '1 day' END
        FROM seed_o
        """,
        """
        INSERT INTO segments_orderline (store_id, order_id, customer_id, product_id, variant_id,
            sku, title, quantity, price)
        SELECT %(store)s, order_id, customer_id, product_id, '3' || product_id, sku, title,
               quantity, price
        FROM seed_o
        """,
        f"""
        INSERT INTO segments_subscription (id, store_id, customer_id, recharge_id, product_id,
            variant_id, sku, product_title, quantity, price, interval_unit, interval_frequency,
            status, is_prepaid, created_at, cancelled_at, next_charge_date, cancellation_reason,
            source_updated_at)
        SELECT subscription_id, %(store)s, customer_id, (70000000 + i)::text,
               {p_ids}[product], '3' || {p_ids}[product], {p_skus}[product], {p_titles}[product],
               quantity, {p_prices}[product], interval_unit, interval_frequency, status,
               status = 'expired', created_at,
               CASE WHEN status = 'cancelled' THEN last_at + interval '5 days' END,
               CASE WHEN status = 'active'
                    THEN greatest((last_at + make_interval(days => interval_days))::date,
                                  current_date + 1) END,
               CASE WHEN status = 'cancelled' THEN reason ELSE '' END,
               now()
        FROM (SELECT *, created_at + make_interval(days => recurring * interval_days, mins => 7)
                        AS last_at
              FROM seed_c WHERE is_sub) s
        """,
        """
        INSERT INTO segments_upcomingorder (store_id, customer_id, subscription_id, external_id,
            scheduled_at, status, lines, discounts, added_items, total, source_updated_at)
        SELECT %(store)s, customer_id, id, (95000000 + customer_id)::text, next_charge_date,
               'scheduled',
               jsonb_build_array(jsonb_build_object('product_id', product_id,
                   'variant_id', variant_id, 'sku', sku, 'title', product_title,
                   'quantity', quantity, 'price', price::text)),
               '[]'::jsonb, '[]'::jsonb, price * quantity, now()
        FROM segments_subscription
        WHERE store_id = %(store)s AND status = 'active'
          AND customer_id BETWEEN (SELECT min(customer_id) FROM seed_c)
                              AND (SELECT max(customer_id) FROM seed_c)
        """,
        # The customers last, with figures computed from the orders just written (the foreign
        # keys are deferred to the commit).
        f"""
        INSERT INTO segments_customer (id, store_id, shopify_id, recharge_id, email, first_name,
            last_name, tags, accepts_marketing, created_at, updated_at, orders_count,
            subscription_orders_count, total_spent, subscription_aov, first_order_at,
            last_order_at, active_subscriptions_count, streak)
        SELECT c.customer_id, %(store)s, ({SHOPIFY_ID_BASE} + c.i)::text,
               CASE WHEN c.is_sub THEN ({RECHARGE_ID_BASE} + c.i)::text ELSE '' END,
               lower(c.first_name || '.' || c.last_name || '.' || c.i::text) || '@example.com',
               c.first_name, c.last_name,
               CASE WHEN c.is_sub THEN '["subscriber"]'::jsonb ELSE '[]'::jsonb END,
               c.accepts_marketing, c.created_at, now(),
               f.orders_count, f.subscription_orders_count, f.total_spent, f.subscription_aov,
               f.first_order_at, f.last_order_at, f.active_subscriptions_count, f.streak
        FROM seed_c c
        JOIN ({
            FIGURES_SELECT.format(
                source="(SELECT customer_id AS id, %(store)s AS store_id FROM seed_c)"
            )
        }) f
          ON f.customer_id = c.customer_id
        """,
    ]
    skipped = _skip_row_triggers()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for sql in statements[:3]:
            cursor.execute(sql, params)
        cursor.execute("ANALYZE seed_c")
        cursor.execute("SELECT min(customer_id), max(customer_id) FROM seed_c")
        params["lo"], params["hi"] = cursor.fetchone()
        cursor.execute(statements[3], params)
        cursor.execute("ANALYZE seed_o")
        for sql in statements[4:-1]:
            cursor.execute(sql, params)
        # Fresh statistics, or the planner takes the new rows for a handful and nests loops.
        cursor.execute("ANALYZE segments_order")
        cursor.execute("ANALYZE segments_subscription")
        cursor.execute(statements[-1], params)
        # Leave the surrounding transaction (tests, a caller's atomic block) as it was.
        if skipped:
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
        cursor.execute("DROP TABLE seed_o, seed_c")


def _skip_row_triggers() -> bool:
    """Skip the per-row foreign-key checks of this transaction when the role may.

    Every row is generated with the ids it references (reserved from the sequences above), so
    checking millions of them one by one at commit only doubles the time. A database role that may
    not set ``session_replication_role`` keeps the checks and is merely slower.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
    except DatabaseError:
        return False
    return True
