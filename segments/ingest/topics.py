"""The topics we accept from each sender, what each must carry, and the envelope facts taken from
a delivery before it is stored (its object, who it is about, when it happened).

A delivery that lacks what its topic needs is refused with the path of the field at fault, so
nothing that reaches a worker is missing the facts it needs.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

MAX_ID_LENGTH = 64
MAX_MONEY = Decimal("999999999999.99")


class PayloadError(Exception):
    """The payload cannot be accepted; ``field`` is the dotted path of the offending field."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


class Kind(StrEnum):
    ID = "id"
    MONEY = "money"
    DATETIME = "datetime"
    DATE = "date"
    TEXT = "text"
    COUNT = "count"


class Handler(StrEnum):
    """How a topic is applied (see ``segments.ingest.apply``)."""

    SHOPIFY_ORDER = "shopify_order"
    SHOPIFY_ORDER_CANCELLED = "shopify_order_cancelled"
    SHOPIFY_CUSTOMER = "shopify_customer"
    RECHARGE_ORDER = "recharge_order"
    RECHARGE_CHARGE_PAID = "recharge_charge_paid"
    RECHARGE_CHARGE_UPCOMING = "recharge_charge_upcoming"
    RECHARGE_CHARGE_FAILED = "recharge_charge_failed"
    RECHARGE_SUBSCRIPTION = "recharge_subscription"
    RECHARGE_CUSTOMER = "recharge_customer"


@dataclass(frozen=True)
class Topic:
    source: str
    name: str
    handler: Handler
    wrapper: str | None  # Recharge wraps the object in its resource key
    required: tuple[tuple[str, Kind], ...]


_DATES = ("created_at", "updated_at", "processed_at", "cancelled_at")
# Fields checked only when present: a wrong type here would fail later, so refuse it now.
OPTIONAL: dict[str, Kind] = {
    **dict.fromkeys(_DATES, Kind.DATETIME),
    "total_price": Kind.MONEY,
    "price": Kind.MONEY,
    "quantity": Kind.COUNT,
    "order_interval_frequency": Kind.COUNT,
    "subscription_related_charge_streak": Kind.COUNT,
    "scheduled_at": Kind.DATE,
    "next_charge_scheduled_at": Kind.DATE,
    "email": Kind.TEXT,
}

_ORDER = (("id", Kind.ID), ("total_price", Kind.MONEY))
_REGISTRY: list[Topic] = [
    Topic("shopify", "orders/create", Handler.SHOPIFY_ORDER, None, _ORDER),
    Topic("shopify", "orders/paid", Handler.SHOPIFY_ORDER, None, _ORDER),
    Topic("shopify", "orders/cancelled", Handler.SHOPIFY_ORDER_CANCELLED, None, (("id", Kind.ID),)),
    Topic(
        "shopify",
        "customers/create",
        Handler.SHOPIFY_CUSTOMER,
        None,
        (("id", Kind.ID), ("email", Kind.TEXT)),
    ),
    Topic(
        "shopify",
        "customers/update",
        Handler.SHOPIFY_CUSTOMER,
        None,
        (("id", Kind.ID), ("email", Kind.TEXT)),
    ),
    Topic("recharge", "order/created", Handler.RECHARGE_ORDER, "order", _ORDER),
    Topic("recharge", "order/processed", Handler.RECHARGE_ORDER, "order", _ORDER),
    Topic("recharge", "charge/paid", Handler.RECHARGE_CHARGE_PAID, "charge", _ORDER),
    Topic(
        "recharge",
        "charge/upcoming",
        Handler.RECHARGE_CHARGE_UPCOMING,
        "charge",
        (("id", Kind.ID), ("scheduled_at", Kind.DATE)),
    ),
    Topic(
        "recharge", "charge/failed", Handler.RECHARGE_CHARGE_FAILED, "charge", (("id", Kind.ID),)
    ),
    *(
        Topic(
            "recharge",
            f"subscription/{verb}",
            Handler.RECHARGE_SUBSCRIPTION,
            "subscription",
            (("id", Kind.ID), ("customer_id", Kind.ID)),
        )
        for verb in ("created", "updated", "cancelled", "activated")
    ),
    *(
        Topic(
            "recharge",
            f"customer/{verb}",
            Handler.RECHARGE_CUSTOMER,
            "customer",
            (("id", Kind.ID), ("email", Kind.TEXT)),
        )
        for verb in ("created", "updated")
    ),
]
TOPICS: dict[tuple[str, str], Topic] = {(t.source, t.name): t for t in _REGISTRY}


def topic_for(source: str, name: str) -> Topic | None:
    """Return the topic we apply for this sender and name, or None when we do not."""
    return TOPICS.get((source, name))


# --- Field parsers: each returns the clean value or raises ValueError ------------------------


