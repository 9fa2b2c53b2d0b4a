"""Thin Celery tasks of the ledger: apply announced commerce events, and the expiry sweep."""

from celery import shared_task

from segments.domain import DomainEvent

from . import actions


@shared_task(name="rewards.process_events", acks_late=True, reject_on_worker_lost=True)
def process_events(events: list[dict]) -> None:
    actions.handle_events([DomainEvent.from_dict(e) for e in events])


@shared_task(name="scheduled.rewards_sweep", acks_late=True, reject_on_worker_lost=True)
def rewards_sweep() -> dict:
    return actions.sweep_expired()
