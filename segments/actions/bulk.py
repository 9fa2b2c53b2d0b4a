"""Many members of one segment at once (an import, a bulk edit): set-based changes, and their
announcements sent in chunks after commit, with a sweep for those left pending."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from .. import domain
from ..models import (
    Customer,
    MembershipSource,
    PendingAnnouncement,
    Segment,
    SegmentHistory,
    SegmentMembership,
)
from .definition import enqueue
from .errors import SegmentError


@dataclass
class BulkResult:
    """What a bulk change did: customer ids changed, already in that state, and unknown."""

    changed: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    unknown: list = field(default_factory=list)


def customers_by_email(store, emails) -> dict[str, int]:
    """Map lower-cased emails to the ids of the store's customers (one query)."""
    wanted = {
        e.strip().lower() for e in emails if isinstance(e, str) and e.strip() and "\x00" not in e
    }
    if not wanted:
        return {}
    # One array parameter instead of thousands of IN literals: the plan stays an index
    # lookup per email on (store, lower(email)) whatever the batch size.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT lower(email), id FROM {Customer._meta.db_table}"
            " WHERE store_id = %s AND lower(email) = ANY(%s::text[])",
            [store.pk, sorted(wanted)],
        )
        return dict(cursor.fetchall())


_BULK_ADD_SQL = """
WITH wanted AS (SELECT DISTINCT unnest(%(ids)s::bigint[]) AS customer_id),
valid AS (
    SELECT w.customer_id FROM wanted w
    JOIN {customer} c ON c.id = w.customer_id AND c.store_id = %(store)s
),
ins AS (
    INSERT INTO {member} (store_id, segment_id, customer_id, source, reference, acting_user_id,
                          added_at)
    SELECT %(store)s, %(segment)s, v.customer_id, %(source)s, %(reference)s, %(user)s, now()
    FROM valid v
    ON CONFLICT (segment_id, customer_id) DO NOTHING
    RETURNING customer_id
),
hist AS (
    INSERT INTO {history} (store_id, segment_id, customer_id, action, source, reference,
                           acting_user_id, at)
    SELECT %(store)s, %(segment)s, customer_id, 'added', %(source)s, %(reference)s, %(user)s, now()
    FROM ins
    RETURNING id, customer_id
),
counted AS (
    UPDATE {segment} SET member_count = member_count + (SELECT count(*) FROM ins)
    WHERE id = %(segment)s
)
SELECT (SELECT coalesce(array_agg(customer_id), '{{}}') FROM valid),
       (SELECT coalesce(array_agg(customer_id), '{{}}') FROM hist),
       (SELECT min(id) FROM hist), (SELECT max(id) FROM hist)
"""

_BULK_REMOVE_SQL = """
WITH del AS (
    DELETE FROM {member} m
    WHERE m.segment_id = %(segment)s AND m.customer_id = ANY(%(ids)s::bigint[])
    RETURNING customer_id
),
hist AS (
    INSERT INTO {history} (store_id, segment_id, customer_id, action, source, reference,
                           acting_user_id, at)
    SELECT %(store)s, %(segment)s, customer_id, 'removed', %(source)s, %(reference)s, %(user)s,
           now()
    FROM del
    RETURNING id, customer_id
),
counted AS (
    UPDATE {segment} SET member_count = member_count - (SELECT count(*) FROM del)
    WHERE id = %(segment)s
)
SELECT (SELECT coalesce(array_agg(c.id), '{{}}') FROM {customer} c
        WHERE c.id = ANY(%(ids)s::bigint[]) AND c.store_id = %(store)s),
       (SELECT coalesce(array_agg(customer_id), '{{}}') FROM hist),
       (SELECT min(id) FROM hist), (SELECT max(id) FROM hist)
"""


def segment_tables() -> dict[str, str]:
    return {
        "customer": Customer._meta.db_table,
        "member": SegmentMembership._meta.db_table,
        "history": SegmentHistory._meta.db_table,
        "segment": Segment._meta.db_table,
    }


def _bulk_change(segment, customer_ids, *, add: bool, source, reference, acting_user):
    if source != MembershipSource.RULE and segment.kind != Segment.Kind.STATIC:
        raise SegmentError("Members of a dynamic segment follow its rule.")
    ids = sorted({int(i) for i in customer_ids})
    result = BulkResult()
    if not ids:
        return result
    params = {
        "ids": ids,
        "store": segment.store_id,
        "segment": segment.pk,
        "source": source,
        "reference": reference[:200],
        "user": getattr(acting_user, "pk", None),
    }
    sql = (_BULK_ADD_SQL if add else _BULK_REMOVE_SQL).format(**segment_tables())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        known, changed, first_id, last_id = cursor.fetchone()
        if first_id is not None:
            queue_announcement(segment, reference, first_id, last_id)
    changed_set, known_set = set(changed), set(known)
    result.changed = sorted(changed_set)
    result.unchanged = sorted(known_set - changed_set)
    result.unknown = sorted(set(ids) - known_set)
    return result


