"""The staff admin of stores and commerce data: constant queries per changelist page, field
errors (never a 500) for bad input, and write-only webhook secrets."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext

from segments.models import (
    Customer,
    Order,
    Role,
    Store,
    StoreMembership,
    Subscription,
    UpcomingOrder,
)
from tests.fixtures.factories import (
    make_customer,
    make_order,
    make_store,
    make_subscription,
    make_upcoming_order,
    make_user,
)


def _membership(store):
    return make_user(store, Role.EDITOR)


def _subscription(store):
    return make_subscription(make_customer(store))


def _order(store):
    return make_order(make_customer(store), lines=2)


def _upcoming(store):
    customer = make_customer(store)
    return make_upcoming_order(customer, subscription=make_subscription(customer))


# One row of each model, each with its own related rows, so a missing join shows per row.
ROW_FACTORIES = {
    Store: lambda store: make_store(),
    StoreMembership: _membership,
    Customer: make_customer,
    Subscription: _subscription,
    Order: _order,
    UpcomingOrder: _upcoming,
}


def _changelist_queries(client, model) -> int:
    url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries)


def test_every_commerce_model_has_an_admin_with_search_and_filters():
    for model in ROW_FACTORIES:
        model_admin = admin.site._registry[model]
        assert model_admin.search_fields, model
        assert model_admin.list_filter, model


@pytest.mark.parametrize("model", list(ROW_FACTORIES), ids=lambda m: m.__name__)
def test_changelist_runs_the_same_number_of_queries_for_5_and_50_rows(admin_client, model):
    # given a store and 5 rows
    stores = [make_store() for _ in range(3)]
    for n in range(5):
        ROW_FACTORIES[model](stores[n % 3])
    few = _changelist_queries(admin_client, model)
    # when 45 more rows are added
    for n in range(45):
        ROW_FACTORIES[model](stores[n % 3])
    many = _changelist_queries(admin_client, model)
    # then the page costs exactly as many queries
    assert model.objects.count() >= 50
    assert many == few, f"{model.__name__}: {few} queries for 5 rows, {many} for 50"


def _inline_management(prefix: str, total: int = 0) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def _store_form(**overrides) -> dict:
    data = {
        "name": "Bean There",
        "slug": "bean-there",
        "shopify_domain": "bean-there.myshopify.com",
        "currency": "USD",
        "timezone": "Europe/Paris",
        "shopify_webhook_secret": "",
        "recharge_webhook_secret": "",
        **_inline_management("memberships"),
    }
    data.update(overrides)
    return data


def _form_errors(response) -> dict:
    assert response.status_code == 200, "the form should be shown again with its errors"
    return response.context["adminform"].form.errors


@pytest.mark.parametrize(
    "field, value",
    [
        ("timezone", "Mars/Olympus_Mons"),
        ("shopify_domain", "https://bean-there.com"),
        ("currency", "dollars"),
        ("slug", "not a slug!"),
    ],
)
def test_store_form_answers_bad_input_with_a_field_error(admin_client, db, field, value):
    response = admin_client.post("/admin/segments/store/add/", _store_form(**{field: value}))
    assert field in _form_errors(response)
    assert not Store.objects.filter(slug="bean-there").exists()


def test_store_form_keeps_a_secret_left_blank_and_never_shows_it(admin_client, store):
    # given a store with secrets
    url = f"/admin/segments/store/{store.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert store.shopify_webhook_secret not in page
    assert "A secret is set." in page
    # when the form is saved with the secrets blank and a new Recharge secret
    data = _store_form(
        name=store.name,
        slug=store.slug,
        shopify_domain=store.shopify_domain,
        recharge_webhook_secret="brand-new",
    )
    response = admin_client.post(url, data)
    # then the Shopify secret is kept and the Recharge one replaced
    assert response.status_code == 302
    old_shopify = store.shopify_webhook_secret
    store.refresh_from_db()
    assert store.shopify_webhook_secret == old_shopify
    assert store.recharge_webhook_secret == "brand-new"


def test_store_form_adds_members_with_roles(admin_client, db):
    user = make_user()
    data = _store_form(
        **{
            **_inline_management("memberships", total=1),
            "memberships-0-user": str(user.pk),
            "memberships-0-role": "editor",
        }
    )
    response = admin_client.post("/admin/segments/store/add/", data)
    assert response.status_code == 302
    store = Store.objects.get(slug="bean-there")
    assert store.memberships.get().role == Role.EDITOR


def test_customer_form_refuses_an_email_taken_in_the_store_whatever_its_case(admin_client, store):
    make_customer(store, email="Alice@Example.com")
    response = admin_client.post(
        "/admin/segments/customer/add/",
        {
            "store": store.pk,
            "email": "alice@EXAMPLE.com",
            "tags": "[]",
            "created_at_0": "2026-01-01",
            "created_at_1": "10:00:00",
        },
    )
    assert "email" in _form_errors(response)
    assert Customer.objects.filter(store=store).count() == 1


def test_customer_form_accepts_the_same_email_in_another_store(admin_client, store, other_store):
    make_customer(store, email="alice@example.com")
    response = admin_client.post(
        "/admin/segments/customer/add/",
        {
            "store": other_store.pk,
            "email": "alice@example.com",
            "tags": "[]",
            "created_at_0": "2026-01-01",
            "created_at_1": "10:00:00",
        },
    )
    assert response.status_code == 302
    assert Customer.objects.filter(email="alice@example.com").count() == 2


def test_subscription_form_refuses_a_negative_price(admin_client, customer):
    response = admin_client.post(
        "/admin/segments/subscription/add/",
        {
            "store": customer.store_id,
            "customer": customer.pk,
            "product_id": "1001",
            "quantity": "1",
            "price": "-5.00",
            "interval_unit": "month",
            "interval_frequency": "0",
            "status": "active",
            "created_at_0": "2026-01-01",
            "created_at_1": "10:00:00",
        },
    )
    errors = _form_errors(response)
    assert "price" in errors
    assert "interval_frequency" in errors
    assert not Subscription.objects.exists()


def test_order_form_refuses_a_negative_total_and_a_negative_line_price(admin_client, customer):
    data = {
        "store": customer.store_id,
        "customer": customer.pk,
        "external_id": "ord-1",
        "total": "-1",
        "currency": "USD",
        "source": "shopify_checkout",
        "type": "checkout",
        "discount_codes": "[]",
        "processed_at_0": "2026-01-01",
        "processed_at_1": "10:00:00",
        **_inline_management("lines", total=1),
        "lines-0-product_id": "1001",
        "lines-0-quantity": "1",
        "lines-0-price": "-2",
    }
    response = admin_client.post("/admin/segments/order/add/", data)
    assert "total" in _form_errors(response)
    assert "price" in response.context["inline_admin_formsets"][0].formset.errors[0]
    assert not Order.objects.exists()


def test_order_form_saves_lines_in_the_orders_store(admin_client, customer):
    data = {
        "store": customer.store_id,
        "customer": customer.pk,
        "external_id": "ord-2",
        "total": "38.00",
        "currency": "USD",
        "source": "shopify_checkout",
        "type": "checkout",
        "discount_codes": "[]",
        "processed_at_0": "2026-01-01",
        "processed_at_1": "10:00:00",
        **_inline_management("lines", total=1),
        "lines-0-product_id": "1001",
        "lines-0-quantity": "2",
        "lines-0-price": "19.00",
    }
    response = admin_client.post("/admin/segments/order/add/", data)
    assert response.status_code == 302
    line = Order.objects.get(external_id="ord-2").lines.get()
    assert (line.store_id, line.customer_id, line.price) == (
        customer.store_id,
        customer.pk,
        Decimal("19.00"),
    )
    # and the customer's figures follow the order, as when a webhook brings it
    customer.refresh_from_db()
    assert (customer.orders_count, customer.total_spent) == (1, Decimal("38.00"))


def test_deleting_an_order_in_the_admin_refreshes_the_customers_figures(admin_client, customer):
    order = make_order(customer, total=Decimal("25.00"))
    from segments.figures import refresh_customer_figures

    refresh_customer_figures([customer.pk])
    customer.refresh_from_db()
    assert customer.orders_count == 1
    response = admin_client.post(f"/admin/segments/order/{order.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.orders_count, customer.total_spent) == (0, Decimal("0"))


def test_customer_page_links_to_their_segments_and_history(admin_client, customer):
    # given a customer in a static segment
    from segments.actions import add_to_segment, create_segment

    segment = create_segment(customer.store, name="Coffee club")
    add_to_segment(segment, customer, source="manual")
    # when staff open the customer
    page = admin_client.get(f"/admin/segments/customer/{customer.pk}/change/")
    # then it links to the page that lists their segments, why, and the history
    link = f"/admin/segments/segment/customer/{customer.pk}/"
    assert page.status_code == 200 and link.encode() in page.content
    segments_page = admin_client.get(link)
    assert segments_page.status_code == 200 and b"Coffee club" in segments_page.content
