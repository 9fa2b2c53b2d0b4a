"""Write what one event says: the customer, order, subscription or upcoming charge it describes.

Each function runs inside the caller's transaction, with the customer already locked, and returns
an ``Applied``: the customer it touched and the domain events to announce. Customers and orders are
read from the ``Batch`` the caller prepared (one statement for the whole batch), and new orders and
lines are inserted when it flushes. None of them updates the customer's derived figures: the caller
refreshes them once per batch, set-based.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from .. import domain
from ..models import Customer, Order, OrderLine, ReportedStreak, Subscription, UpcomingOrder
from . import mapping
from .batch import Batch, new_customer
from .topics import Handler, Topic


class ProcessingError(Exception):
    """The event cannot be applied as it stands (it is retried, then kept as ``failed``)."""


@dataclass
class Applied:
    customer_id: int | None = None
    announcements: list[tuple[str, dict]] = field(default_factory=list)


# Financial statuses in the order they move; the furthest one seen wins.
FINANCIAL_RANK = {
    "pending": 1,
    "authorized": 2,
    "partially_paid": 3,
    "paid": 4,
    "partially_refunded": 5,
    "refunded": 6,
    "voided": 6,
}
PAID = {"paid", "partially_refunded"}


def apply_event(store_id: int, topic: Topic, obj: dict, batch: Batch) -> Applied:
    """Apply one event's object to the store's rows and return what happened."""
    handler = HANDLERS[topic.handler]
    return handler(store_id, topic, obj, batch)


# --- customers -------------------------------------------------------------------------------


def resolve_customer(
    store_id: int, facts: mapping.CustomerFacts | None, batch: Batch
) -> Customer | None:
    """Return the customer these facts describe, locked, creating or completing it as needed."""
    if facts is None or not (facts.shopify_id or facts.recharge_id or facts.email):
        return None
    found = batch.customers_matching(store_id, facts)
    if len(found) > 1:
        raise ProcessingError(
            "The payload's identifiers match several customers: "
            + ", ".join(f"#{c.pk} <{c.email}>" for c in found)
        )
    if not found:
        if not facts.email:
            raise ProcessingError(
                "Unknown customer and no email to create them with "
                f"(shopify id {facts.shopify_id or '-'}, recharge id {facts.recharge_id or '-'})."
            )
        customer = new_customer(store_id, facts)
        customer.save(force_insert=True)
        batch.remember(customer)
        return customer
    customer = found[0]
    changes = _customer_changes(customer, facts)
    if changes:
        Customer.objects.filter(pk=customer.pk).update(**changes, updated_at=timezone.now())
        for name, value in changes.items():
            setattr(customer, name, value)
        batch.remember(customer)
    return customer


def _customer_changes(customer: Customer, facts: mapping.CustomerFacts) -> dict:
    changes: dict = {}
    for name in ("shopify_id", "recharge_id"):
        ours, theirs = getattr(customer, name), getattr(facts, name)
        if ours and theirs and ours != theirs:
            raise ProcessingError(
                f"Customer #{customer.pk} has {name} {ours} but the payload says {theirs}."
            )
        if theirs and not ours:
            changes[name] = theirs
    attributes = {
        "first_name": facts.first_name,
        "last_name": facts.last_name,
        "tags": facts.tags,
        "accepts_marketing": facts.accepts_marketing,
    }
    if facts.authoritative and facts.email:
        attributes["email"] = facts.email
    if facts.authoritative and _is_stale(customer.source_updated_at, facts.source_updated_at, ""):
        return changes  # an older copy of the customer: only identifiers we lacked are taken
    if facts.authoritative and facts.source_updated_at:
        changes["source_updated_at"] = facts.source_updated_at
    for name, value in attributes.items():
        if value is None:
            continue
        current = getattr(customer, name)
        if facts.authoritative or current in ("", [], None):
            if current != value:
                changes[name] = value
    return changes


def report_streak(store_id: int, customer: Customer, value: int | None, at: dt.datetime) -> None:
    """Keep the newest streak Recharge reported for the customer."""
    if value is None:
        return
    existing = ReportedStreak.objects.filter(customer=customer).first()
    if existing is None:
        ReportedStreak.objects.create(
            store_id=store_id, customer=customer, value=value, reported_at=at
        )
    elif existing.reported_at <= at:
        ReportedStreak.objects.filter(pk=existing.pk).update(value=value, reported_at=at)


def _customer_topic(store_id: int, topic: Topic, obj: dict, batch: Batch) -> Applied:
    if topic.handler == Handler.SHOPIFY_CUSTOMER:
        facts = mapping.shopify_customer(obj, authoritative=True)
    else:
        facts = mapping.recharge_customer(obj, authoritative=True)
    customer = resolve_customer(store_id, facts, batch)
    at = mapping._opt(mapping.parse_when, obj.get("updated_at")) or timezone.now()
    report_streak(store_id, customer, facts.reported_streak, at)
    return Applied(customer.pk, [(domain.CUSTOMER_UPDATED, {"customer_id": customer.pk})])


# --- orders ----------------------------------------------------------------------------------


def upsert_order(
    store_id: int, facts: mapping.OrderFacts, customer: Customer | None, batch: Batch
) -> tuple[Order, bool, bool]:
    """Insert or merge the order; return it, whether it became paid and whether it got cancelled.

    Two senders describe one order (Shopify's order and Recharge's charge share the Shopify order
    id), so their facts merge instead of making two orders: cancellation sticks, the financial
    status only moves forward, subscription flags only turn on.
    """
    existing = batch.order(store_id, facts.external_id)
    customer_id = customer.pk if customer else None
    if existing is None:
        if facts.total is None:
            raise ProcessingError(
                f"Order {facts.external_id} is unknown and the payload has no total."
            )
        order = Order(
            store_id=store_id,
            customer_id=customer_id,
            external_id=facts.external_id,
            recharge_id=facts.recharge_id,
            name=facts.name,
            number=facts.number,
            total=facts.total,
            currency=facts.currency or batch.currency(store_id),
            source=facts.source or Order.Source.SHOPIFY_CHECKOUT,
            type=facts.type or Order.Type.CHECKOUT,
            is_subscription=bool(facts.is_subscription),
            is_first_subscription_order=bool(facts.is_first_subscription_order),
            discount_codes=facts.discount_codes or [],
            financial_status=facts.financial_status,
            processed_at=facts.processed_at or timezone.now(),
            cancelled_at=facts.cancelled_at,
        )
        batch.add_order(order, _lines(store_id, customer_id, facts.lines))
        return order, facts.financial_status in PAID, facts.cancelled_at is not None
    changes: dict = {}
    if existing.customer_id is None and customer_id is not None:
        changes["customer_id"] = customer_id
    for name in ("recharge_id", "name"):
        if getattr(facts, name) and not getattr(existing, name):
            changes[name] = getattr(facts, name)
    if facts.number is not None and existing.number is None:
        changes["number"] = facts.number
    if facts.total is not None and facts.total != existing.total:
        changes["total"] = facts.total
    if facts.currency and facts.currency != existing.currency:
        changes["currency"] = facts.currency
    for name in ("is_subscription", "is_first_subscription_order"):
        if getattr(facts, name) and not getattr(existing, name):
            changes[name] = True
    if facts.is_subscription and existing.source != facts.source and facts.source:
        changes["source"] = facts.source
    if facts.type == Order.Type.RECURRING and existing.type != facts.type:
        changes["type"] = facts.type
    if facts.discount_codes and not existing.discount_codes:
        changes["discount_codes"] = facts.discount_codes
    rank_now = FINANCIAL_RANK.get(existing.financial_status, 0)
    if facts.financial_status and FINANCIAL_RANK.get(facts.financial_status, 0) > rank_now:
        changes["financial_status"] = facts.financial_status
    if facts.cancelled_at and existing.cancelled_at is None:
        changes["cancelled_at"] = facts.cancelled_at
    if changes and not batch.is_new(existing):  # a new one is inserted with its changes
        Order.objects.filter(pk=existing.pk).update(**changes)
    became_paid = existing.financial_status not in PAID and changes.get("financial_status") in PAID
    got_cancelled = "cancelled_at" in changes
    for name, value in changes.items():
        setattr(existing, name, value)
    if facts.lines and not batch.has_lines_for(existing):
        lines = _lines(store_id, existing.customer_id, facts.lines)
        for line in lines:
            line.order_id = existing.pk
        batch.add_lines(existing, lines)
    return existing, became_paid, got_cancelled


def _lines(store_id, customer_id, lines: list[mapping.LineFacts]) -> list[OrderLine]:
    return [
        OrderLine(
            store_id=store_id,
            customer_id=customer_id,
            product_id=line.product_id,
            variant_id=line.variant_id,
            sku=line.sku,
            title=line.title,
            quantity=line.quantity,
            price=line.price,
        )
        for line in lines
    ]


def order_data(order: Order) -> dict:
    return {
        "order_id": order.pk,
        "is_subscription": order.is_subscription,
        "is_first_subscription_order": order.is_first_subscription_order,
        "order_type": order.type,
        "total": str(order.total),
    }


def _order_announcements(order: Order, became_paid: bool, got_cancelled: bool) -> list:
    found = []
    if became_paid and order.cancelled_at is None:
        found.append((domain.ORDER_PROCESSED, order_data(order)))
    if got_cancelled:
        found.append((domain.ORDER_CANCELLED, order_data(order)))
    return found


def _shopify_order(store_id: int, topic: Topic, obj: dict, batch: Batch) -> Applied:
    customer = resolve_customer(store_id, mapping.shopify_order_customer(obj), batch)
    facts = mapping.shopify_order(obj)
    if topic.name == "orders/paid" and facts.financial_status not in PAID:
        facts.financial_status = "paid"
    order, became_paid, got_cancelled = upsert_order(store_id, facts, customer, batch)
    return Applied(order.customer_id, _order_announcements(order, became_paid, got_cancelled))


def _shopify_order_cancelled(store_id: int, topic: Topic, obj: dict, batch: Batch) -> Applied:
    customer = resolve_customer(store_id, mapping.shopify_order_customer(obj), batch)
    facts = mapping.shopify_order(obj)
    facts.cancelled_at = facts.cancelled_at or timezone.now()
    order, _, got_cancelled = upsert_order(store_id, facts, customer, batch)
    return Applied(order.customer_id, _order_announcements(order, False, got_cancelled))


def _recharge_order(store_id: int, topic: Topic, obj: dict, batch: Batch) -> Applied:
    facts_customer = mapping.recharge_embedded_customer(obj)
    customer = resolve_customer(store_id, facts_customer, batch)
    kind = "charge" if topic.wrapper == "charge" else "order"
    facts = mapping.recharge_order(obj, kind=kind)
    order, became_paid, got_cancelled = upsert_order(store_id, facts, customer, batch)
    if customer is not None and facts_customer.reported_streak is not None:
        report_streak(store_id, customer, facts_customer.reported_streak, order.processed_at)
    if kind == "charge":
        UpcomingOrder.objects.filter(
            store_id=store_id, external_id=facts.recharge_id, status=UpcomingOrder.Status.SCHEDULED
        ).update(status=UpcomingOrder.Status.PROCESSED)
    return Applied(order.customer_id, _order_announcements(order, became_paid, got_cancelled))


# --- subscriptions ---------------------------------------------------------------------------

_SUBSCRIPTION_EVENTS = {
    "subscription/created": domain.SUBSCRIPTION_CREATED,
    "subscription/updated": domain.SUBSCRIPTION_UPDATED,
    "subscription/cancelled": domain.SUBSCRIPTION_CANCELLED,
    "subscription/activated": domain.SUBSCRIPTION_ACTIVATED,
}


def _recharge_subscription(store_id: int, topic: Topic, obj: dict, batch: Batch) -> Applied:
    facts = mapping.recharge_subscription(obj, topic=topic.name)
    existing = (
        Subscription.objects.filter(store_id=store_id, recharge_id=facts.recharge_id)
        .select_for_update()
        .first()
    )
    if existing is not None:
        customer_id = existing.customer_id
        if _is_stale(existing.source_updated_at, facts.source_updated_at, topic.name):
            return Applied(customer_id)
        changes = dict(facts.values)
        if facts.status:
            changes["status"] = facts.status
        if changes.get("status") == Subscription.Status.CANCELLED and not changes.get(
            "cancelled_at"
        ):
            changes["cancelled_at"] = existing.cancelled_at or timezone.now()
        changes["source_updated_at"] = facts.source_updated_at or existing.source_updated_at
        Subscription.objects.filter(pk=existing.pk).update(**changes)
        data = {"subscription_id": existing.pk, "status": changes.get("status", existing.status)}
        return Applied(customer_id, [(_SUBSCRIPTION_EVENTS[topic.name], data)])
    customer_facts = mapping.recharge_embedded_customer(obj) or mapping.CustomerFacts(
        recharge_id=facts.customer_recharge_id
    )
    customer = resolve_customer(store_id, customer_facts, batch)
    values = {
        "product_id": "",
        "price": 0,
        **facts.values,
        "status": facts.status or Subscription.Status.ACTIVE,
        "source_updated_at": facts.source_updated_at,
    }
    if values["status"] == Subscription.Status.CANCELLED and not values.get("cancelled_at"):
        values["cancelled_at"] = facts.source_updated_at or timezone.now()
    subscription = Subscription.objects.create(
        store_id=store_id, customer=customer, recharge_id=facts.recharge_id, **values
    )
    data = {"subscription_id": subscription.pk, "status": subscription.status}
    found = [(domain.SUBSCRIPTION_CREATED, data)]
    if topic.name != "subscription/created":
        found.append((_SUBSCRIPTION_EVENTS[topic.name], data))
    return Applied(customer.pk, found)


def _is_stale(ours: dt.datetime | None, theirs: dt.datetime | None, topic_name: str) -> bool:
    """Tell whether an update is older than the state we hold (ties: a late create loses)."""
    if ours is None or theirs is None:
        return False
    return theirs < ours or (theirs == ours and topic_name == "subscription/created")


# --- upcoming orders (Recharge charges) ------------------------------------------------------


def _recharge_charge_upcoming(store_id: int, topic: Topic, obj: dict, batch: Batch) -> Applied:
    failed = topic.handler == Handler.RECHARGE_CHARGE_FAILED
    facts = mapping.recharge_upcoming(obj)
    customer = resolve_customer(store_id, mapping.recharge_embedded_customer(obj), batch)
    existing = (
        UpcomingOrder.objects.filter(store_id=store_id, external_id=facts.external_id)
        .select_for_update()
        .first()
    )
    status = UpcomingOrder.Status.FAILED if failed else UpcomingOrder.Status.SCHEDULED
    subscription_id = None
    if facts.subscription_recharge_id:
        subscription_id = (
            Subscription.objects.filter(
                store_id=store_id, recharge_id=facts.subscription_recharge_id
            )
            .values_list("pk", flat=True)
            .first()
        )
    values: dict = {"status": status}
    for name in ("scheduled_at", "total", "lines", "discounts"):
        if getattr(facts, name) is not None:
            values[name] = getattr(facts, name)
    if subscription_id is not None:
        values["subscription_id"] = subscription_id
    if existing is None:
        if customer is None:
            raise ProcessingError(f"Charge {facts.external_id} names no customer.")
        values.setdefault("scheduled_at", timezone.now().date())
        upcoming = UpcomingOrder.objects.create(
            store_id=store_id,
            customer=customer,
            external_id=facts.external_id,
            source_updated_at=facts.source_updated_at,
            **values,
        )
    else:
        if _is_stale(existing.source_updated_at, facts.source_updated_at, topic.name):
            return Applied(existing.customer_id)
        if existing.status == UpcomingOrder.Status.PROCESSED and not failed:
            values.pop("status")
        values["source_updated_at"] = facts.source_updated_at or existing.source_updated_at
        UpcomingOrder.objects.filter(pk=existing.pk).update(**values)
        upcoming = existing
        for name, value in values.items():
            setattr(upcoming, name, value)
    data = {
        "upcoming_order_id": upcoming.pk,
        "subscription_id": upcoming.subscription_id,
        "scheduled_at": upcoming.scheduled_at.isoformat(),
    }
    name = domain.CHARGE_FAILED if failed else domain.UPCOMING_ORDER_SCHEDULED
    return Applied(upcoming.customer_id, [(name, data)])


HANDLERS = {
    Handler.SHOPIFY_ORDER: _shopify_order,
    Handler.SHOPIFY_ORDER_CANCELLED: _shopify_order_cancelled,
    Handler.SHOPIFY_CUSTOMER: _customer_topic,
    Handler.RECHARGE_ORDER: _recharge_order,
    Handler.RECHARGE_CHARGE_PAID: _recharge_order,
    Handler.RECHARGE_CHARGE_UPCOMING: _recharge_charge_upcoming,
    Handler.RECHARGE_CHARGE_FAILED: _recharge_charge_upcoming,
    Handler.RECHARGE_SUBSCRIPTION: _recharge_subscription,
    Handler.RECHARGE_CUSTOMER: _customer_topic,
}
