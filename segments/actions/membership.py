"""One customer's membership changes, and many at once for the experience engine (set-based,
in the caller's transaction), with their history rows, the segments' counts and the
announcements of who entered or left."""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from .. import domain
from ..models import (
    Customer,
    MembershipSource,
    Segment,
    SegmentHistory,
    SegmentMembership,
)
from .errors import SegmentError


def add_to_segment(
    segment: Segment,
    customer: Customer,
    *,
    source: str,
    reference: str = "",
    acting_user=None,
    cause: domain.DomainEvent | None = None,
) -> bool:
    """Add the customer to the segment; return False if they already were a member.

    Writes the membership and a history row in one transaction and announces
    ``customer_entered_segment`` after commit (a follow-up of ``cause`` when given).
    """
    if segment.store_id != customer.store_id:
        raise SegmentError("The customer belongs to another store.")
    if source != MembershipSource.RULE and segment.kind != Segment.Kind.STATIC:
        raise SegmentError("Members of a dynamic segment follow its rule.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                SegmentMembership.objects.create(
                    store_id=segment.store_id,
                    segment=segment,
                    customer=customer,
                    source=source,
                    reference=reference,
                    acting_user=acting_user,
                )
        except IntegrityError as exc:
            if not _is_duplicate_membership(exc):
                raise
            return False
        _record_change(
            segment, customer, SegmentHistory.Action.ADDED, source, reference, acting_user, cause
        )
    return True


MEMBERSHIP_UNIQUE = "segmentmembership_unique_segment_customer"


def _is_duplicate_membership(exc: IntegrityError) -> bool:
    """Whether the error is the unique (segment, customer) violation, and nothing else."""
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    return (
        diag is not None
        and getattr(cause, "sqlstate", None) == "23505"
        and diag.constraint_name == MEMBERSHIP_UNIQUE
    )


def remove_from_segment(
    segment: Segment,
    customer: Customer,
    *,
    source: str,
    reference: str = "",
    acting_user=None,
    cause: domain.DomainEvent | None = None,
) -> bool:
    """Remove the customer from the segment; return False if they were not a member."""
    if source != MembershipSource.RULE and segment.kind != Segment.Kind.STATIC:
        raise SegmentError("Members of a dynamic segment follow its rule.")
    with transaction.atomic():
        deleted, _ = SegmentMembership.objects.filter(segment=segment, customer=customer).delete()
        if not deleted:
            return False
        _record_change(
            segment, customer, SegmentHistory.Action.REMOVED, source, reference, acting_user, cause
        )
    return True


def _record_change(segment, customer, action, source, reference, acting_user, cause) -> None:
    """Write the history row of one add or remove, move the count, announce after commit."""
    history = SegmentHistory.objects.create(
        store_id=segment.store_id,
        segment=segment,
        customer=customer,
        action=action,
        source=source,
        reference=reference,
        acting_user=acting_user,
    )
    added = action == SegmentHistory.Action.ADDED
    Segment.objects.filter(pk=segment.pk).update(
        member_count=F("member_count") + (1 if added else -1)
    )
    name = domain.CUSTOMER_ENTERED_SEGMENT if added else domain.CUSTOMER_LEFT_SEGMENT
    _announce_change(name, history, cause)


def _announce_change(name: str, history: SegmentHistory, cause: domain.DomainEvent | None):
    key = f"segment-history:{history.pk}"
    data = {"segment_id": history.segment_id, "source": history.source}
    if cause is not None:
        event = cause.follow_up(name, key, customer_id=history.customer_id, data=data)
    else:
        event = domain.DomainEvent(
            name=name,
            store_id=history.store_id,
            customer_id=history.customer_id,
            key=key,
            data=data,
        )
    domain.announce(event)


@dataclass(frozen=True)
class MembershipRequest:
    """One add or remove of a customer in a static segment, as the experience engine asks it."""

    segment_id: int
    customer_id: int
    add: bool
    reference: str = ""
    cause: domain.DomainEvent | None = None