def add_customers_to_segment(
    segment: Segment, customer_ids, *, source: str, reference: str = "", acting_user=None
) -> BulkResult:
    """Add many customers in one statement; announce the entries in bulk after commit."""
    return _bulk_change(
        segment, customer_ids, add=True, source=source, reference=reference, acting_user=acting_user
    )


def remove_customers_from_segment(
    segment: Segment, customer_ids, *, source: str, reference: str = "", acting_user=None
) -> BulkResult:
    """Remove many customers in one statement; announce the exits in bulk after commit."""
    return _bulk_change(
        segment,
        customer_ids,
        add=False,
        source=source,
        reference=reference,
        acting_user=acting_user,
    )


def change_members_by_email(
    segment: Segment, emails, *, add: bool, source: str, reference: str = "", acting_user=None
) -> BulkResult:
    """Add or remove customers named by email (case-insensitive); unknown emails are reported."""
    by_email = customers_by_email(segment.store, emails)
    result = _bulk_change(
        segment,
        by_email.values(),
        add=add,
        source=source,
        reference=reference,
        acting_user=acting_user,
    )
    id_to_email = {v: k for k, v in by_email.items()}
    result.unknown = sorted(
        {e.strip().lower() for e in emails if isinstance(e, str)} - set(by_email)
    )
    result.changed = [id_to_email[i] for i in result.changed]
    result.unchanged = [id_to_email[i] for i in result.unchanged]
    return result


def queue_announcement(segment: Segment, reference: str, first_id: int, last_id: int) -> None:
    """Record, in the transaction writing them, that history rows are to be announced; queue
    the announcement after commit. The beat sweep re-queues it if that enqueue is lost."""
    pending = PendingAnnouncement.objects.create(
        store_id=segment.store_id,
        segment_id=segment.pk,
        reference=reference[:200],
        first_history_id=first_id,
        last_history_id=last_id,
    )
    transaction.on_commit(lambda: enqueue("segments.announce_pending", pending.pk))


def announce_pending(announcement_id: int) -> int:
    """Announce one recorded bulk change unless it was already sent; return how many events.

    The row is locked (``SKIP LOCKED``: a second task for it does nothing) and marked sent in the
    transaction that sends the events; a worker lost midway leaves it pending for the sweep.
    """
    with transaction.atomic():
        pending = (
            PendingAnnouncement.objects.select_for_update(skip_locked=True)
            .filter(pk=announcement_id, sent_at__isnull=True)
            .first()
        )
        if pending is None:
            return 0
        with domain.strict_delivery():  # a broker failure leaves the row pending for the sweep
            sent = announce_history_range(
                pending.segment_id,
                pending.reference,
                pending.first_history_id,
                pending.last_history_id,
            )
        PendingAnnouncement.objects.filter(pk=pending.pk).update(sent_at=timezone.now())
    return sent


# How long an announcement may wait for its task before the sweep queues it again.
ANNOUNCE_GRACE = dt.timedelta(seconds=60)


def requeue_pending_announcements(
    older_than: dt.datetime | None = None, limit: int = 200
) -> list[int]:
    """Queue again the announcements still pending since before ``older_than`` (by default, the
    grace period ago); return them."""
    older_than = older_than or timezone.now() - ANNOUNCE_GRACE
    ids = list(
        PendingAnnouncement.objects.filter(sent_at__isnull=True, created_at__lt=older_than)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        enqueue("segments.announce_pending", pk)
    return ids


ANNOUNCE_CHUNK = 500  # events per signal (and so per receiver query and task) of a bulk change


def announce_history_range(segment_id: int, reference: str, first_id: int, last_id: int) -> int:
    """Announce the entries and exits written as history rows in a range; return how many.

    Used after bulk changes: one task sends every event of a recompute or an import, keyed
    ``segment-history:<id>`` like the one-by-one path, so receivers dedupe both alike. An event
    occurred when its row was written: announcing a range again names the same time.
    """
    rows = (
        SegmentHistory.objects.filter(
            segment_id=segment_id, reference=reference, pk__gte=first_id, pk__lte=last_id
        )
        .order_by("pk")
        .values_list("pk", "store_id", "customer_id", "action", "source", "at")
    )
    sent, batch = 0, []
    for pk, store_id, customer_id, action, source, at in rows.iterator(chunk_size=ANNOUNCE_CHUNK):
        name = (
            domain.CUSTOMER_ENTERED_SEGMENT
            if action == SegmentHistory.Action.ADDED
            else domain.CUSTOMER_LEFT_SEGMENT
        )
        event = domain.DomainEvent(
            name=name,
            store_id=store_id,
            customer_id=customer_id,
            key=f"segment-history:{pk}",
            data={"segment_id": segment_id, "source": source},
            occurred_at=at.isoformat(),
        )
        batch.append(event)
        sent += 1
        if len(batch) == ANNOUNCE_CHUNK:
            domain.send_now(batch)
            batch = []
    domain.send_now(batch)
    return sent
