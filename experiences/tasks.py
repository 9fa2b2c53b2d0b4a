"""Celery tasks of the ``experiences`` app: thin wrappers over ``experiences.actions``.

Every task is idempotent (the database's unique constraints see to it), acknowledged late and
redelivered when its worker is lost.
"""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from segments.domain import DomainEvent
from segments.task_journal import send

from . import actions
from .receivers import follow_ups_inline

logger = logging.getLogger(__name__)

RELIABLE = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="experiences.process_event", **RELIABLE)
def process_event(event: dict) -> list[int]:
    with follow_ups_inline():
        return actions.process_event(DomainEvent.from_dict(event))


@shared_task(name="experiences.process_events", **RELIABLE)
def process_events(events: list[dict]) -> list[int]:
    """Handle a batch of events in their order, reading what they need once for the batch.

    Each event is idempotent on its own (one run per experience and event), so a redelivered
    batch only redoes what was not done. Should the batch fail, each event is handed to its own
    retried task, so one failing event never holds back the others.
    """
    parsed = [DomainEvent.from_dict(data) for data in events]
    try:
        with follow_ups_inline():  # the follow-ups its commits announce, handled here too
            return actions.process_events(parsed)
    except Exception:  # noqa: BLE001 - retried alone, with backoff, by process_event
        logger.warning("A batch of %d events failed; retrying each alone", len(events))
        for data in events:
            send(process_event, data)
        return []


@shared_task(name="experiences.advance_run", **RELIABLE)
def advance_run(run_id: int, month: str | None = None) -> str:
    """``month``: the run's partition (ISO date); tasks queued before it was sent carry none."""
    return actions.advance_run(run_id, dt.date.fromisoformat(month) if month else None)


@shared_task(name="scheduled.experiences_sweep", **RELIABLE)
def sweep() -> dict:
    """Resume due waits, restart stalled runs and deliver stranded emails."""
    resumed = actions.resume_due_waits()
    stalled = actions.resume_stalled_runs(
        dt.timedelta(seconds=getattr(settings, "EXPERIENCES_STALLED_SECONDS", 300))
    )
    emails = actions.sweep_emails()
    return {"resumed": len(resumed), "stalled": len(stalled), **emails}


@shared_task(name="scheduled.simulations_sweep")
def simulations_sweep() -> dict:
    """Restart dead replays, resend lost ones, refresh running shadows."""
    from .simulation.run import sweep_simulations

    return sweep_simulations()


@shared_task(name="experiences.simulate", acks_late=True, reject_on_worker_lost=True)
def simulate(simulation_id: int) -> str:
    """Replay a queued simulation (only the first delivery claims it; no retries: a failure is
    the simulation's status)."""
    from .simulation.run import run_simulation

    return run_simulation(simulation_id)
