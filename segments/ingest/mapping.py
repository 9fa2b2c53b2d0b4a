"""Payload to facts: what a Shopify or Recharge object says about a customer, an order, a
subscription or an upcoming charge, in our words. ``None`` means "the payload does not say"."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .topics import parse_count, parse_day, parse_id, parse_money, parse_when

SUBSCRIPTION_TAG = "subscription"
FIRST_ORDER_TAG = "subscription first order"
RECURRING_ORDER_TAG = "subscription recurring order"


@dataclass
class CustomerFacts:
    shopify_id: str = ""
    recharge_id: str = ""
    email: str = ""
    first_name: str | None = None
    last_name: str | None = None
    tags: list[str] | None = None
    accepts_marketing: bool | None = None
    # True when the payload is the customer itself, so its attributes replace ours.
    authoritative: bool = False
    reported_streak: int | None = None
    # The sender's ``updated_at`` of an authoritative copy: an older copy changes nothing.
    source_updated_at: dt.datetime | None = None


@dataclass
class LineFacts:
    product_id: str
    variant_id: str
    sku: str
    title: str
    quantity: int
    price: Decimal


@dataclass
class OrderFacts:
    external_id: str
    total: Decimal | None
    currency: str | None = None
    recharge_id: str = ""
    name: str = ""
    number: int | None = None
    source: str | None = None
    type: str | None = None
    is_subscription: bool | None = None
    is_first_subscription_order: bool | None = None
    discount_codes: list[str] | None = None
    financial_status: str = ""
    processed_at: dt.datetime | None = None
    cancelled_at: dt.datetime | None = None
    lines: list[LineFacts] = field(default_factory=list)


@dataclass
class SubscriptionFacts:
    recharge_id: str
    customer_recharge_id: str
    status: str | None
    source_updated_at: dt.datetime | None
    values: dict[str, Any]  # model field -> value, only what the payload says


@dataclass
class UpcomingFacts:
    external_id: str
    scheduled_at: dt.date | None
    total: Decimal | None
    lines: list[dict] | None
    discounts: list[dict] | None
    subscription_recharge_id: str
    source_updated_at: dt.datetime | None


# --- small readers ---------------------------------------------------------------------------


def _text(value: Any, limit: int) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).replace("\x00", "").strip()[:limit]


def _opt_id(value: Any) -> str:
    if value is None or value == "":
        return ""
    try:
        return parse_id(value)
    except ValueError:
        return ""


def _opt(parser, value: Any):
    if value is None or value == "":
        return None
    return parser(value)


def _external(obj: dict, name: str) -> str:
    """Read Recharge's ``external_<name>_id.ecommerce`` (2021-11) or ``shopify_<name>_id``."""
    nested = obj.get(f"external_{name}_id")
    if isinstance(nested, dict):
        found = _opt_id(nested.get("ecommerce"))
        if found:
            return found
    return _opt_id(obj.get(f"shopify_{name}_id"))


def _updated_at(obj: dict) -> dt.datetime | None:
    try:
        return _opt(parse_when, obj.get("updated_at"))
    except ValueError:
        return None


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        items = [_text(v, 255) for v in value]
    elif isinstance(value, str):
        items = [t.strip()[:255] for t in value.replace("\x00", "").split(",")]
    else:
        items = []
    return [t for t in items if t]


def _marketing(obj: dict) -> bool | None:
    consent = obj.get("email_marketing_consent")
    if isinstance(consent, dict) and isinstance(consent.get("state"), str):
        return consent["state"] == "subscribed"
    if isinstance(obj.get("accepts_marketing"), bool):
        return obj["accepts_marketing"]
    return None


