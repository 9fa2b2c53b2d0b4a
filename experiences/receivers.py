"""Receivers of domain events from ``segments``: decide cheaply whether to enqueue work."""

from __future__ import annotations

import logging

from kombu.exceptions import OperationalError as BrokerError

from segments.domain import DomainEvent

from .models import Run, TriggerIndex

logger = logging.getLogger(__name__)


def wants(event: DomainEvent) -> bool:
    """Whether some live experience listens to the event, or the customer has runs in flight.

    At most two indexed queries, whatever the number of experiences in the store.
    """
    if not event.customer_id:
        return False
    listening = TriggerIndex.objects.filter(
        store_id=event.store_id, event=event.name, store__experiences_enabled=True
    ).exists()
    return (
        listening
        or Run.objects.filter(customer_id=event.customer_id, status__in=Run.ACTIVE).exists()
    )


def on_domain_event(sender, event: DomainEvent, **kwargs) -> None:
    """Enqueue the event for the engine (``announce`` already waited for the commit)."""
    if wants(event):
        from .tasks import process_event

        try:
            process_event.delay(event.as_dict())
        except BrokerError:
            # The caller's transaction has committed; failing it now helps nobody. The event
            # stays recorded upstream (its key names it) for a re-announce.
            logger.exception("Broker unavailable: event %s not enqueued for experiences", event.key)
