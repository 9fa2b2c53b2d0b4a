"""Segment tasks: thin wrappers that load ids and call ``recompute`` / ``csv_import`` / actions.

Work tasks are named ``segments.*`` (the ``segments`` queue); the periodic sweeps are named
``scheduled.*``. Each is idempotent: a finished calculation or import is left as it is, a
redelivered one resumes after its last committed batch.
"""

from celery import shared_task
from django.utils import timezone

from .. import actions, csv_import, recompute
from ..domain import DomainEvent

_RELIABLE = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="segments.recompute", **_RELIABLE)
def recompute_segment(calculation_id: int) -> str:
    """Run a full recompute of a dynamic segment."""
    return recompute.run_calculation(calculation_id).status


@shared_task(name="segments.evaluate_customer", **_RELIABLE)
def evaluate_customer(store_id: int, customer_id: int, cause: dict | None = None) -> int:
    """Re-evaluate every dynamic segment of a store for one customer (manual and older callers;
    event batches use ``segments.evaluate_customers``)."""
    event = DomainEvent.from_dict(cause) if cause else None
    result = recompute.evaluate_customer(store_id, customer_id, cause=event)
    return len(result.entered) + len(result.left)


@shared_task(name="segments.evaluate_customers", **_RELIABLE)
def evaluate_customers(store_id: int, causes: list[dict]) -> int:
    """Re-evaluate every dynamic segment of a store for the customers the events are about."""
    events = [DomainEvent.from_dict(cause) for cause in causes]
    return recompute.evaluate_after_events(store_id, events)


@shared_task(name="segments.run_import", **_RELIABLE)
def run_import(import_id: int) -> str:
    """Apply a CSV import into a static segment."""
    return csv_import.run_import(import_id).status


@shared_task(name="segments.announce_history", **_RELIABLE)
def announce_history(segment_id: int, reference: str, first_id: int, last_id: int) -> int:
    """Announce the entries and exits of one bulk change."""
    return actions.announce_history_range(segment_id, reference, first_id, last_id)


@shared_task(name="segments.announce_pending", **_RELIABLE)
def announce_pending(announcement_id: int) -> int:
    """Announce a recorded bulk change (the outbox row), once."""
    return actions.announce_pending(announcement_id)


@shared_task(name="scheduled.recompute_dynamic_segments")
def recompute_dynamic_segments() -> int:
    """The safety net: queue a full recompute of every dynamic segment."""
    return recompute.recompute_all_dynamic_segments()


@shared_task(name="scheduled.sweep_stuck_segment_calculations")
def sweep_stuck_segment_calculations() -> int:
    """Restart recomputes and imports that stopped moving, and re-queue bulk announcements whose
    task never came (the broker was down at commit)."""
    restarted = recompute.sweep_stuck_calculations()
    requeued = csv_import.requeue_stuck_imports(timezone.now() - recompute.stuck_after())
    announcements = actions.requeue_pending_announcements()
    return len(restarted) + len(requeued) + len(announcements)
