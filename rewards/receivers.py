"""Receivers of domain events from ``segments``: enqueue ledger work for customers with open
grants (one query per batch of events, one task per chunk)."""

from __future__ import annotations

from segments.domain import DomainEvent

from .actions.lifecycle import HANDLED
from .models import RewardGrant

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
    from segments.task_journal import send

    from .tasks import process_events

    # Recorded before it is sent: a broker that forgets its queues does not lose the batch, and
    # a broker that is down only delays it (segments.task_journal).
    for start in range(0, len(chosen), CHUNK):
        send(process_events, [event.as_dict() for event in chosen[start : start + CHUNK]])


def on_entry_deleted(sender, instance, **kwargs) -> None:
    """A deleted credit entry invalidates its store's liability checkpoint."""
    from .actions.liability import drop_checkpoint

    drop_checkpoint(instance.store_id)
