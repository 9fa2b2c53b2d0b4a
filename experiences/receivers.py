"""Receivers of domain events from ``segments``: decide cheaply whether to enqueue work."""

from __future__ import annotations

import logging

from kombu.exceptions import OperationalError as BrokerError

from segments.domain import DomainEvent, delivery_is_strict

from .models import Run, TriggerIndex

logger = logging.getLogger(__name__)

# Events per engine task: a task's fixed cost (about twenty statements) is shared by more
# events, and a burst of 100 still keeps both worker processes busy.
CHUNK = 50


def wanted(events: list[DomainEvent]) -> list[DomainEvent]:
    """The events some live experience listens to, or whose customer has runs in flight.

    At most two indexed queries for the whole list, whatever the number of events and of
    experiences in their stores.
    """
    candidates = [event for event in events if event.customer_id]
    if not candidates:
        return []
    listening = set(
        TriggerIndex.objects.filter(
            store_id__in={e.store_id for e in candidates},
            event__in={e.name for e in candidates},
            store__experiences_enabled=True,
        )
        .values_list("store_id", "event")
        .distinct()
    )
    rest = {e.customer_id for e in candidates if (e.store_id, e.name) not in listening}
    in_flight = (
        set(
            Run.objects.filter(customer_id__in=rest, status__in=Run.ACTIVE)
            .values_list("customer_id", flat=True)
            .distinct()
        )
        if rest
        else set()
    )
    return [
        e for e in candidates if (e.store_id, e.name) in listening or e.customer_id in in_flight
    ]


def on_domain_events(sender, events: list[DomainEvent], **kwargs) -> None:
    """Enqueue the wanted events for the engine (``announce`` already waited for the commit)."""
    chosen = wanted(events)
    if not chosen:
        return
    from .tasks import process_events

    for start in range(0, len(chosen), CHUNK):
        chunk = chosen[start : start + CHUNK]
        try:
            process_events.delay([event.as_dict() for event in chunk])
        except BrokerError:
            if delivery_is_strict():  # the sender keeps the events in an outbox: let it know
                raise
            # The caller's transaction has committed; failing it now helps nobody. The events
            # stay recorded upstream (their keys name them) for a re-announce.
            logger.exception(
                "Broker unavailable: events %s not enqueued for experiences",
                ", ".join(e.key for e in chunk),
            )