def change_memberships(
    store_id: int, requests: list[MembershipRequest], *, source: str
) -> list[str]:
    """Apply many adds and removes in static segments of one store, set-based, in the caller's
    transaction; return per request ``changed``, ``unchanged``, ``missing`` (no such segment) or
    ``dynamic`` (a rule's segment, left alone).

    The same rows as ``add_to_segment`` / ``remove_from_segment``: the membership (unique per
    segment and customer, ``ON CONFLICT DO NOTHING``), a history row per change, the segment's
    count, and ``customer_entered_segment`` / ``customer_left_segment`` announced after commit (a
    follow-up of each request's cause). A handful of statements whatever the number of requests
    (one round more for each repeat of a (segment, customer) pair).
    """
    if not requests:
        return []
    # A (segment, customer) named again (two runs adding the same customer) goes in a later
    # round, so each request sees the one before it, as one by one.
    rounds: list[list[int]] = []
    depth: dict[tuple[int, int], int] = {}
    for i, r in enumerate(requests):
        n = depth.get((r.segment_id, r.customer_id), 0)
        depth[(r.segment_id, r.customer_id)] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(i)
    answers = [""] * len(requests)
    kinds: dict[int, str] = {}
    for n, indexes in enumerate(rounds):
        batch = [requests[i] for i in indexes]
        # The first round also reads the segments' kinds (in the same round trip): only
        # static segments of this store change, the others are answered for below.
        done = _change_memberships_once(store_id, batch, source, kinds=kinds if n == 0 else None)
        for i, r in zip(indexes, batch, strict=True):
            answers[i] = "changed" if (r.segment_id, r.customer_id) in done else "unchanged"
    for i, r in enumerate(requests):
        kind = kinds.get(r.segment_id)
        if kind is None:
            answers[i] = "missing"
        elif kind != Segment.Kind.STATIC:
            answers[i] = "dynamic"
    return answers


# (the savepoint depth of the block, the count changes summed so far)
_deferred_counts: contextvars.ContextVar[tuple[int, dict[int, int]] | None] = (
    contextvars.ContextVar("segments_deferred_member_counts", default=None)
)


@contextlib.contextmanager
def member_counts_at_end():
    """Within this block (inside the caller's transaction), ``change_memberships`` sums its
    segments' count changes and writes them in one statement as the block ends.

    A segment's row is the one row that every batch adding to it updates: updated at once, it
    stays locked for the rest of the batch's transaction, and concurrent batches that add to the
    same segment wait for each other's whole walk. Written last, it is locked only for the
    transaction's final statement and commit. On an error nothing is written (the transaction
    rolls back); changes made inside a savepoint of the block are counted at once, with their
    rows, since the savepoint may roll back alone."""
    if _deferred_counts.get() is not None:  # an enclosing block writes them
        yield
        return
    deltas: dict[int, int] = {}
    token = _deferred_counts.set((_savepoints(), deltas))
    try:
        yield
    finally:
        _deferred_counts.reset(token)
    _write_member_counts(deltas)


def _savepoints() -> int:
    """How many savepoints the current transaction has open (blocks without one not counted)."""
    return sum(1 for sid in connection.savepoint_ids if sid is not None)


def take_member_counts() -> tuple[str, list] | None:
    """Return the statement that writes the counts summed so far by the enclosing
    ``member_counts_at_end`` block, and forget them there: for a caller that sends it with its own
    last statements (one round trip). None when there is nothing to write."""
    deferred = _deferred_counts.get()
    if deferred is None:
        return None
    deltas = dict(deferred[1])
    deferred[1].clear()
    return _member_counts_sql(deltas)


def _member_counts_sql(deltas: dict[int, int]) -> tuple[str, list] | None:
    deltas = {k: deltas[k] for k in sorted(deltas) if deltas[k]}  # rows locked in id order
    if not deltas:
        return None
    return (
        f"UPDATE {Segment._meta.db_table} s SET member_count = s.member_count + d.delta"
        " FROM unnest(%s::bigint[], %s::int[]) AS d(id, delta) WHERE s.id = d.id",
        [list(deltas), list(deltas.values())],
    )


def _write_member_counts(deltas: dict[int, int]) -> None:
    statement = _member_counts_sql(deltas)
    if statement is not None:
        with connection.cursor() as cursor:
            cursor.execute(*statement)


