"""Receivers of domain events from ``segments``: decide cheaply whether to enqueue work."""

from __future__ import annotations

from segments.domain import DomainEvent

from .models import Run, TriggerIndex


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

        process_event.delay(event.as_dict())
