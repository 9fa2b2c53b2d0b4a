"""Move store credit: spend it on a paid recurring charge (soonest-expiring lot first), adjust it
by hand with a reason, and close a lot (expiry, revocation) with an entry of what is left.

Every lot is a credit ``RewardGrant``; what is left of it is the sum of its entries. Every
movement takes the customer's advisory lock first, so two movements never draw the same cents.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from segments.models import Customer, Order

from ..models import ZERO, CreditEntry, RewardGrant
from .common import RewardError, lock_customers
from .grants import MANUAL_PREFIX


def open_lots(customer_id: int, now: dt.datetime) -> list[tuple[RewardGrant, Decimal]]:
    """Return the customer's unexpired lots with what is left of each, soonest-expiring first.

    The caller holds the customer's advisory lock, which every movement of credit takes.
    """
    lots = (
        RewardGrant.objects.filter(
            customer_id=customer_id, kind=RewardGrant.Kind.CREDIT, status__in=RewardGrant.OPEN
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .annotate(left=Sum("credit_entries__amount", default=ZERO))
        .order_by(F("expires_at").asc(nulls_last=True), "pk")
    )
    return [(lot, lot.left) for lot in lots if lot.left > 0]


def _draw(lots, wanted: Decimal) -> list[tuple[RewardGrant, Decimal]]:
    draws = []
    for lot, left in lots:
        if wanted <= 0:
            break
        take = min(left, wanted)
        draws.append((lot, take))
        wanted -= take
    return draws


def _mark_used_up(lot: RewardGrant, left_after: Decimal, order: Order | None) -> None:
    if left_after > 0:
        return
    lot.status = RewardGrant.Status.REDEEMED
    lot.redeemed_order = order
    lot.save(update_fields=["status", "redeemed_order", "updated_at"])


def close_lot(lot: RewardGrant, kind: str, *, reason: str = "", acting_user=None) -> Decimal:
    """Write the entry that takes what is left of a (locked) lot; return that amount."""
    left = lot.credit_entries.aggregate(left=Sum("amount", default=ZERO))["left"]
    if left > 0:
        CreditEntry.objects.get_or_create(
            store_id=lot.store_id,
            key=f"{kind}:{lot.pk}",
            defaults={
                "customer_id": lot.customer_id,
                "grant": lot,
                "kind": kind,
                "amount": -left,
                "currency": lot.currency,
                "cause": f"grant:{lot.pk}",
                "reason": reason[:500],
                "acting_user": acting_user,
            },
        )
    return max(left, ZERO)


def spend_on_order(order: Order, *, now: dt.datetime | None = None) -> Decimal:
    """Spend the customer's credit on a paid recurring order, up to its total; return the spend.

    Idempotent: what was already spent on this order counts, and each (order, lot) pair has one
    entry, unique in the database.
    """
    now = now or timezone.now()
    if order.customer_id is None or order.type != Order.Type.RECURRING:
        return ZERO
    with transaction.atomic():
        lock_customers([order.customer_id])
        store = order.store
        if order.currency != store.currency:
            return ZERO  # credit is in the store's currency only
        spent = -CreditEntry.objects.filter(
            customer_id=order.customer_id, order=order, kind=CreditEntry.Kind.SPEND
        ).aggregate(total=Sum("amount", default=ZERO))["total"]
        wanted = order.total - spent
        total = ZERO
        entries = []
        for lot, take in _draw(open_lots(order.customer_id, now), wanted):
            entries.append(
                CreditEntry(
                    store_id=order.store_id,
                    customer_id=order.customer_id,
                    grant=lot,
                    kind=CreditEntry.Kind.SPEND,
                    amount=-take,
                    currency=store.currency,
                    key=f"spend:{order.pk}:{lot.pk}",
                    cause=f"order:{order.pk}",
                    order=order,
                )
            )
            total += take
        CreditEntry.objects.bulk_create(entries, ignore_conflicts=True)
        for entry in entries:
            lot = entry.grant
            left = lot.credit_entries.aggregate(left=Sum("amount", default=ZERO))["left"]
            _mark_used_up(lot, left, order)
        return total


def adjust_credit(
    customer: Customer,
    *,
    amount: Decimal,
    reason: str,
    acting_user=None,
    key: str | None = None,
    expires_in_days: int | None = None,
    now: dt.datetime | None = None,
) -> list[CreditEntry]:
    """Add credit (a new lot) or take it back (soonest-expiring lots first), with a reason.

    Raises ``RewardError`` for a zero amount, a missing reason, or taking more than is left.
    """
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise RewardError("Say why the credit is adjusted.", field="reason")
    amount = Decimal(amount).quantize(Decimal("0.01"))
    if amount == 0:
        raise RewardError("An adjustment cannot be zero.", field="amount")
    if expires_in_days is not None and expires_in_days < 1:
        raise RewardError("Expire after one day at least.", field="expires_in_days")
    key = key or uuid.uuid4().hex
    store = customer.store
    with transaction.atomic():
        lock_customers([customer.pk])
        if amount > 0:
            lot = RewardGrant.objects.create(
                store=store,
                customer=customer,
                kind=RewardGrant.Kind.CREDIT,
                source_key=f"{MANUAL_PREFIX}{key}",
                amount=amount,
                currency=store.currency,
                reason=reason[:500],
                expires_at=now + dt.timedelta(days=expires_in_days) if expires_in_days else None,
            )
            entry = CreditEntry.objects.create(
                store=store,
                customer=customer,
                grant=lot,
                kind=CreditEntry.Kind.ADJUSTMENT,
                amount=amount,
                currency=store.currency,
                key=f"adjustment:{key}",
                cause="manual",
                acting_user=acting_user,
                reason=reason[:500],
                expires_at=lot.expires_at,
            )
            return [entry]
        lots = open_lots(customer.pk, now)
        available = sum((left for _, left in lots), ZERO)
        if -amount > available:
            raise RewardError(
                f"The balance is {available} {store.currency}; it cannot go below zero.",
                field="amount",
            )
        entries = []
        for lot, take in _draw(lots, -amount):
            entries.append(
                CreditEntry.objects.create(
                    store=store,
                    customer=customer,
                    grant=lot,
                    kind=CreditEntry.Kind.ADJUSTMENT,
                    amount=-take,
                    currency=store.currency,
                    key=f"adjustment:{key}:{lot.pk}",
                    cause="manual",
                    acting_user=acting_user,
                    reason=reason[:500],
                )
            )
            left = lot.credit_entries.aggregate(left=Sum("amount", default=ZERO))["left"]
            _mark_used_up(lot, left, None)
        return entries
