"""State changes of the ``segments`` app: plain functions that own their transaction.

Views, admin actions, the API, tasks and the experience engine all call these.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone

from . import domain
from .models import (
    Customer,
    JobStatus,
    MembershipSource,
    PendingAnnouncement,
    Segment,
    SegmentCalculation,
    SegmentHistory,
    SegmentMembership,
)
from .rules import RuleError, compile_for_store, parse_rule, referenced_segments
from .rules.errors import RuleProblem
from .usage import segment_usages

logger = logging.getLogger(__name__)


class SegmentError(Exception):
    """A change refused for a reason the caller can show (not a bug)."""


class SegmentConflict(SegmentError):
    """The change clashes with existing data or the segment's kind (answered 409 by the API)."""


class SegmentInUse(SegmentError):
    """A segment that something still uses; ``usages`` says what."""

    def __init__(self, usages: list[str]):
        self.usages = usages
        super().__init__("The segment is in use: " + "; ".join(usages))


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


# --- segments -------------------------------------------------------------------------------


def check_segment_rule(store, rule: str, segment: Segment | None) -> None:
    """Raise ``RuleError`` if the rule is bad for this store or would make a cycle of segments."""
    node = parse_rule(rule)
    compile_for_store(rule, store)  # fields, operators, values and segment names
    if segment is None:  # a new segment: nothing refers to it yet, so no cycle is possible
        return
    segments = list(Segment.objects.filter(store=store).values_list("id", "name", "kind", "rule"))
    keys = {str(i): i for i, *_ in segments} | {n.strip().lower(): i for i, n, *_ in segments}
    refs: dict[int, set[int]] = {}
    for seg_id, _name, kind, other_rule in segments:
        if kind != Segment.Kind.DYNAMIC or (segment is not None and seg_id == segment.pk):
            continue
        try:
            values = referenced_segments(parse_rule(other_rule))
        except RuleError:
            continue
        refs[seg_id] = {
            keys[v.text.strip().lower()] for v in values if v.text.strip().lower() in keys
        }
    for value in referenced_segments(node):
        start = keys[value.text.strip().lower()]
        seen, stack = set(), [start]
        while stack:
            current = stack.pop()
            if current == segment.pk:
                raise RuleError(
                    [
                        RuleProblem(
                            value.pos.line,
                            value.pos.column,
                            f"segment '{value.text}' depends on this segment: a cycle is refused",
                        )
                    ]
                )
            if current not in seen:
                seen.add(current)
                stack.extend(refs.get(current, ()))


def check_segment_name(store, name: str, segment: Segment | None) -> str:
    name = (name or "").strip()
    if not name:
        raise SegmentError("A segment needs a name.")
    clash = (
        Segment.objects.filter(store=store).annotate(lname=Lower("name")).filter(lname=name.lower())
    )
    if segment is not None:
        clash = clash.exclude(pk=segment.pk)
    if clash.exists():
        raise SegmentConflict(f"A segment named '{name}' already exists in this store.")
    return name


def create_segment(
    store,
    *,
    name: str,
    kind: str = Segment.Kind.STATIC,
    rule: str = "",
    description: str = "",
    acting_user=None,
) -> Segment:
    """Create a segment; a dynamic one is validated and its first recompute is queued."""
    if kind not in Segment.Kind.values:
        raise SegmentError(f"Unknown kind '{kind}'.")
    rule = (rule or "").strip()
    if kind == Segment.Kind.DYNAMIC:
        check_segment_rule(store, rule, None)
    elif rule:
        raise SegmentError("A static segment has no rule; choose the dynamic kind.")
    with transaction.atomic():
        segment = Segment.objects.create(
            store=store,
            name=check_segment_name(store, name, None),
            kind=kind,
            rule=rule,
            description=description or "",
        )
        if kind == Segment.Kind.DYNAMIC:
            request_recompute(segment, trigger=SegmentCalculation.Trigger.EDIT)
            segment.refresh_from_db()
    return segment


