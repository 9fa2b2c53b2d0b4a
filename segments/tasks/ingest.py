"""Inbound event tasks, on the ``ingest`` queue (the sweep on ``scheduled``); thin on purpose."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from ..ingest import actions


@shared_task(
    name="ingest.process_pending",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=8,
)
def process_pending() -> int:
    """Apply pending inbound events in batches; return how many were handled."""
    return actions.drain_pending()


@shared_task(name="scheduled.ingest_sweep", acks_late=True)
def sweep_inbound_events() -> int:
    """Wake processing for inbound events the broker never delivered (the outbox sweep)."""
    return actions.sweep_pending()


@shared_task(name="scheduled.outbox_sweep", acks_late=True)
def sweep_outbox() -> int:
    """Deliver the domain events whose delivery after commit failed (the outbox sweep)."""
    import datetime as dt

    from django.conf import settings

    from .. import outbox

    return outbox.sweep(grace=dt.timedelta(seconds=settings.OUTBOX_SWEEP_GRACE_SECONDS))


@shared_task(name="scheduled.task_journal_sweep", acks_late=True)
def sweep_task_journal() -> int:
    """Send again the journalled tasks the broker lost (``segments.task_journal``)."""
    from .. import task_journal

    return task_journal.sweep()
