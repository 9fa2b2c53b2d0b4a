"""Receivers of domain events from ``segments``: decide cheaply whether to enqueue work.

Inside an engine task, the follow-ups the engine's own commits announce (a customer entering a
segment, then another experience's trigger...) are handled at once in the same task instead of
a task of their own each (``follow_ups_inline``): about half the engine's tasks were such
follow-ups, each paying a journal row, a broker round trip and a task's fixed cost.
"""

from __future__ import annotations

import contextlib
import contextvars

from segments.domain import DomainEvent, delivery_is_strict

from .models import RunInFlight, TriggerIndex

# Events per engine task: a task's fixed cost (about twenty statements, and each round of
# follow-ups it now handles itself) is shared by more events. 100 halves the statements per
# event against 50 (``make bench BENCH_ARGS=experiences``); a burst of several hundred (ingest's
# batches, a bulk change) still keeps both worker processes busy.
CHUNK = 100


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
            RunInFlight.objects.filter(customer_id__in=rest)
            .values_list("customer_id", flat=True)
            .distinct()
        )
        if rest
        else set()
    )
    return [
        e for e in candidates if (e.store_id, e.name) in listening or e.customer_id in in_flight
    ]


_inline = contextvars.ContextVar("experiences_follow_ups_inline", default=False)


@contextlib.contextmanager
def follow_ups_inline():
    """Within this block (an engine task), handle the events delivered from the outbox here and
    now rather than enqueue them.

    Only events delivered from the outbox (under ``strict_delivery``) are: their rows stay unsent
    until every receiver has returned, so a worker lost meanwhile leaves them to the outbox's
    sweep, which enqueues them as usual; should handling them fail, the delivery fails and the
    sweep delivers them again (the engine is idempotent per event). The chain depth limit bounds
    how deep this nests.
    """
    token = _inline.set(True)
    try:
        yield
    finally:
        _inline.reset(token)


def on_domain_events(sender, events: list[DomainEvent], **kwargs) -> None:
    """Enqueue the wanted events for the engine (``announce`` already waited for the commit);
    in an engine task, handle the outbox's follow-ups at once (``follow_ups_inline``)."""
    if _inline.get() and delivery_is_strict():
        from .actions import process_events

        # No ``wanted`` query first: the engine's own read of the batch finds the same.
        chosen = [e for e in events if e.customer_id]
        for start in range(0, len(chosen), CHUNK):
            process_events(chosen[start : start + CHUNK])
        return
    chosen = wanted(events)
    if not chosen:
        return
    from segments.task_journal import send

    from .tasks import process_events

    # Recorded before it is sent: a broker that forgets its queues does not lose the batch, and
    # a broker that is down only delays it (segments.task_journal).
    for start in range(0, len(chosen), CHUNK):
        send(process_events, [e.as_dict() for e in chosen[start : start + CHUNK]])
