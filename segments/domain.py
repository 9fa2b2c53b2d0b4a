"""Domain events: how the ``segments`` layer tells higher layers that something happened.

A lower layer never imports a higher one. It announces ``DomainEvent``s: they are written to the
outbox (``segments.outbox``) in its transaction and sent once it commits; ``experiences`` (and
later ``rewards``) connect receivers to ``domain_events`` in their ``AppConfig.ready()``. The
signal carries a list: everything one batch of work announced (a batch of inbound events, a bulk
membership change) arrives together, so a receiver decides with one query per batch and enqueues
one task per batch, not per event. Receivers must be quick: they enqueue work, they do not do it.

Every event carries the chain it belongs to: ``origin`` is the key of the first event of the chain
(an inbound webhook, a manual change) and ``depth`` counts the hops since then, so experiences that
feed each other through segments can be stopped at a depth limit.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

# Names of the events announced by this layer.
ORDER_PROCESSED = "order_processed"
ORDER_CANCELLED = "order_cancelled"
SUBSCRIPTION_CREATED = "subscription_created"
SUBSCRIPTION_UPDATED = "subscription_updated"
SUBSCRIPTION_CANCELLED = "subscription_cancelled"
SUBSCRIPTION_ACTIVATED = "subscription_activated"
UPCOMING_ORDER_SCHEDULED = "upcoming_order_scheduled"
CHARGE_FAILED = "charge_failed"
CUSTOMER_UPDATED = "customer_updated"
CUSTOMER_ENTERED_SEGMENT = "customer_entered_segment"
CUSTOMER_LEFT_SEGMENT = "customer_left_segment"

domain_events = Signal()  # sent with events=list[DomainEvent], in the order they happened


@dataclass(frozen=True)
class DomainEvent:
    name: str
    store_id: int
    customer_id: int | None
    key: str  # unique per occurrence, e.g. "inbound:42" or "segment-history:17"
    data: dict[str, Any] = field(default_factory=dict)  # JSON-serialisable ids and facts
    origin: str = ""  # key of the first event of the chain ("" means this one)
    depth: int = 0
    occurred_at: str = field(default_factory=lambda: timezone.now().isoformat())

    @property
    def chain_origin(self) -> str:
        return self.origin or self.key

    def follow_up(self, name: str, key: str, **kwargs) -> DomainEvent:
        """Return an event caused by this one: same chain, one level deeper."""
        return DomainEvent(
            name=name,
            store_id=kwargs.pop("store_id", self.store_id),
            customer_id=kwargs.pop("customer_id", self.customer_id),
            key=key,
            origin=self.chain_origin,
            depth=self.depth + 1,
            **kwargs,
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainEvent:
        return cls(**data)


def announce(event: DomainEvent) -> None:
    """Send the event to its receivers once the current transaction commits."""
    announce_all([event])


def announce_all(events: list[DomainEvent]) -> None:
    """Send the events, as one list, to the receivers once the current transaction commits.

    They are written to the outbox (``segments.outbox``) in the current transaction first, so an
    event whose delivery fails (the broker is down) is delivered later by the sweep, never lost.
    """
    if events:
        from .outbox import deliver, record

        batch = list(events)
        since = timezone.now()
        ids = record(batch)
        transaction.on_commit(lambda: deliver(ids, batch, since=since))


_strict = contextvars.ContextVar("domain_events_strict", default=False)


@contextlib.contextmanager
def strict_delivery():
    """Within this block, a receiver that cannot hand its work on (the broker is down) raises
    instead of logging and carrying on: for senders with an outbox, which keep the events to send
    again rather than lose them."""
    token = _strict.set(True)
    try:
        yield
    finally:
        _strict.reset(token)


def delivery_is_strict() -> bool:
    return _strict.get()


def send_now(events: list[DomainEvent]) -> None:
    """Send events that are already committed (a replay, a bulk announcement) right away."""
    if events:
        domain_events.send(sender=DomainEvent, events=list(events))
