"""The webhook endpoints: what each kind of request is answered, and what is stored."""

import json
import time

import pytest

from segments.ingest.signatures import sign_recharge_v1
from segments.models import InboundEvent
from tests.fixtures.payloads import (
    body_of,
    load,
    post_recharge,
    post_shopify,
    recharge_headers,
    shopify_headers,
)

pytestmark = pytest.mark.django_db


def test_signed_shopify_order_is_stored_received_and_answered_202(client, store):
    # given a signed orders/create delivery
    payload = load("shopify_orders_create")
    # when it is posted
    response = post_shopify(client, store, "orders/create", payload, event_id="evt-1")
    # then it is accepted and stored once, unprocessed
    assert response.status_code == 202
    event = InboundEvent.objects.get()
    assert response.json() == {"status": "accepted", "id": event.pk}
    assert (event.store_id, event.source, event.topic) == (store.pk, "shopify", "orders/create")
    assert event.dedupe_key == "evt-1"
    assert event.status == InboundEvent.Status.RECEIVED
    assert event.customer_key == "jane.doe@example.com"
    assert event.payload == payload


def test_duplicate_delivery_answers_200_and_stores_nothing_new(client, store):
    payload = load("shopify_orders_create")
    post_shopify(client, store, "orders/create", payload, event_id="evt-dup")
    # when Shopify delivers the same event again
    response = post_shopify(client, store, "orders/create", payload, event_id="evt-dup")
    # then
    assert response.status_code == 200
    assert response.json() == {"status": "duplicate"}
    assert InboundEvent.objects.count() == 1


def test_webhook_id_is_the_dedupe_key_when_event_id_is_missing(client, store):
    body = body_of(load("shopify_orders_create"))
    headers = shopify_headers(store, "orders/create", body, HTTP_X_SHOPIFY_WEBHOOK_ID="wh-7")
    del headers["HTTP_X_SHOPIFY_EVENT_ID"]
    client.post("/webhooks/shopify/", body, content_type="application/json", **headers)
    again = client.post("/webhooks/shopify/", body, content_type="application/json", **headers)
    assert again.status_code == 200
    assert InboundEvent.objects.get().dedupe_key == "wh-7"


@pytest.mark.parametrize("signature", ["", "bm90IHRoZSByaWdodCBvbmU=", "garbage"])
def test_bad_or_missing_shopify_signature_is_401_and_stores_nothing(client, store, signature):
    body = body_of(load("shopify_orders_create"))
    headers = shopify_headers(store, "orders/create", body, HTTP_X_SHOPIFY_HMAC_SHA256=signature)
    response = client.post("/webhooks/shopify/", body, content_type="application/json", **headers)
    assert response.status_code == 401
    assert response.json()["field"] == "X-Shopify-Hmac-Sha256"
    assert not InboundEvent.objects.exists()


def test_signature_of_another_store_is_refused(client, store, other_store):
    body = body_of(load("shopify_orders_create"))
    headers = shopify_headers(other_store, "orders/create", body)
    headers["HTTP_X_SHOPIFY_SHOP_DOMAIN"] = store.shopify_domain
    response = client.post("/webhooks/shopify/", body, content_type="application/json", **headers)
    assert response.status_code == 401
    assert not InboundEvent.objects.exists()


def test_unknown_shop_domain_is_404(client, store):
    body = body_of(load("shopify_orders_create"))
    headers = shopify_headers(store, "orders/create", body)
    headers["HTTP_X_SHOPIFY_SHOP_DOMAIN"] = "nobody.myshopify.com"
    response = client.post("/webhooks/shopify/", body, content_type="application/json", **headers)
    assert response.status_code == 404
    assert response.json() == {"error": "Unknown store.", "field": "X-Shopify-Shop-Domain"}


def test_unknown_recharge_store_slug_is_404(client, store):
    body = body_of(load("recharge_charge_paid"))
    response = client.post(
        "/webhooks/recharge/no-such-store/",
        body,
        content_type="application/json",
        **recharge_headers(store, "charge/paid", body),
    )
    assert response.status_code == 404
    assert not InboundEvent.objects.exists()


def test_body_that_is_not_json_is_400_with_field(client, store):
    response = post_shopify(client, store, "orders/create", b"{not json")
    assert response.status_code == 400
    assert response.json() == {"error": "The body is not valid UTF-8 JSON.", "field": "body"}
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(
    ("topic", "drop", "field"),
    [("orders/create", "id", "id"), ("orders/paid", "total_price", "total_price")],
)
def test_order_without_required_field_is_400_naming_it(client, store, topic, drop, field):
    payload = load("shopify_orders_create")
    del payload[drop]
    response = post_shopify(client, store, topic, payload)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert not InboundEvent.objects.exists()


