"""The journal of queued tasks: work that would otherwise live only in the broker.

Ingest has its ``InboundEvent`` rows, runs and waits have their ``Run`` rows, recomputes their
``SegmentCalculation``; each has a sweep that finds what the broker lost. The incremental segment
evaluations and the batches of domain events handed to the engine and to the ledger had nothing
but a message in Redis, so a broker restarted without its data lost them (until the six-hourly
full recompute, for segments; for good, for an experience's trigger). ``send`` writes a
``QueuedTask`` row first and names the task after it; the worker deletes the row once the task
has run (``forget_finished``, a Celery ``task_postrun`` receiver); ``sweep`` sends again the rows
left past a grace period, backing off so that a long queue is not flooded with copies.
"""

from __future__ import annotations

import datetime as dt
import logging

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import QueuedTask

logger = logging.getLogger(__name__)

PREFIX = "journal-"
# A task that failed keeps its row, to be sent again by the sweep, until it was sent this often
# (a task that fails for good is given up, with its error in the worker's log); a retry keeps its
# row too (same task id).
MAX_SENDS = 5


def task_id(pk: int) -> str:
    return f"{PREFIX}{pk}"


def send(task, *args) -> int:
    """Record the task (a Celery task object), then send it; return the row id.

    A database error propagates (the caller's outbox keeps its events); a broker error is logged
    and swallowed, the row being the work's record until the sweep sends it. Sent at once, not
    after commit: callers are receivers that run after their event's commit, and a task that
    runs before this row commits is only sent again by the sweep, harmlessly.
    """
    row = QueuedTask.objects.create(name=task.name, args=list(args))
    _publish(row.pk, task.name, row.args, task=task)
    return row.pk


def _publish(pk: int, name: str, args: list, *, task=None) -> bool:
    """Send the task under the row's id (through the task object when there is one, so that
    eager mode runs it in-process)."""
    try:
        if task is not None:
            task.apply_async(args=args, task_id=task_id(pk))
        else:
            current_app.send_task(name, args=args, task_id=task_id(pk))
    except Exception:  # noqa: BLE001 - the row stays; the sweep sends it again
        logger.exception("Could not send %s (journal %s); the sweep will", name, pk)
        return False
    return True


def forget_finished(sender=None, task_id: str | None = None, state: str | None = None, **kw):
    """Delete a journalled task's row once it has run (Celery's ``task_postrun``): at once when
    it succeeded, after ``MAX_SENDS`` sends when it failed."""
    if not task_id or not task_id.startswith(PREFIX) or state not in {"SUCCESS", "FAILURE"}:
        return
    try:
        pk = int(task_id[len(PREFIX) :])
    except ValueError:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM segments_queuedtask WHERE id = %s AND (%s OR sends >= %s)",
                [pk, state == "SUCCESS", MAX_SENDS],
            )
    except Exception:  # noqa: BLE001 - left for the sweep: a second run is harmless
        logger.exception("Could not forget journalled task %s", task_id)


def grace() -> dt.timedelta:
    return dt.timedelta(seconds=float(getattr(settings, "TASK_JOURNAL_GRACE_SECONDS", 300)))


def sweep(*, limit: int = 1000) -> int:
    """Send again the tasks whose row outlived the grace period; return how many were sent.

    A row sent ``n`` times waits ``grace * 2**(n-1)`` (at most an hour) before its next send, so
    a queue that is merely long gets a few copies, not one per sweep. Rows are claimed with
    ``SKIP LOCKED``: overlapping sweeps never send one twice.
    """
    now = timezone.now()
    base = grace().total_seconds()
    with transaction.atomic():
        rows = list(
            QueuedTask.objects.raw(
                "SELECT * FROM segments_queuedtask WHERE queued_at < %s AND queued_at < "
                "%s - make_interval(secs => LEAST(%s * power(2, sends - 1), 3600)) "
                "ORDER BY queued_at, id LIMIT %s FOR UPDATE SKIP LOCKED",
                [now - grace(), now, base, limit],
            )
        )
        sent = [row.pk for row in rows if _publish(row.pk, row.name, row.args)]
        if sent:
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE segments_queuedtask SET queued_at = %s, sends = sends + 1 "
                    "WHERE id = ANY(%s)",
                    [now, sent],
                )
    if sent:
        logger.info("Task journal sweep sent %d tasks again", len(sent))
    return len(sent)
