"""A living demo: realistic, signed webhooks for a store's existing customers, posted through
the real HTTP endpoints (``manage.py send_demo_events``), so a new user watches figures, segment
memberships and experience runs move.

The stream mixes what a subscription store receives: a Shopify recurring order (``orders/create``
then ``orders/paid``), a Recharge ``charge/paid``, and subscription changes (``subscription/
updated``, ``cancelled``, ``activated``). Each delivery is signed with the store's own secrets,
exactly as Shopify and Recharge sign theirs.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .ingest.signatures import sign_recharge_v1, sign_shopify
from .models import Customer, Store, Subscription

PRODUCTS = [
    ("8123456789012", "45123456789012", "HB-12-WB", "House Blend Coffee", "18.00"),
    ("8123456789013", "45123456789013", "DR-12-GR", "Dark Roast Coffee", "19.50"),
    ("8123456789014", "45123456789014", "DC-12-WB", "Decaf Coffee", "17.00"),
]
CANCELLATION_REASONS = ["I have too much coffee", "Too expensive", "Trying another brand"]


@dataclass
class Delivery:
    """One webhook to post: where, its headers and its body."""

    path: str
    topic: str
    headers: dict[str, str]
    body: bytes
    customer_email: str


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def shopify_delivery(store: Store, topic: str, payload: dict, email: str) -> Delivery:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": store.shopify_domain or "",
        "X-Shopify-Hmac-Sha256": sign_shopify(store.shopify_webhook_secret, body),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": _iso(_now()),
        "X-Shopify-Api-Version": "2026-10",
    }
    return Delivery("/webhooks/shopify/", topic, headers, body, email)


def recharge_delivery(store: Store, topic: str, payload: dict, email: str) -> Delivery:
    body = json.dumps(payload).encode()
    stamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Recharge-Topic": topic,
        "X-Recharge-Webhook-Timestamp": str(stamp),
        "X-Recharge-Webhook-Signature": sign_recharge_v1(
            store.recharge_webhook_secret, body, stamp
        ),
    }
    return Delivery(f"/webhooks/recharge/{store.slug}/", topic, headers, body, email)


def _numeric(value: str):
    return int(value) if value.isdigit() else value


def _product(rnd: random.Random):
    return PRODUCTS[rnd.randrange(len(PRODUCTS))]


def shopify_recurring_order(store: Store, customer: Customer, order_id: int, rnd) -> list[Delivery]:
    """A subscription's recurring order as Shopify sends it: created, then paid."""
    product_id, variant_id, sku, title, price = _product(rnd)
    quantity = rnd.choice([1, 1, 2])
    total = f"{float(price) * quantity:.2f}"
    moment = _iso(_now())
    order = {
        "id": order_id,
        "name": f"#D{order_id % 1_000_000}",
        "order_number": order_id % 1_000_000,
        "email": customer.email,
        "currency": store.currency,
        "total_price": total,
        "subtotal_price": total,
        "financial_status": "pending",
        "tags": "Subscription, Subscription Recurring Order",
        "created_at": moment,
        "processed_at": moment,
        "customer": {
            "id": _numeric(customer.shopify_id),
            "email": customer.email,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
        },
        "line_items": [
            {"product_id": int(product_id), "variant_id": int(variant_id), "sku": sku,
             "title": title, "quantity": quantity, "price": price}
        ],
    }  # fmt: skip
    paid = {**order, "financial_status": "paid"}
    return [
        shopify_delivery(store, "orders/create", order, customer.email),
        shopify_delivery(store, "orders/paid", paid, customer.email),
    ]


def recharge_charge_paid(store: Store, customer: Customer, charge_id: int, rnd) -> list[Delivery]:
    """A paid recurring charge as Recharge sends it (the Shopify order it made included)."""
    product_id, variant_id, sku, title, price = _product(rnd)
    moment = _now().isoformat()
    charge = {
        "id": charge_id,
        "type": "recurring",
        "status": "success",
        "currency": store.currency,
        "total_price": price,
        "subtotal_price": price,
        "created_at": moment,
        "processed_at": moment,
        "scheduled_at": _now().date().isoformat(),
        "tags": "Subscription, Subscription Recurring Order",
        "external_order_id": {"ecommerce": str(charge_id + 10_000_000_000)},
        "customer": {
            "id": _numeric(customer.recharge_id),
            "email": customer.email,
            "external_customer_id": {"ecommerce": customer.shopify_id},
        },
        "line_items": [
            {"purchase_item_type": "subscription", "external_product_id": {"ecommerce": product_id},
             "external_variant_id": {"ecommerce": variant_id}, "sku": sku, "title": title,
             "quantity": 1, "unit_price": price, "price": price, "total_price": price}
        ],
    }  # fmt: skip
    return [recharge_delivery(store, "charge/paid", {"charge": charge}, customer.email)]