def update_segment(
    segment: Segment,
    *,
    name: str | None = None,
    description: str | None = None,
    rule: str | None = None,
    kind: str | None = None,
    acting_user=None,
) -> Segment:
    """Change a segment; a new rule bumps the version, which supersedes recomputes in flight."""
    if kind is not None and kind != segment.kind:
        raise SegmentError("A segment's kind cannot change; create a new segment instead.")
    changes: dict = {}
    if name is not None and name.strip() != segment.name:
        changes["name"] = check_segment_name(segment.store, name, segment)
        by_name = [u for u in segment_usages(segment) if u.startswith("Segment '")]
        if by_name and changes["name"].lower() != segment.name.strip().lower():
            raise SegmentError(
                "Renaming would break the rules that name this segment: " + "; ".join(by_name)
            )
    if description is not None:
        changes["description"] = description
    rule_changed = rule is not None and rule.strip() != segment.rule
    if rule_changed:
        if segment.kind != Segment.Kind.DYNAMIC:
            raise SegmentError("A static segment has no rule; choose the dynamic kind.")
        check_segment_rule(segment.store, rule.strip(), segment)
        changes["rule"] = rule.strip()
    with transaction.atomic():
        if rule_changed:
            changes["version"] = F("version") + 1
            changes["status"] = Segment.Status.QUEUED
        if changes:
            Segment.objects.filter(pk=segment.pk).update(**changes)
        segment.refresh_from_db()
        if rule_changed:
            request_recompute(segment, trigger=SegmentCalculation.Trigger.EDIT)
    return segment


def delete_segment(segment: Segment, *, acting_user=None) -> None:
    """Delete the segment, or raise ``SegmentInUse`` listing what still uses it."""
    usages = segment_usages(segment)
    if usages:
        raise SegmentInUse(usages)
    with transaction.atomic():
        # Members and history can be millions of rows: change them set-based, not through the
        # ORM's collector, which would load them; the segment's other rows follow by cascade.
        # History is kept, detached from the segment and labelled with its name.
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {SegmentHistory._meta.db_table} SET segment_id = NULL, segment_name = %s"
                " WHERE segment_id = %s",
                [segment.name, segment.pk],
            )
            cursor.execute(
                f"DELETE FROM {SegmentMembership._meta.db_table} WHERE segment_id = %s",
                [segment.pk],
            )
        segment.delete()


def request_recompute(segment: Segment, *, trigger: str) -> SegmentCalculation:
    """Queue a full recompute of the segment's current version (reuse one already queued)."""
    if segment.kind != Segment.Kind.DYNAMIC:
        raise SegmentConflict(
            "Only dynamic segments are recomputed; static members change by hand."
        )
    with transaction.atomic():
        locked = Segment.objects.select_for_update(of=("self",)).get(pk=segment.pk)
        pending = (
            SegmentCalculation.objects.filter(
                segment=locked, version=locked.version, status=JobStatus.QUEUED
            )
            .order_by("-id")
            .first()
        )
        if pending is not None:
            return pending
        calculation = SegmentCalculation.objects.create(
            store_id=locked.store_id, segment=locked, version=locked.version, trigger=trigger
        )
        Segment.objects.filter(pk=locked.pk, status__in=["idle", "done", "failed"]).update(
            status=Segment.Status.QUEUED
        )
        transaction.on_commit(lambda: enqueue("segments.recompute", calculation.pk))
    return calculation


def enqueue(task_name: str, *args) -> None:
    """Send a task; a broker outage is logged, and the periodic sweeps pick the work up."""
    from config.celery import app

    try:
        app.send_task(task_name, args=list(args))
    except Exception:  # noqa: BLE001 - the work is recorded in the database; sweeps retry it
        if domain.delivery_is_strict():
            raise
        logger.exception("Could not enqueue %s%r; the sweep will pick it up", task_name, args)


# --- many members at once -------------------------------------------------------------------


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
