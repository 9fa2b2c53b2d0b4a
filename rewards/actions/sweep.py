"""The periodic sweep: expire what has passed its time (unanswered offers, open grants, credit
lots with an expiry entry of what is left). Timers are rows; nothing waits in the broker."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from ..models import CreditEntry, CrossSellOffer, RewardGrant
from .common import lock_customers, remove_from_upcoming
from .credit import close_lot
from .offers import expire_offer

BATCH = 500


def _expire_offers(now: dt.datetime) -> int:
    with transaction.atomic():
        due = list(
            CrossSellOffer.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(status=CrossSellOffer.Status.SHOWN, respond_by__lte=now)
            .order_by("pk")[:BATCH]
        )
        if not due:
            return 0
        lock_customers({offer.customer_id for offer in due})
        grants = RewardGrant.objects.select_for_update(of=("self",)).in_bulk(
            [offer.grant_id for offer in due]
        )
        for offer in due:
            expire_offer(offer, grants[offer.grant_id], now=now)
        return len(due)


def _expire_grants(now: dt.datetime) -> int:
    with transaction.atomic():
        due = list(
            RewardGrant.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(status__in=RewardGrant.OPEN, expires_at__lte=now)
            .exclude(kind=RewardGrant.Kind.CROSS_SELL, offer__status=CrossSellOffer.Status.SHOWN)
            .order_by("pk")[:BATCH]
        )
        if not due:
            return 0
        lock_customers({grant.customer_id for grant in due})
        for grant in due:
            if grant.kind == RewardGrant.Kind.CREDIT:
                close_lot(grant, CreditEntry.Kind.EXPIRY, reason="Expired.")
            remove_from_upcoming(grant)
            grant.status = RewardGrant.Status.EXPIRED
            grant.save(update_fields=["status", "updated_at"])
        return len(due)


def sweep_expired(*, now: dt.datetime | None = None, max_batches: int = 100) -> dict[str, int]:
    """Expire due offers and grants in batches (each its own transaction); return the counts."""
    now = now or timezone.now()
    counts = {"offers": 0, "grants": 0}
    for name, step in (("offers", _expire_offers), ("grants", _expire_grants)):
        for _ in range(max_batches):
            done = step(now)
            counts[name] += done
            if done < BATCH:
                break
    return counts
