"""State changes of the ``segments`` app: plain functions that own their transaction.

Views, admin actions, the API, tasks and the experience engine all call these.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from . import domain
from .models import Customer, MembershipSource, Segment, SegmentHistory, SegmentMembership


class SegmentError(Exception):
    """A change refused for a reason the caller can show (not a bug)."""


def add_to_segment(
    segment: Segment,
    customer: Customer,
    *,
    source: str,
    reference: str = "",
    acting_user=None,
    cause: domain.DomainEvent | None = None,
) -> bool:
    """Add the customer to the segment; return False if they already were a member.

    Writes the membership and a history row in one transaction and announces
    ``customer_entered_segment`` after commit (a follow-up of ``cause`` when given).
    """
    if segment.store_id != customer.store_id:
        raise SegmentError("The customer belongs to another store.")
    if source != MembershipSource.RULE and segment.kind != Segment.Kind.STATIC:
        raise SegmentError("Members of a dynamic segment follow its rule.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                SegmentMembership.objects.create(
                    store_id=segment.store_id,
                    segment=segment,
                    customer=customer,
                    source=source,
                    reference=reference,
                    acting_user=acting_user,
                )
        except IntegrityError:
            return False
        history = SegmentHistory.objects.create(
            store_id=segment.store_id,
            segment=segment,
            customer=customer,
            action=SegmentHistory.Action.ADDED,
            source=source,
            reference=reference,
            acting_user=acting_user,
        )
        Segment.objects.filter(pk=segment.pk).update(member_count=F("member_count") + 1)
        _announce_change(domain.CUSTOMER_ENTERED_SEGMENT, history, cause)
    return True


def remove_from_segment(
    segment: Segment,
    customer: Customer,
    *,
    source: str,
    reference: str = "",
    acting_user=None,
    cause: domain.DomainEvent | None = None,
) -> bool:
    """Remove the customer from the segment; return False if they were not a member."""
    if source != MembershipSource.RULE and segment.kind != Segment.Kind.STATIC:
        raise SegmentError("Members of a dynamic segment follow its rule.")
    with transaction.atomic():
        deleted, _ = SegmentMembership.objects.filter(segment=segment, customer=customer).delete()
        if not deleted:
            return False
        history = SegmentHistory.objects.create(
            store_id=segment.store_id,
            segment=segment,
            customer=customer,
            action=SegmentHistory.Action.REMOVED,
            source=source,
            reference=reference,
            acting_user=acting_user,
        )
        Segment.objects.filter(pk=segment.pk).update(member_count=F("member_count") - 1)
        _announce_change(domain.CUSTOMER_LEFT_SEGMENT, history, cause)
    return True


def _announce_change(name: str, history: SegmentHistory, cause: domain.DomainEvent | None):
    key = f"segment-history:{history.pk}"
    data = {"segment_id": history.segment_id, "source": history.source}
    if cause is not None:
        event = cause.follow_up(name, key, customer_id=history.customer_id, data=data)
    else:
        event = domain.DomainEvent(
            name=name,
            store_id=history.store_id,
            customer_id=history.customer_id,
            key=key,
            data=data,
        )
    domain.announce(event)
