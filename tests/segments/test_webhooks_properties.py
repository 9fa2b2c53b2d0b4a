"""Property tests: whatever a sender puts in a request, the answer is never a 500 and the state is
never half-written (a refused delivery stores nothing, an accepted one stores exactly one row),
and whatever is accepted is then applied or kept with its error, never crashing the worker."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.ingest.actions import process_batch
from segments.ingest.signatures import sign_recharge_legacy, sign_shopify
from segments.models import InboundEvent
from tests.fixtures.payloads import load

pytestmark = pytest.mark.django_db

TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=30)
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
SHOPIFY_TOPICS = ["orders/create", "orders/paid", "orders/cancelled", "customers/update"]
RECHARGE_TOPICS = ["charge/paid", "charge/upcoming", "subscription/updated", "customer/created"]
FIXTURES = {
    "orders/create": "shopify_orders_create",
    "orders/paid": "shopify_orders_paid",
    "orders/cancelled": "shopify_orders_paid",
    "customers/update": "shopify_orders_create",
    "charge/paid": "recharge_charge_paid",
    "charge/upcoming": "recharge_charge_upcoming",
    "subscription/updated": "recharge_subscription_updated",
    "customer/created": "recharge_charge_paid",
}
ALLOWED = {200, 202, 400, 401, 404, 405, 413}


@st.composite
def payloads(draw, topic: str):
    """A realistic payload for the topic with a few fields replaced, removed or mangled."""
    base = load(FIXTURES.get(topic, "shopify_orders_create"))
    if topic == "customers/update":
        base = base["customer"]
    if topic == "customer/created":
        base = {"customer": base["charge"]["customer"]}
    target = base
    if len(base) == 1 and isinstance(next(iter(base.values())), dict):
        target = next(iter(base.values()))
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from(sorted(target)) | TEXT)
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(JSON)
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    return base


def _send(client, source, store, topic, body, signature_ok, extra_headers):
    if source == "shopify":
        headers = {
            "HTTP_X_SHOPIFY_TOPIC": topic,
            "HTTP_X_SHOPIFY_SHOP_DOMAIN": store.shopify_domain,
            "HTTP_X_SHOPIFY_EVENT_ID": extra_headers.pop("event_id"),
            "HTTP_X_SHOPIFY_HMAC_SHA256": sign_shopify(store.shopify_webhook_secret, body)
            if signature_ok
            else extra_headers.pop("signature"),
        }
        path = "/webhooks/shopify/"
    else:
        headers = {
            "HTTP_X_RECHARGE_TOPIC": topic,
            "HTTP_X_RECHARGE_HMAC_SHA256": sign_recharge_legacy(store.recharge_webhook_secret, body)
            if signature_ok
            else extra_headers.pop("signature"),
        }
        path = f"/webhooks/recharge/{store.slug}/"
    for name, value in extra_headers.items():
        headers["HTTP_" + name] = value
    return client.generic("POST", path, body, content_type="application/json", **headers)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_request_gets_a_4xx_or_2xx_and_never_a_half_written_state(client, store, data):
    # given any delivery a sender could make
    source = data.draw(st.sampled_from(["shopify", "recharge"]))
    topics = SHOPIFY_TOPICS if source == "shopify" else RECHARGE_TOPICS
    topic = data.draw(st.sampled_from(topics) | HEADER_TEXT)
    if data.draw(st.integers(0, 5)) == 0:
        body = data.draw(st.binary(max_size=64))
    else:
        body = json.dumps(data.draw(payloads(topic))).encode()
    signature_ok = data.draw(st.booleans())
    extra = {
        "event_id": data.draw(HEADER_TEXT),
        "signature": data.draw(HEADER_TEXT),
        **data.draw(
            st.dictionaries(
                st.sampled_from(["X_SHOPIFY_TRIGGERED_AT", "X_RECHARGE_WEBHOOK_SIGNATURE"]),
                HEADER_TEXT,
                max_size=2,
            )
        ),
    }
    before = InboundEvent.objects.count()
    # when it is sent
    response = _send(client, source, store, topic, body, signature_ok, extra)
    # then the answer is a deliberate one, JSON, and the rows match it
    assert response.status_code in ALLOWED, response.content
    after = InboundEvent.objects.count()
    if response.status_code == 202:
        assert after == before + 1
    else:
        assert after == before
        if response.status_code != 200:
            assert set(response.json()) == {"error", "field"}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_accepted_events_are_applied_or_kept_with_their_error(client, store, data):
    # given a signed delivery with mangled fields that the endpoint accepted
    source = data.draw(st.sampled_from(["shopify", "recharge"]))
    topic = data.draw(st.sampled_from(SHOPIFY_TOPICS if source == "shopify" else RECHARGE_TOPICS))
    body = json.dumps(data.draw(payloads(topic))).encode()
    response = _send(client, source, store, topic, body, True, {"event_id": data.draw(TEXT)})
    if response.status_code != 202:
        return
    # when the workers apply it
    process_batch()
    # then it is processed, or still pending/failed with its error kept: never lost silently
    event = InboundEvent.objects.get(pk=response.json()["id"])
    assert event.status in {InboundEvent.Status.PROCESSED, InboundEvent.Status.RECEIVED}
    if event.status == InboundEvent.Status.RECEIVED:
        assert event.last_error
        assert event.next_attempt_at is not None
