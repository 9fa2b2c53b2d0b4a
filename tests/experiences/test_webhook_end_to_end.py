"""End to end from a signed Shopify webhook to a milestone run, on real workers.

The webhook ingest (``segments.ingest``) announces ``order_processed`` after it has processed an
order and recomputed the customer's figures from their orders.
"""

import base64
import hashlib
import hmac
import json
import time

from django.urls import reverse

from experiences.models import EmailDelivery, Run
from segments.models import MembershipSource, SegmentHistory, SegmentMembership
from tests.fixtures.factories import make_customer, make_order
from tests.fixtures.worker import wait_until

from .helpers import milestone_graph, publish, static_segment

WORKER_ENV = {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}


def _post_order(client, store, order_id: int, shopify_customer_id: str, email: str):
    body = json.dumps(
        {
            "id": order_id,
            "name": f"#{order_id}",
            "email": email,
            "currency": "USD",
            "total_price": "19.00",
            "financial_status": "paid",
            "tags": "Subscription, Subscription Recurring Order",
            "customer": {"id": int(shopify_customer_id), "email": email, "first_name": "Alice"},
            "line_items": [
                {"product_id": 1001, "variant_id": 2001, "sku": "COFFEE-1", "title": "Coffee",
                 "quantity": 1, "price": "19.00"}
            ],
            "created_at": "2026-11-25T10:00:00Z",
            "processed_at": "2026-11-25T10:00:00Z",
        }
    ).encode()  # fmt: skip
    digest = hmac.new(store.shopify_webhook_secret.encode(), body, hashlib.sha256).digest()
    return client.post(
        reverse("webhook-shopify"),
        data=body,
        content_type="application/json",
        HTTP_X_SHOPIFY_TOPIC="orders/paid",
        HTTP_X_SHOPIFY_SHOP_DOMAIN=store.shopify_domain,
        HTTP_X_SHOPIFY_HMAC_SHA256=base64.b64encode(digest).decode(),
        HTTP_X_SHOPIFY_WEBHOOK_ID=f"webhook-{order_id}",
        HTTP_X_SHOPIFY_EVENT_ID=f"event-{order_id}",
        HTTP_X_SHOPIFY_TRIGGERED_AT="2026-11-25T10:00:00Z",
    )


def test_signed_webhook_runs_the_milestone_once(celery_worker_process, store, client):
    # given the milestone experience and a customer with two subscription orders so far
    test_customers = static_segment(store, "Test Customers")
    reached = static_segment(store, "Milestone 3 reached")
    experience = publish(store, *milestone_graph(test_customers, reached), name="Milestone 3")
    customer = make_customer(store, shopify_id="7001", email="alice@example.com")
    for n in (9001, 9002):  # the figures are derived from the orders, so write real ones
        make_order(customer, external_id=str(n), is_subscription=True)
    SegmentMembership.objects.create(
        store=store, segment=test_customers, customer=customer, source=MembershipSource.MANUAL
    )
    celery_worker_process(extra_env=WORKER_ENV)
    # when the third subscription order arrives as a signed webhook, delivered twice
    for _ in range(2):
        answer = _post_order(client, store, 9003, "7001", "alice@example.com")
        assert answer.status_code in (200, 201, 202), answer.content
    # then one run adds the customer to the segment and emails them, once
    wait_until(lambda: Run.objects.filter(status="completed").exists(), timeout=60)
    wait_until(lambda: EmailDelivery.objects.filter(status="sent").exists())
    time.sleep(2)
    assert Run.objects.filter(experience=experience).count() == 1
    assert SegmentHistory.objects.filter(segment=reached, customer=customer).count() == 1
    assert EmailDelivery.objects.count() == 1
