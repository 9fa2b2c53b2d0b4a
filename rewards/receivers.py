"""Receivers of domain events from ``segments``: enqueue ledger work for customers with open
grants (one query per batch of events, one task per chunk)."""

from __future__ import annotations

import logging

from kombu.exceptions import OperationalError as BrokerError

from segments.domain import DomainEvent, delivery_is_strict

from .actions.lifecycle import HANDLED
from .models import RewardGrant

logger = logging.getLogger(__name__)

CHUNK = 50


def wanted(events: list[DomainEvent]) -> list[DomainEvent]:
    """The events that may move rewards: their customer has an open grant (one query)."""
    candidates = [e for e in events if e.name in HANDLED and e.customer_id]
    if not candidates:
        return []
    with_open = set(
        RewardGrant.objects.filter(
            customer_id__in={e.customer_id for e in candidates}, status__in=RewardGrant.OPEN
        )
        .values_list("customer_id", flat=True)
        .distinct()
    )
    return [e for e in candidates if e.customer_id in with_open]


def on_domain_events(sender, events: list[DomainEvent], **kwargs) -> None:
    chosen = wanted(events)
    if not chosen:
        return
    from .tasks import process_events

    for start in range(0, len(chosen), CHUNK):
        chunk = chosen[start : start + CHUNK]
        try:
            process_events.delay([event.as_dict() for event in chunk])
        except BrokerError:
            if delivery_is_strict():  # the outbox keeps the events and sends them again
                raise
            logger.exception(
                "Broker unavailable: events %s not enqueued for rewards",
                ", ".join(e.key for e in chunk),
            )