def _name(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    return _text(value, 100) if isinstance(value, str) else None


def _streak(obj: dict) -> int | None:
    value = obj.get("subscription_related_charge_streak")
    return None if value is None else parse_count(value)


# --- Shopify ---------------------------------------------------------------------------------


def shopify_customer(obj: dict, *, authoritative: bool) -> CustomerFacts:
    """Map a Shopify customer object (a ``customers/*`` payload or an order's ``customer``)."""
    return CustomerFacts(
        shopify_id=_opt_id(obj.get("id")),
        email=_text(obj.get("email"), 254).lower(),
        first_name=_name(obj, "first_name"),
        last_name=_name(obj, "last_name"),
        tags=_tags(obj.get("tags")) if "tags" in obj else None,
        accepts_marketing=_marketing(obj),
        authoritative=authoritative,
        source_updated_at=_updated_at(obj) if authoritative else None,
    )


def shopify_order_customer(obj: dict) -> CustomerFacts | None:
    customer = obj.get("customer") if isinstance(obj.get("customer"), dict) else {}
    facts = shopify_customer(customer, authoritative=False)
    if not facts.email:
        facts.email = _text(obj.get("email") or obj.get("contact_email"), 254).lower()
    if not (facts.email or facts.shopify_id):
        return None
    return facts


def shopify_order(obj: dict) -> OrderFacts:
    tags = {t.lower() for t in _tags(obj.get("tags"))}
    is_subscription = bool(tags & {SUBSCRIPTION_TAG, FIRST_ORDER_TAG, RECURRING_ORDER_TAG})
    recurring = RECURRING_ORDER_TAG in tags
    number = obj.get("order_number")
    return OrderFacts(
        external_id=parse_id(obj["id"]),
        total=_opt(parse_money, obj.get("total_price")),
        currency=_text(obj.get("currency"), 3).upper() or None,
        name=_text(obj.get("name"), 64),
        number=number if isinstance(number, int) and 0 <= number < 2**31 else None,
        source="recharge_checkout" if is_subscription else "shopify_checkout",
        type="recurring" if recurring else "checkout",
        is_subscription=is_subscription,
        is_first_subscription_order=FIRST_ORDER_TAG in tags,
        discount_codes=[
            _text(d.get("code"), 100)
            for d in obj.get("discount_codes") or []
            if isinstance(d, dict) and d.get("code")
        ],
        financial_status=_text(obj.get("financial_status"), 32).lower(),
        processed_at=_opt(parse_when, obj.get("processed_at") or obj.get("created_at")),
        cancelled_at=_opt(parse_when, obj.get("cancelled_at")),
        lines=[_shopify_line(line) for line in obj.get("line_items") or []],
    )


def _shopify_line(line: dict) -> LineFacts:
    return LineFacts(
        product_id=_opt_id(line.get("product_id")),
        variant_id=_opt_id(line.get("variant_id")),
        sku=_text(line.get("sku"), 100),
        title=_text(line.get("title") or line.get("name"), 255),
        quantity=_opt(parse_count, line.get("quantity")) or 0,
        price=_opt(parse_money, line.get("price")) or Decimal("0.00"),
    )


# --- Recharge --------------------------------------------------------------------------------


def recharge_customer(obj: dict, *, authoritative: bool) -> CustomerFacts:
    """Map a Recharge customer object (a ``customer/*`` payload or a charge's ``customer``)."""
    return CustomerFacts(
        recharge_id=_opt_id(obj.get("id")),
        shopify_id=_external(obj, "customer"),
        email=_text(obj.get("email"), 254).lower(),
        first_name=_name(obj, "first_name"),
        last_name=_name(obj, "last_name"),
        accepts_marketing=obj.get("accepts_marketing")
        if isinstance(obj.get("accepts_marketing"), bool)
        else None,
        authoritative=authoritative,
        reported_streak=_streak(obj),
        source_updated_at=_updated_at(obj) if authoritative else None,
    )


def recharge_embedded_customer(obj: dict) -> CustomerFacts | None:
    """Map the customer a charge, order or subscription belongs to."""
    customer = obj.get("customer") if isinstance(obj.get("customer"), dict) else {}
    facts = recharge_customer(customer, authoritative=False)
    facts.recharge_id = facts.recharge_id or _opt_id(obj.get("customer_id"))
    facts.email = facts.email or _text(obj.get("email"), 254).lower()
    if not (facts.email or facts.recharge_id or facts.shopify_id):
        return None
    return facts


def _recharge_is_subscription(lines: list) -> bool:
    kinds = [
        str(line.get("purchase_item_type", "")).lower()
        for line in lines
        if isinstance(line, dict) and line.get("purchase_item_type")
    ]
    if kinds:
        return "subscription" in kinds
    return True  # Recharge charges and orders without item types are subscription charges


def recharge_order_external_id(obj: dict, *, kind: str) -> str:
    """The id our order takes from a Recharge charge or order: Shopify's order id when known."""
    return _external(obj, "order") or f"recharge-{kind}-{parse_id(obj['id'])}"


def recharge_order(obj: dict, *, kind: str) -> OrderFacts:
    """Map a Recharge charge (``kind="charge"``) or order (``kind="order"``) to an order."""
    own_id = parse_id(obj["id"])
    lines = obj.get("line_items") or []
    order_type = "recurring" if str(obj.get("type", "")).lower() == "recurring" else "checkout"
    is_subscription = _recharge_is_subscription(lines)
    return OrderFacts(
        external_id=recharge_order_external_id(obj, kind=kind),
        recharge_id=own_id,
        total=_opt(parse_money, obj.get("total_price")),
        currency=_text(obj.get("currency"), 3).upper() or None,
        source="recharge_checkout",
        type=order_type,
        is_subscription=is_subscription,
        is_first_subscription_order=is_subscription and order_type == "checkout",
        discount_codes=[
            _text(d.get("code"), 100)
            for d in obj.get("discounts") or obj.get("discount_codes") or []
            if isinstance(d, dict) and d.get("code")
        ],
        financial_status="paid",
        processed_at=_opt(parse_when, obj.get("processed_at") or obj.get("created_at")),
        lines=[_recharge_line(line) for line in lines],
    )


def _recharge_line(line: dict) -> LineFacts:
    return LineFacts(
        product_id=_external(line, "product"),
        variant_id=_external(line, "variant"),
        sku=_text(line.get("sku"), 100),
        title=_text(line.get("title") or line.get("product_title"), 255),
        quantity=_opt(parse_count, line.get("quantity")) or 0,
        price=_opt(parse_money, line.get("unit_price") or line.get("price")) or Decimal("0.00"),
    )


_STATUSES = {"active", "paused", "cancelled", "expired"}
_UNITS = {"day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month"}
_UNITS["months"] = "month"


def recharge_subscription(obj: dict, *, topic: str) -> SubscriptionFacts:
    status = str(obj.get("status") or "").lower()
    status = {"canceled": "cancelled"}.get(status, status)
    if topic == "subscription/cancelled":
        status = "cancelled"
    elif topic == "subscription/activated":
        status = "active"
    values: dict[str, Any] = {
        "product_id": _external(obj, "product") or None,
        "variant_id": _external(obj, "variant") or None,
        "sku": _text(obj.get("sku"), 100) or None,
        "product_title": _text(obj.get("product_title") or obj.get("title"), 255) or None,
        "quantity": _opt(parse_count, obj.get("quantity")),
        "price": _opt(parse_money, obj.get("price")),
        "interval_unit": _UNITS.get(str(obj.get("order_interval_unit") or "").lower()),
        "interval_frequency": _opt(parse_count, obj.get("order_interval_frequency")),
        "is_prepaid": obj["is_prepaid"] if isinstance(obj.get("is_prepaid"), bool) else None,
        "created_at": _opt(parse_when, obj.get("created_at")),
        "cancelled_at": _opt(parse_when, obj.get("cancelled_at")),
        "next_charge_date": _opt(parse_day, obj.get("next_charge_scheduled_at")),
        "cancellation_reason": _text(obj.get("cancellation_reason"), 255)
        if "cancellation_reason" in obj
        else None,
    }
    if values["interval_frequency"] == 0:
        values["interval_frequency"] = None
    if status == "active" and "cancelled_at" in obj:
        values["cancelled_at"] = _opt(parse_when, obj.get("cancelled_at"))
    values = {k: v for k, v in values.items() if v is not None}
    if status == "active":
        values.setdefault("cancelled_at", None)
    return SubscriptionFacts(
        recharge_id=parse_id(obj["id"]),
        customer_recharge_id=parse_id(obj["customer_id"]),
        status=status if status in _STATUSES else None,
        source_updated_at=_opt(parse_when, obj.get("updated_at")),
        values=values,
    )


def recharge_upcoming(obj: dict) -> UpcomingFacts:
    lines = obj.get("line_items") if isinstance(obj.get("line_items"), list) else None
    subscription_id = ""
    for line in lines or []:
        if str(line.get("purchase_item_type", "subscription")).lower() == "subscription":
            subscription_id = _opt_id(line.get("purchase_item_id") or line.get("subscription_id"))
            if subscription_id:
                break
    discounts = obj.get("discounts") if isinstance(obj.get("discounts"), list) else None
    return UpcomingFacts(
        external_id=parse_id(obj["id"]),
        scheduled_at=_opt(parse_day, obj.get("scheduled_at")),
        total=_opt(parse_money, obj.get("total_price")),
        lines=[_upcoming_line(line) for line in lines] if lines is not None else None,
        discounts=[d for d in discounts if isinstance(d, dict)] if discounts is not None else None,
        subscription_recharge_id=subscription_id,
        source_updated_at=_opt(parse_when, obj.get("updated_at")),
    )


def _upcoming_line(line: dict) -> dict:
    mapped = _recharge_line(line)
    return {
        "product_id": mapped.product_id,
        "variant_id": mapped.variant_id,
        "sku": mapped.sku,
        "title": mapped.title,
        "quantity": mapped.quantity,
        "price": str(mapped.price),
        "subscription_id": _opt_id(line.get("purchase_item_id") or line.get("subscription_id")),
    }