def recharge_subscription_change(store: Store, subscription: Subscription, rnd) -> list[Delivery]:
    """A subscription changed in Recharge: updated (quantity, next charge), cancelled or
    re-activated, with a newer ``updated_at`` than we hold."""
    customer = subscription.customer
    if subscription.status == Subscription.Status.ACTIVE:
        topic = rnd.choice(
            ["subscription/updated", "subscription/updated", "subscription/cancelled"]
        )
    else:
        topic = "subscription/activated"
    now = _now()
    data = {
        "id": int(subscription.recharge_id),
        "customer_id": int(customer.recharge_id),
        "email": customer.email,
        "status": {"subscription/cancelled": "cancelled"}.get(topic, "active"),
        "external_product_id": {"ecommerce": subscription.product_id},
        "external_variant_id": {"ecommerce": subscription.variant_id},
        "sku": subscription.sku,
        "product_title": subscription.product_title,
        "price": str(subscription.price),
        "quantity": rnd.choice([1, 2])
        if topic == "subscription/updated"
        else subscription.quantity,
        "order_interval_unit": subscription.interval_unit,
        "order_interval_frequency": str(subscription.interval_frequency),
        "is_prepaid": subscription.is_prepaid,
        "created_at": subscription.created_at.isoformat(),
        "updated_at": now.isoformat(),
        "next_charge_scheduled_at": (now + timedelta(days=rnd.choice([7, 14, 30])))
        .date()
        .isoformat(),
        "cancelled_at": now.isoformat() if topic == "subscription/cancelled" else None,
    }
    if topic == "subscription/cancelled":
        data["cancellation_reason"] = rnd.choice(CANCELLATION_REASONS)
        data["next_charge_scheduled_at"] = None
    return [recharge_delivery(store, topic, {"subscription": data}, customer.email)]


def demo_stream(store: Store, count: int, *, seed: int | None = None) -> Iterator[Delivery]:
    """Yield ``count`` deliveries (an order's create and paid count as two) for the store's
    existing subscribers; raise ``ValueError`` if it has none to send for."""
    rnd = random.Random(seed)
    fields = ("id", "email", "first_name", "last_name", "shopify_id", "recharge_id")
    subscribers = list(
        Customer.objects.filter(store=store).exclude(shopify_id="").exclude(recharge_id="")
        .order_by("?").only(*fields)[:500]
    )  # fmt: skip
    if not subscribers:
        raise ValueError(
            f"Store {store.slug!r} has no subscribers with Shopify and Recharge ids: "
            "run `python manage.py seed_demo` first."
        )
    subscriptions = list(
        Subscription.objects.filter(store=store, customer__in=subscribers)
        .exclude(recharge_id="").select_related("customer")[:500]
    )  # fmt: skip
    base = int(time.time() * 1000) * 10
    sent, n = 0, 0
    while sent < count:
        n += 1
        roll = rnd.random()
        customer = rnd.choice(subscribers)
        if roll < 0.45:
            batch = shopify_recurring_order(store, customer, base + n, rnd)
        elif roll < 0.8 or not subscriptions:
            batch = recharge_charge_paid(store, customer, base + n, rnd)
        else:
            subscription = rnd.choice(subscriptions)
            batch = recharge_subscription_change(store, subscription, rnd)
            subscription.status = (
                Subscription.Status.CANCELLED
                if batch[0].topic == "subscription/cancelled"
                else Subscription.Status.ACTIVE
            )
        for delivery in batch[: count - sent]:
            sent += 1
            yield delivery


def post(url: str, delivery: Delivery, timeout: float = 10) -> int:
    """POST one delivery; return the HTTP status (a refused delivery is a status, not an error)."""
    request = urllib.request.Request(
        url.rstrip("/") + delivery.path, data=delivery.body, headers=delivery.headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - our URL
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def send_demo_events(
    store: Store,
    *,
    url: str,
    count: int,
    rate: float,
    seed: int | None = None,
    report: Callable[[Delivery, int], None] | None = None,
) -> Counter:
    """Post ``count`` deliveries at about ``rate`` per second; return the count per status."""
    statuses: Counter = Counter()
    interval = 1.0 / rate if rate > 0 else 0.0
    started = time.monotonic()
    for i, delivery in enumerate(demo_stream(store, count, seed=seed)):
        if interval:
            delay = started + i * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        status = post(url, delivery)
        statuses[status] += 1
        if report is not None:
            report(delivery, status)
    return statuses
