"""Answer a cross-sell offer (accept adds the line to the upcoming order, decline closes it) and
announce ``cross_sell_answered`` in the same transaction, so the waiting run resumes on it."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from segments import domain
from segments.models import UpcomingOrder

from ..models import CrossSellOffer, RewardGrant
from .common import RewardError, add_to_upcoming, lock_customers, soonest_upcoming

CROSS_SELL_ANSWERED = "cross_sell_answered"
ACCEPT, DECLINE = "accepted", "declined"


def answered_event(offer: CrossSellOffer, answer: str) -> domain.DomainEvent:
    return domain.DomainEvent(
        name=CROSS_SELL_ANSWERED,
        store_id=offer.store_id,
        customer_id=offer.customer_id,
        key=f"offer:{offer.pk}:{answer}",
        data={"grant_id": offer.grant_id, "offer_id": offer.pk, "answer": answer},
    )


def answer_offer(
    offer: CrossSellOffer, answer: str, *, now: dt.datetime | None = None
) -> tuple[CrossSellOffer, bool]:
    """Record the customer's answer; return the offer and whether this call changed it.

    An offer already answered (or expired, or revoked) stays as it is: answering twice changes
    nothing the second time. An offer past its ``respond_by`` expires instead.
    """
    if answer not in (ACCEPT, DECLINE):
        raise RewardError("Answer accepted or declined.", field="answer")
    now = now or timezone.now()
    with transaction.atomic():
        lock_customers([offer.customer_id])
        offer = CrossSellOffer.objects.select_for_update(of=("self",)).get(pk=offer.pk)
        if offer.status != CrossSellOffer.Status.SHOWN:
            return offer, False
        grant = RewardGrant.objects.select_for_update(of=("self",)).get(pk=offer.grant_id)
        if now >= offer.respond_by:
            expire_offer(offer, grant, now=now)
            return offer, True
        offer.responded_at = now
        if answer == ACCEPT:
            upcoming = None
            if offer.upcoming_order_id:
                upcoming = (
                    UpcomingOrder.objects.select_for_update(of=("self",))
                    .filter(pk=offer.upcoming_order_id, status=UpcomingOrder.Status.SCHEDULED)
                    .first()
                )
            upcoming = upcoming or soonest_upcoming(offer.customer_id)
            offer.status = CrossSellOffer.Status.ACCEPTED
            offer.upcoming_order = upcoming
            if upcoming is not None:
                add_to_upcoming(upcoming, grant)
                grant.status = RewardGrant.Status.APPLIED
            grant.expires_at = None  # an accepted line stays on the order until it is charged
        else:
            offer.status = CrossSellOffer.Status.DECLINED
            grant.status = RewardGrant.Status.REVOKED
            grant.reason = "Declined by the customer."
        offer.save(update_fields=["status", "responded_at", "upcoming_order"])
        grant.save(update_fields=["status", "reason", "upcoming_order", "expires_at", "updated_at"])
        domain.announce(answered_event(offer, answer))
        return offer, True


def expire_offer(offer: CrossSellOffer, grant: RewardGrant, *, now: dt.datetime) -> None:
    """Expire a (locked) unanswered offer and its grant; announce the answer ``expired``."""
    offer.status = CrossSellOffer.Status.EXPIRED
    offer.responded_at = now
    offer.save(update_fields=["status", "responded_at"])
    grant.status = RewardGrant.Status.EXPIRED
    grant.save(update_fields=["status", "updated_at"])
    domain.announce(answered_event(offer, "expired"))