def _change_memberships_once(
    store_id: int, requests: list[MembershipRequest], source: str, *, kinds: dict | None = None
) -> set[tuple[int, int]]:
    """Apply requests naming each (segment, customer) once, in static segments of the store only;
    return the pairs changed. ``kinds``, if given, is filled with the named segments' kinds.

    One round trip: (the kinds, then) one statement that adds and removes the memberships and
    writes a history row per change, in request order; then the announcements' outbox rows.
    """
    now = timezone.now()
    segment_t, member_t = Segment._meta.db_table, SegmentMembership._meta.db_table
    history_t = SegmentHistory._meta.db_table
    statements, params = [], []
    if kinds is not None:
        statements.append(f"SELECT id, kind FROM {segment_t} WHERE store_id = %s AND id = ANY(%s)")
        params += [store_id, sorted({r.segment_id for r in requests})]
    statements.append(
        "WITH x AS (SELECT x.* FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::boolean[])"
        f" WITH ORDINALITY AS x(s, c, r, add, n) JOIN {segment_t} seg ON seg.id = x.s"
        " AND seg.store_id = %s AND seg.kind = %s),"
        f" ins AS (INSERT INTO {member_t} (store_id, segment_id, customer_id, source, reference,"
        " added_at) SELECT %s, s, c, %s, r, %s FROM x WHERE add"
        " ON CONFLICT (segment_id, customer_id) DO NOTHING RETURNING segment_id, customer_id),"
        f" del AS (DELETE FROM {member_t} m USING x WHERE NOT x.add AND m.segment_id = x.s"
        " AND m.customer_id = x.c RETURNING m.segment_id, m.customer_id),"
        f" hist AS (INSERT INTO {history_t} (store_id, segment_id, customer_id, action, source,"
        " reference, at) SELECT %s, x.s, x.c, CASE WHEN x.add THEN %s ELSE %s END, %s, x.r, %s"
        " FROM x JOIN (SELECT segment_id, customer_id FROM ins UNION ALL"
        " SELECT segment_id, customer_id FROM del) d ON d.segment_id = x.s AND d.customer_id = x.c"
        " ORDER BY x.n RETURNING id, segment_id, customer_id)"
        " SELECT id, segment_id, customer_id FROM hist ORDER BY id"
    )
    params += [
        [r.segment_id for r in requests],
        [r.customer_id for r in requests],
        [r.reference[:200] for r in requests],
        [r.add for r in requests],
        store_id,
        Segment.Kind.STATIC,
        store_id,
        source,
        now,
        store_id,
        SegmentHistory.Action.ADDED,
        SegmentHistory.Action.REMOVED,
        source,
        now,
    ]
    by_pair = {(r.segment_id, r.customer_id): r for r in requests}
    # No savepoint of its own: one transaction with the caller's (the engine's step writes).
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute("; ".join(statements), params)
        if kinds is not None:
            kinds.update(cursor.fetchall())
            cursor.nextset()
        history = cursor.fetchall()
        deferred = _deferred_counts.get()
        if deferred is not None and deferred[0] != _savepoints():
            deferred = None  # inside a savepoint that may roll back: counted with its rows
        deltas: dict[int, int] = deferred[1] if deferred is not None else {}
        events = []
        for pk, segment_id, customer_id in history:
            r = by_pair[(segment_id, customer_id)]
            deltas[segment_id] = deltas.get(segment_id, 0) + (1 if r.add else -1)
            name = domain.CUSTOMER_ENTERED_SEGMENT if r.add else domain.CUSTOMER_LEFT_SEGMENT
            key = f"segment-history:{pk}"
            data = {"segment_id": segment_id, "source": source}
            if r.cause is not None:
                events.append(r.cause.follow_up(name, key, customer_id=customer_id, data=data))
            else:
                events.append(
                    domain.DomainEvent(
                        name=name, store_id=store_id, customer_id=customer_id, key=key, data=data
                    )
                )
        if deferred is None:
            _write_member_counts(deltas)
        domain.announce_all(events)
    return {(segment_id, customer_id) for _, segment_id, customer_id in history}