def test_recharge_charge_with_bad_total_is_400_with_its_path(client, store):
    payload = load("recharge_charge_paid")
    payload["charge"]["total_price"] = "twelve"
    response = post_recharge(client, store, "charge/paid", payload)
    assert response.status_code == 400
    assert response.json()["field"] == "charge.total_price"
    assert not InboundEvent.objects.exists()


def test_recharge_body_without_its_resource_key_is_400(client, store):
    response = post_recharge(client, store, "subscription/created", {"id": 1})
    assert response.status_code == 400
    assert response.json()["field"] == "subscription"


def test_body_over_one_mebibyte_is_413(client, store):
    payload = load("shopify_orders_create")
    payload["note"] = "x" * (1024 * 1024)
    response = post_shopify(client, store, "orders/create", payload)
    assert response.status_code == 413
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_wrong_method_is_405(client, store, method):
    response = getattr(client, method)("/webhooks/shopify/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert getattr(client, method)(f"/webhooks/recharge/{store.slug}/").status_code == 405


def test_unsupported_topic_on_known_store_is_recorded_ignored(client, store):
    response = post_shopify(client, store, "products/update", {"id": 1, "title": "Mug"})
    assert response.status_code == 202
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.IGNORED
    assert event.topic == "products/update"


def test_missing_topic_header_is_400(client, store):
    body = body_of(load("shopify_orders_create"))
    headers = shopify_headers(store, "orders/create", body)
    del headers["HTTP_X_SHOPIFY_TOPIC"]
    response = client.post("/webhooks/shopify/", body, content_type="application/json", **headers)
    assert response.status_code == 400
    assert response.json()["field"] == "X-Shopify-Topic"


def test_recharge_legacy_signature_is_accepted(client, store):
    response = post_recharge(
        client,
        store,
        "subscription/created",
        load("recharge_subscription_created"),
        scheme="legacy",
    )
    assert response.status_code == 202
    assert InboundEvent.objects.get().source == "recharge"


def test_recharge_v1_signature_is_accepted_within_48_hours(client, store):
    at = time.time() - 47 * 3600
    response = post_recharge(client, store, "charge/paid", load("recharge_charge_paid"), at=at)
    assert response.status_code == 202


def test_recharge_v1_signature_older_than_48_hours_is_401(client, store):
    at = time.time() - 48 * 3600 - 60
    response = post_recharge(client, store, "charge/paid", load("recharge_charge_paid"), at=at)
    assert response.status_code == 401
    assert "48 hours" in response.json()["error"]
    assert not InboundEvent.objects.exists()


def test_recharge_v1_signature_over_another_body_is_401(client, store):
    body = body_of(load("recharge_charge_paid"))
    stamp = int(time.time())
    headers = {
        "HTTP_X_RECHARGE_TOPIC": "charge/paid",
        "HTTP_X_RECHARGE_WEBHOOK_SIGNATURE": sign_recharge_v1(
            store.recharge_webhook_secret, body + b" ", stamp
        ),
    }
    response = client.post(
        f"/webhooks/recharge/{store.slug}/", body, content_type="application/json", **headers
    )
    assert response.status_code == 401


def test_recharge_redelivery_of_same_body_is_a_duplicate(client, store):
    payload = load("recharge_subscription_created")
    assert post_recharge(client, store, "subscription/created", payload).status_code == 202
    assert post_recharge(client, store, "subscription/created", payload).status_code == 200
    assert InboundEvent.objects.count() == 1


def test_webhook_path_uses_two_queries(client, store, django_assert_max_num_queries):
    body = body_of(load("shopify_orders_create"))
    headers = shopify_headers(store, "orders/create", body)
    with django_assert_max_num_queries(2):
        response = client.post(
            "/webhooks/shopify/", body, content_type="application/json", **headers
        )
    assert response.status_code == 202


def test_stored_payload_is_the_parsed_body(client, store):
    payload = {"id": 9, "total_price": "1.00", "note": "café ☕", "email": "a@example.com"}
    post_shopify(client, store, "orders/create", payload)
    assert InboundEvent.objects.get().payload == json.loads(json.dumps(payload))


def test_shopify_triggered_at_dates_an_event_whose_object_has_no_timestamp(client, store):
    payload = {"id": 5, "total_price": "3.00", "email": "b@example.com"}
    post_shopify(client, store, "orders/create", payload)
    assert InboundEvent.objects.get().occurred_at.isoformat() == "2026-11-02T14:14:05.123000+00:00"