def parse_id(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        raise ValueError("must be an id")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must be a positive id")
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ValueError("must be an id (a number or a string)")
    if not text or len(text) > MAX_ID_LENGTH or "\x00" in text:
        raise ValueError(f"must be an id of 1 to {MAX_ID_LENGTH} characters")
    return text


def parse_money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError('must be a decimal amount like "19.90"')
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite amount")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError('must be a decimal amount like "19.90"') from None
    if not amount.is_finite() or amount < 0 or amount > MAX_MONEY:
        raise ValueError("must be an amount between 0 and 999999999999.99")
    return amount.quantize(Decimal("0.01"))


def parse_when(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time")
    try:
        parsed = parse_datetime(value.strip())
        if parsed is None:
            day = parse_date(value.strip())
            if day is not None:
                parsed = dt.datetime.combine(day, dt.time())
    except (ValueError, OverflowError):
        parsed = None
    if parsed is None:
        raise ValueError("must be an ISO 8601 date-time")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        parsed.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    if not 1970 <= parsed.year <= 9998:
        raise ValueError("is out of range")
    return parsed


def parse_day(value: Any) -> dt.date:
    return parse_when(value).date()


def parse_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a whole number")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError("must be a whole number") from None
    if not 0 <= number <= 2_000_000_000:
        raise ValueError("must be a whole number between 0 and 2000000000")
    return number


def parse_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    if len(value) > 254 or "\x00" in value:
        raise ValueError("must be at most 254 characters")
    return value.strip()


PARSERS = {
    Kind.ID: parse_id,
    Kind.MONEY: parse_money,
    Kind.DATETIME: parse_when,
    Kind.DATE: parse_day,
    Kind.TEXT: parse_text,
    Kind.COUNT: parse_count,
}


@dataclass(frozen=True)
class Envelope:
    """What a delivery is about, taken from it before it is stored."""

    obj: dict
    customer_key: str
    occurred_at: dt.datetime | None


def check_payload(topic: Topic, payload: Any) -> Envelope:
    """Return the delivery's envelope, or raise ``PayloadError`` naming the field at fault."""
    prefix = f"{topic.wrapper}." if topic.wrapper else ""
    if not isinstance(payload, dict):
        raise PayloadError("The body must be a JSON object.", topic.wrapper or "body")
    obj = payload.get(topic.wrapper) if topic.wrapper else payload
    if not isinstance(obj, dict):
        raise PayloadError(f"The body must hold a {topic.wrapper!r} object.", topic.wrapper)
    for name, _kind in topic.required:
        if obj.get(name) in (None, ""):
            raise PayloadError(f"{name} is required for {topic.name}.", prefix + name)
    _check_fields(obj, prefix, topic.required)
    customer = obj.get("customer")
    if customer is not None:
        if not isinstance(customer, dict):
            raise PayloadError("customer must be an object.", prefix + "customer")
        _check_fields(
            customer, f"{prefix}customer.", (("id", Kind.ID),) if "id" in customer else ()
        )
    lines = obj.get("line_items")
    if lines is not None:
        if not isinstance(lines, list):
            raise PayloadError("line_items must be a list.", prefix + "line_items")
        for i, line in enumerate(lines):
            if not isinstance(line, dict):
                raise PayloadError("a line item must be an object.", f"{prefix}line_items.{i}")
            _check_fields(line, f"{prefix}line_items.{i}.", ())
    return Envelope(obj=obj, customer_key=customer_key(topic, obj), occurred_at=_occurred(obj))


def _check_fields(obj: dict, prefix: str, required: tuple[tuple[str, Kind], ...]) -> None:
    checks = dict(required)
    for name, kind in OPTIONAL.items():
        if obj.get(name) is not None and name not in checks:
            checks[name] = kind
    for name, kind in checks.items():
        value = obj.get(name)
        if value is None or (value == "" and name not in dict(required)):
            continue
        try:
            PARSERS[kind](value)
        except ValueError as exc:
            raise PayloadError(f"{name} {exc}.", prefix + name) from None


def _occurred(obj: dict) -> dt.datetime | None:
    for name in ("updated_at", "processed_at", "created_at"):
        if obj.get(name):
            return parse_when(obj[name])
    return None


def _ident(value: Any) -> str:
    try:
        return parse_id(value)
    except ValueError:
        return ""


def customer_key(topic: Topic, obj: dict) -> str:
    """Return who the event is about: their email, else the sender's customer id."""
    customer = obj.get("customer") if isinstance(obj.get("customer"), dict) else {}
    if topic.handler in (Handler.SHOPIFY_CUSTOMER, Handler.RECHARGE_CUSTOMER):
        customer = obj
    email = customer.get("email") or obj.get("email")
    if isinstance(email, str) and email.strip():
        return email.strip().lower()[:254]
    ident = _ident(customer.get("id")) or _ident(obj.get("customer_id"))
    if ident:
        return f"{topic.source}:{ident}"
    return f"{topic.source}:{topic.wrapper or 'order'}:{_ident(obj.get('id'))}"
