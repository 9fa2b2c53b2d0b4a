"""Management commands: create_api_token and seed_demo (idempotent, figures consistent)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.authtoken.models import Token

from segments.figures import count_inconsistent_customers
from segments.models import (
    Customer,
    Order,
    OrderLine,
    Role,
    Segment,
    SegmentHistory,
    SegmentMembership,
    Store,
    StoreMembership,
    Subscription,
    UpcomingOrder,
)
from tests.fixtures.factories import make_user


def _run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_api_token_prints_a_token_that_authenticates(api, store):
    # given a viewer of store A
    user = make_user(store, Role.VIEWER, username="integration")
    # when a token is created for them twice
    key = _run("create_api_token", "integration").strip()
    again = _run("create_api_token", "integration").strip()
    # then it is the same working token
    assert key == again == Token.objects.get(user=user).key
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/stores/store-a/customers/").status_code == 200


def test_create_api_token_rotate_replaces_the_token(db):
    make_user(username="rotating")
    first = _run("create_api_token", "rotating").strip()
    second = _run("create_api_token", "rotating", "--rotate").strip()
    assert first != second
    assert Token.objects.filter(key=first).count() == 0


def test_create_api_token_for_an_unknown_user_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("create_api_token", "ghost")


def _counts(store) -> dict:
    models = [Customer, Subscription, Order, OrderLine, UpcomingOrder, Segment, SegmentHistory]
    counts = {m.__name__: m.objects.filter(store=store).count() for m in models}
    counts["memberships"] = SegmentMembership.objects.filter(store=store).count()
    counts["staff"] = StoreMembership.objects.filter(store=store).count()
    return counts


def _orders_count_mismatches(store) -> int:
    """Customers whose orders_count is not the count of their uncancelled orders (one query)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM segments_customer c
            WHERE c.store_id = %s AND c.orders_count <> (
                SELECT count(*) FROM segments_order o
                WHERE o.customer_id = c.id AND o.cancelled_at IS NULL)
            """,
            [store.id],
        )
        return cursor.fetchone()[0]


def test_seed_demo_creates_a_consistent_demo_store_once(db):
    # when the demo is seeded twice
    output = _run("seed_demo", "--customers", "60")
    store = Store.objects.get(slug="demo")
    first = _counts(store)
    secrets = (store.shopify_webhook_secret, store.recharge_webhook_secret)
    _run("seed_demo", "--customers", "60")
    store.refresh_from_db()
    # then the second run changed nothing
    assert _counts(store) == first
    assert (store.shopify_webhook_secret, store.recharge_webhook_secret) == secrets
    assert store.shopify_webhook_secret not in output  # secrets print only when asked
    assert "--show-secrets" in output
    # and the store is as promised
    assert (store.name, store.shopify_domain) == ("Demo Coffee Co", "demo-coffee.myshopify.com")
    assert store.experiences_enabled and store.rewards_enabled
    roles = dict(StoreMembership.objects.filter(store=store).values_list("user__username", "role"))
    assert roles == {"owner": "owner", "editor": "editor", "viewer": "viewer"}
    assert first["Customer"] == 60
    assert first["Order"] > 60 and first["OrderLine"] >= first["Order"]
    assert (
        first["UpcomingOrder"] == Subscription.objects.filter(store=store, status="active").count()
    )
    # and every derived figure agrees with the orders
    assert _orders_count_mismatches(store) == 0
    assert count_inconsistent_customers(store.id) == 0


def test_seed_demo_histories_are_realistic(db):
    _run("seed_demo", "--customers", "300")
    store = Store.objects.get(slug="demo")
    orders = Order.objects.filter(store=store)
    assert (
        orders.filter(is_first_subscription_order=True).count()
        == Subscription.objects.filter(store=store).count()
    )
    assert orders.filter(type="recurring", is_subscription=True).exists()
    assert orders.filter(cancelled_at__isnull=False).exists()
    assert (
        Subscription.objects.filter(store=store, status="cancelled")
        .exclude(cancellation_reason="")
        .exists()
    )
    assert Customer.objects.filter(store=store, streak__gte=3).exists()
    for name in ["Test Customers", "Top Customers"]:
        segment = Segment.objects.get(store=store, name=name)
        members = SegmentMembership.objects.filter(segment=segment)
        assert segment.member_count == members.count() > 0
        assert set(members.values_list("source", "reference").distinct()) == {("manual", "seed")}
        assert SegmentHistory.objects.filter(segment=segment, reference="seed").count() == (
            segment.member_count
        )


def test_seed_demo_into_another_store_adds_only_missing_customers(db):
    _run("seed_demo", "--customers", "10")
    _run("seed_demo", "--customers", "20", "--store", "bench")
    _run("seed_demo", "--customers", "50", "--store", "bench")
    bench = Store.objects.get(slug="bench")
    assert Customer.objects.filter(store__slug="demo").count() == 10
    assert Customer.objects.filter(store=bench).count() == 50
    assert bench.shopify_domain == "bench.myshopify.com"
    assert count_inconsistent_customers(bench.id) == 0
    assert _orders_count_mismatches(bench) == 0


def test_seed_demo_refuses_a_negative_count(db):
    with pytest.raises(CommandError):
        call_command("seed_demo", "--customers", "-1")


def test_seed_demo_prints_the_webhook_secrets_only_when_asked(db):
    # when the demo is seeded with --show-secrets
    output = _run("seed_demo", "--customers", "5", "--show-secrets")
    store = Store.objects.get(slug="demo")
    # then both secrets are printed, and they are stored encrypted, not as printed
    assert store.shopify_webhook_secret in output and store.recharge_webhook_secret in output
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT shopify_webhook_secret FROM segments_store WHERE id = %s", [store.pk]
        )
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and store.shopify_webhook_secret not in stored
