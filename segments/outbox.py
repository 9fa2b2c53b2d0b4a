"""The transactional outbox of domain events: record in the effect's transaction, deliver after
commit, sweep what was not delivered.

``domain.announce_all`` records its events here when it runs inside a transaction, in one
statement, and delivers them once that transaction commits. Delivery runs under
``domain.strict_delivery()``: a receiver that cannot hand its work on (the broker is down) makes
the delivery fail, and the rows stay unsent for the sweep instead of being lost.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from django.db import connection, transaction
from django.utils import timezone

from . import domain, partitions
from .models import OutboxEvent

logger = logging.getLogger(__name__)

# No conflict target: the key is unique within each month's partition (a local index, which a
# target could not name on the partitioned table), so every unique index of the partition is
# checked; the only other one is the primary key, on a fresh id.
_INSERT = """
INSERT INTO segments_outboxevent (store_id, key, event, created_at)
SELECT * FROM unnest(%s::bigint[], %s::text[], %s::jsonb[], %s::timestamptz[])
ON CONFLICT DO NOTHING
RETURNING id
"""


def record(events: list[domain.DomainEvent]) -> list[int]:
    """Write the events in the current transaction; return the ids of the rows written."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            [
                [e.store_id for e in events],
                [e.key[:200] for e in events],
                [json.dumps(e.as_dict()) for e in events],
                [now] * len(events),
            ],
        )
        return [row[0] for row in cursor.fetchall()]


def deliver(
    ids: list[int], events: list[domain.DomainEvent], *, since: dt.datetime | None = None
) -> bool:
    """Send recorded events to the receivers and mark them sent; on failure keep them unsent.

    ``since``, a time taken before they were recorded, lets the update skip older months.
    """
    try:
        with domain.strict_delivery():
            domain.send_now(events)
    except Exception:  # noqa: BLE001 - kept in the outbox; the sweep delivers it
        logger.exception("Could not deliver %d domain events; the sweep will", len(events))
        return False
    if ids:
        rows = OutboxEvent.objects.filter(pk__in=ids)
        if since is not None:
            rows = rows.filter(created_at__gte=since)
        rows.update(sent_at=timezone.now())
    return True


def sweep(*, grace: dt.timedelta = dt.timedelta(seconds=30), limit: int = 1000) -> int:
    """Deliver events left unsent past the grace period; forget sent ones after a day.

    Rows are claimed with ``SKIP LOCKED`` and marked sent in the transaction that delivers them,
    so overlapping sweeps never deliver a row twice. Sent rows of the live months are deleted; a
    past month's partition with nothing unsent is dropped whole
    (``partitions.drop_sent_outbox_months``). Return how many were delivered.
    """
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True, created_at__lt=now - grace)
            .order_by("created_at", "pk")[:limit]
        )
        if rows:
            with domain.strict_delivery():
                domain.send_now([domain.DomainEvent.from_dict(row.event) for row in rows])
            OutboxEvent.objects.filter(pk__in=[row.pk for row in rows]).update(sent_at=now)
    OutboxEvent.objects.filter(sent_at__lt=now - dt.timedelta(days=1)).delete()
    partitions.drop_sent_outbox_months()
    if rows:
        logger.info("Outbox sweep delivered %d domain events", len(rows))
    return len(rows)
