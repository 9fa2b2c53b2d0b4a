"""What happens to grants when the commerce data moves: a paid recurring charge spends credit and
redeems what was attached to it; a cancelled subscription revokes what was on its upcoming
order; a newly scheduled upcoming order receives the grants that were waiting for one."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from segments import domain
from segments.models import Order, Subscription, UpcomingOrder

from ..models import CreditEntry, CrossSellOffer, RewardGrant
from .common import lock_customers, remove_from_upcoming
from .credit import close_lot, spend_on_order
from .grants import attach_issued


def charged_upcoming(order: Order) -> UpcomingOrder | None:
    """Return the upcoming order that this paid recurring order charged, if we know it."""
    if order.recharge_id:
        found = UpcomingOrder.objects.filter(
            store_id=order.store_id, external_id=order.recharge_id
        ).first()
        if found is not None:
            return found
    # A recurring Shopify order does not name its Recharge charge: take the customer's
    # soonest upcoming order due by the day it was paid that still carries open grants.
    return (
        UpcomingOrder.objects.filter(
            customer_id=order.customer_id,
            status__in=[UpcomingOrder.Status.SCHEDULED, UpcomingOrder.Status.PROCESSED],
            scheduled_at__lte=order.processed_at.date(),
            grants__status__in=RewardGrant.OPEN,
        )
        .order_by("scheduled_at", "id")
        .first()
    )


def settle_paid_order(order: Order, *, now: dt.datetime | None = None) -> None:
    """Spend credit on a paid recurring order and redeem what was attached to its charge."""
    now = now or timezone.now()
    if order.customer_id is None or order.type != Order.Type.RECURRING:
        return
    with transaction.atomic():
        lock_customers([order.customer_id])
        spend_on_order(order, now=now)
        upcoming = charged_upcoming(order)
        if upcoming is None:
            return
        attached = RewardGrant.objects.filter(upcoming_order=upcoming, status__in=RewardGrant.OPEN)
        # Credit lots were spent above; what is left of one waits for the next charge.
        attached.filter(kind=RewardGrant.Kind.CREDIT).update(
            status=RewardGrant.Status.ISSUED, upcoming_order=None, updated_at=now
        )
        attached.exclude(kind=RewardGrant.Kind.CREDIT).filter(
            status=RewardGrant.Status.APPLIED
        ).update(status=RewardGrant.Status.REDEEMED, redeemed_order=order, updated_at=now)


def revoke_for_cancelled_subscription(
    subscription: Subscription, *, now: dt.datetime | None = None
) -> int:
    """Revoke what was attached to the cancelled subscription's upcoming orders; return how many.

    When the customer has no active subscription left, their other scheduled upcoming orders
    (those naming no subscription) are covered too.
    """
    now = now or timezone.now()
    reason = f"Subscription {subscription.recharge_id or subscription.pk} was cancelled."
    with transaction.atomic():
        lock_customers([subscription.customer_id])
        orders = Q(upcoming_order__subscription=subscription)
        if not Subscription.objects.filter(
            customer_id=subscription.customer_id, status=Subscription.Status.ACTIVE
        ).exists():
            orders |= Q(upcoming_order__subscription__isnull=True)
        grants = list(
            RewardGrant.objects.select_for_update(of=("self",))
            .filter(
                orders,
                customer_id=subscription.customer_id,
                status__in=RewardGrant.OPEN,
                upcoming_order__status=UpcomingOrder.Status.SCHEDULED,
            )
            .order_by("pk")
        )
        for grant in grants:
            if grant.kind == RewardGrant.Kind.CREDIT:
                close_lot(grant, CreditEntry.Kind.REVOCATION, reason=reason)
            remove_from_upcoming(grant)
            grant.status = RewardGrant.Status.REVOKED
            grant.reason = reason
            grant.save(update_fields=["status", "reason", "updated_at"])
        CrossSellOffer.objects.filter(
            grant__in=[g.pk for g in grants], status=CrossSellOffer.Status.SHOWN
        ).update(status=CrossSellOffer.Status.REVOKED, responded_at=now)
        return len(grants)


def handle_events(events: list[domain.DomainEvent]) -> None:
    """Apply what the announced commerce events mean for rewards, one event at a time."""
    for event in events:
        data = event.data or {}
        if event.name == domain.ORDER_PROCESSED and data.get("order_type") == "recurring":
            order = Order.objects.select_related("store").filter(pk=data.get("order_id")).first()
            if order is not None:
                settle_paid_order(order)
        elif event.name == domain.SUBSCRIPTION_CANCELLED:
            subscription = Subscription.objects.filter(pk=data.get("subscription_id")).first()
            if subscription is not None:
                revoke_for_cancelled_subscription(subscription)
        elif event.name == domain.UPCOMING_ORDER_SCHEDULED:
            upcoming = UpcomingOrder.objects.filter(pk=data.get("upcoming_order_id")).first()
            if upcoming is not None:
                attach_issued(upcoming)


HANDLED = {domain.ORDER_PROCESSED, domain.SUBSCRIPTION_CANCELLED, domain.UPCOMING_ORDER_SCHEDULED}
