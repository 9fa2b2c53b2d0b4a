"""Read the state of the pipelines for the operations page and the metrics scrape.

Every figure is one cheap SQL aggregate over a partial index (events ``received``, outbox rows
unsent, steps ``waiting``), taken when asked: nothing is stored or refreshed in the background.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection

from experiences.models import RunStep
from segments.models import InboundEvent, OutboxEvent, QueuedTask, SegmentCalculation
from segments.recompute import stuck_after


@dataclass(frozen=True)
class Backlog:
    received: int
    oldest_received_seconds: float
    unsent_outbox: int
    oldest_unsent_seconds: float
    waits_due: int
    stuck_recomputes: int
    # Journalled tasks not yet run (segments.task_journal): their work waits on the broker.
    queued_tasks: int = 0
    oldest_queued_seconds: float = 0.0


_BACKLOG_SQL = """
SELECT
  (SELECT count(*) FROM {event} WHERE status = 'received'),
  (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(received_at)), 0)
     FROM {event} WHERE status = 'received'),
  (SELECT count(*) FROM {outbox} WHERE sent_at IS NULL),
  (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)
     FROM {outbox} WHERE sent_at IS NULL),
  (SELECT count(*) FROM {step} WHERE status = 'waiting' AND due_at <= now()),
  (SELECT count(*) FROM {calculation}
     WHERE (status = 'running' AND heartbeat_at < now() - %(stuck)s)
        OR (status = 'queued' AND created_at < now() - %(stuck)s)),
  (SELECT count(*) FROM {journal}),
  (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) FROM {journal})
"""


def backlog() -> Backlog:
    """Return the queues' sizes and ages, waits due, stuck recomputes and journalled tasks
    (one query)."""
    sql = _BACKLOG_SQL.format(
        event=InboundEvent._meta.db_table,
        outbox=OutboxEvent._meta.db_table,
        step=RunStep._meta.db_table,
        calculation=SegmentCalculation._meta.db_table,
        journal=QueuedTask._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"stuck": stuck_after()})
        row = cursor.fetchone()
    return Backlog(
        received=row[0],
        oldest_received_seconds=float(row[1]),
        unsent_outbox=row[2],
        oldest_unsent_seconds=float(row[3]),
        waits_due=row[4],
        stuck_recomputes=row[5],
        queued_tasks=row[6],
        oldest_queued_seconds=float(row[7]),
    )


FAILED_EVENTS_DAYS = 31


def failed_events(limit: int = 50, *, days: int = FAILED_EVENTS_DAYS):
    """Return the newest inbound events failed in the last ``days``, with their store.

    The window keeps the read to the latest months' partitions (the admin lists older ones).
    """
    from django.utils import timezone

    now = timezone.now()
    return (
        InboundEvent.objects.filter(
            status=InboundEvent.Status.FAILED,
            received_at__gte=now - dt.timedelta(days=days),
            received_at__lte=now + dt.timedelta(hours=1),  # a web process's clock ahead
        )
        .select_related("store")
        .only("id", "store__name", "source", "topic", "attempts", "last_error", "received_at")
        .order_by("-received_at", "-id")[:limit]
    )


def waits_due(limit: int = 20):
    """Return waiting steps past their due time, oldest first (the beat sweep resumes them)."""
    from django.utils import timezone

    return (
        RunStep.objects.filter(status=RunStep.Status.WAITING, due_at__lte=timezone.now())
        .select_related("run__experience", "run__store", "node")
        .order_by("due_at")[:limit]
    )


def stuck_calculations(limit: int = 50):
    """Return recomputes that stopped moving (the sweep fails and restarts them)."""
    from django.db.models import Q
    from django.utils import timezone

    limit_at = timezone.now() - stuck_after()
    return (
        SegmentCalculation.objects.filter(
            Q(status="running", heartbeat_at__lt=limit_at)
            | Q(status="queued", created_at__lt=limit_at)
        )
        .select_related("segment", "store")
        .order_by("created_at")[:limit]
    )
