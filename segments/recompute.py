"""Recompute dynamic segments set-based in SQL, in full or for one customer.

A full recompute writes the diff between the rule's result and the current members: new members
inserted (``ON CONFLICT DO NOTHING``), gone members deleted, a history row for each, in one
statement per range of customer ids. Each range commits with the segment's counters only if the
segment still has the version the calculation started from: a newer rule edit makes the run give
way without writing. The incremental path evaluates every dynamic segment of a store for one
customer in one query and applies the diff in one statement.

The SQL is PostgreSQL's, the only database the product runs on (the embedded default included).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from config.metrics import RECOMPUTE_SECONDS, observe

from . import domain
from .actions import enqueue, queue_announcement, request_recompute, segment_tables
from .models import JobStatus, Segment, SegmentCalculation, SegmentHistory, Store
from .rules import RuleError, compile_rule, context_for, referenced_segments, validate_rule
from .rules.ast import Node

logger = logging.getLogger(__name__)


def chunk_size() -> int:
    return int(getattr(settings, "SEGMENT_RECOMPUTE_CHUNK", 250_000))


def stuck_after() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "SEGMENT_RECOMPUTE_STUCK_SECONDS", 600)))


class _Superseded(Exception):
    pass


@lru_cache(maxsize=2048)
def _parsed(rule: str) -> Node:
    """Return the checked tree of a rule; trees are immutable, so caching them is safe."""
    return validate_rule(rule)


_DIFF_SQL = """
WITH scanned AS MATERIALIZED (
    SELECT c.id AS customer_id, ({rule}) AS hit FROM {customer} c
    WHERE c.store_id = %s AND c.id BETWEEN %s AND %s
),
ins AS (
    INSERT INTO {member} (store_id, segment_id, customer_id, source, reference, added_at)
    SELECT %s, %s, t.customer_id, 'rule', %s, %s FROM scanned t
    WHERE t.hit AND NOT EXISTS (
        SELECT 1 FROM {member} x WHERE x.segment_id = %s AND x.customer_id = t.customer_id
    )
    ON CONFLICT (segment_id, customer_id) DO NOTHING
    RETURNING customer_id
),
del AS (
    DELETE FROM {member} x
    WHERE x.segment_id = %s AND x.customer_id BETWEEN %s AND %s
      AND NOT EXISTS (SELECT 1 FROM scanned t WHERE t.customer_id = x.customer_id AND t.hit)
    RETURNING customer_id
),
hist AS (
    INSERT INTO {history} (store_id, segment_id, customer_id, action, source, reference, at)
    SELECT %s, %s, customer_id, 'added', 'rule', %s, %s FROM ins
    UNION ALL
    SELECT %s, %s, customer_id, 'removed', 'rule', %s, %s FROM del
    RETURNING id, action
)
SELECT count(*) FILTER (WHERE action = 'added'), count(*) FILTER (WHERE action = 'removed'),
       min(id), max(id), (SELECT count(*) FROM scanned)
FROM hist
"""


def diff_statement(rule_sql: str, rule_params: list, *, store_id, segment_id, reference, lo, hi):
    """Return ``(sql, params)`` of the statement writing one id range's diff with history."""
    now = timezone.now()
    sql = _DIFF_SQL.format(rule=rule_sql, **segment_tables())
    params = [
        *rule_params, store_id, lo, hi,
        store_id, segment_id, reference, now, segment_id,
        segment_id, lo, hi,
        store_id, segment_id, reference, now,
        store_id, segment_id, reference, now,
    ]  # fmt: skip
    return sql, params


def _fail(calculation: SegmentCalculation, message: str) -> SegmentCalculation:
    now = timezone.now()
    SegmentCalculation.objects.filter(pk=calculation.pk).update(
        status=JobStatus.FAILED, error=message, finished_at=now
    )
    Segment.objects.filter(pk=calculation.segment_id, version=calculation.version).update(
        status=Segment.Status.FAILED, last_error=message, calculation_finished_at=now
    )
    calculation.refresh_from_db()
    return calculation


def _give_way(calculation: SegmentCalculation) -> SegmentCalculation:
    SegmentCalculation.objects.filter(pk=calculation.pk).update(
        status=JobStatus.SUPERSEDED, finished_at=timezone.now()
    )
    calculation.refresh_from_db()
    return calculation


def run_calculation(calculation_id: int) -> SegmentCalculation:
    """Run (or resume) a full recompute; a finished one is left as it is."""
    calculation = SegmentCalculation.objects.select_related("segment", "store").get(
        pk=calculation_id
    )
    if calculation.is_finished:
        return calculation
    segment, store = calculation.segment, calculation.store
    if segment.version != calculation.version:
        return _give_way(calculation)
    try:
        rule_sql, rule_params = compile_rule(_parsed(segment.rule), context_for(store))
    except RuleError as exc:
        return _fail(calculation, str(exc))

    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT min(id), max(id), count(*) FROM {segment_tables()['customer']}"
            " WHERE store_id = %s",
            [store.pk],
        )
        low, high, total = cursor.fetchone()
    # Resume after the last range committed (a redelivered task continues where it stopped).
    SegmentCalculation.objects.filter(pk=calculation.pk).update(
        status=JobStatus.RUNNING,
        started_at=calculation.started_at or now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        rows_total=total,
        rows_done=calculation.rows_done if calculation.resume_after_id else 0,
    )
    calculation.refresh_from_db()
    updated = Segment.objects.filter(pk=segment.pk, version=calculation.version).update(
        status=Segment.Status.RUNNING,
        calculation_started_at=calculation.started_at,
        calculation_finished_at=None,
        progress_total=total,
        progress_done=calculation.rows_done,
        last_error="",
    )
    if not updated:
        return _give_way(calculation)
    reference = f"calculation:{calculation.pk}"
    step = chunk_size()
    lo = low
    if calculation.resume_after_id and low is not None:
        lo = max(low, calculation.resume_after_id + 1)
    try:
        while low is not None and lo <= high:
            hi = min(lo + step - 1, high)
            _apply_range(calculation, rule_sql, rule_params, reference, lo, hi)
            lo = hi + 1
    except _Superseded:
        return _give_way(calculation)
    except Exception as exc:
        logger.exception("Recompute of segment %s failed", segment.pk)
        return _fail(calculation, f"{exc.__class__.__name__}: {exc}")
    finished = timezone.now()
    with transaction.atomic():
        updated = Segment.objects.filter(pk=segment.pk, version=calculation.version).update(
            status=Segment.Status.DONE,
            calculated_version=calculation.version,
            last_calculated_at=finished,
            calculation_finished_at=finished,
            progress_done=total,
        )
        SegmentCalculation.objects.filter(pk=calculation.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.DONE if updated else JobStatus.SUPERSEDED,
            finished_at=finished,
            rows_done=total,
        )
    calculation.refresh_from_db()
    if calculation.started_at and calculation.finished_at:
        seconds = (calculation.finished_at - calculation.started_at).total_seconds()
        observe(RECOMPUTE_SECONDS, seconds, outcome=calculation.status)
    return calculation


def _apply_range(calculation, rule_sql, rule_params, reference, lo, hi) -> None:
    sql, params = diff_statement(
        rule_sql,
        rule_params,
        store_id=calculation.store_id,
        segment_id=calculation.segment_id,
        reference=reference,
        lo=lo,
        hi=hi,
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Memberships written moments ago have no statistics yet; a nested loop planned on
            # "1 row" would compare every member with every match. Hash joins are right for a
            # set-based diff whatever the estimates say.
            cursor.execute("SET LOCAL enable_nestloop = off")
            cursor.execute(sql, params)
            added, removed, first_id, last_id, scanned = cursor.fetchone()
        kept = Segment.objects.filter(
            pk=calculation.segment_id, version=calculation.version
        ).update(
            member_count=F("member_count") + added - removed,
            progress_done=F("progress_done") + scanned,
        )
        if not kept:
            raise _Superseded
        running = SegmentCalculation.objects.filter(
            pk=calculation.pk, status=JobStatus.RUNNING
        ).update(
            rows_done=F("rows_done") + scanned,
            added=F("added") + added,
            removed=F("removed") + removed,
            heartbeat_at=timezone.now(),
            resume_after_id=hi,
        )
        if not running:  # the sweep replaced this run: leave the rest to the new one
            raise _Superseded
        if first_id is not None:
            queue_announcement(calculation.segment, reference, first_id, last_id)


# --- one customer, every dynamic segment ---------------------------------------------------

_APPLY_SQL = """
WITH wanted AS (
    SELECT * FROM unnest(%(enter_customers)s::bigint[], %(enter_segments)s::bigint[],
                         %(enter_refs)s::text[]) AS w(customer_id, segment_id, reference)
),
unwanted AS (
    SELECT * FROM unnest(%(leave_customers)s::bigint[], %(leave_segments)s::bigint[],
                         %(leave_refs)s::text[]) AS u(customer_id, segment_id, reference)
),
ins AS (
    INSERT INTO {member} (store_id, segment_id, customer_id, source, reference, added_at)
    SELECT %(store)s, w.segment_id, w.customer_id, 'rule', w.reference, now() FROM wanted w
    ON CONFLICT (segment_id, customer_id) DO NOTHING
    RETURNING segment_id, customer_id, reference
),
del AS (
    DELETE FROM {member} m USING unwanted u
    WHERE m.segment_id = u.segment_id AND m.customer_id = u.customer_id
    RETURNING m.segment_id, m.customer_id, u.reference
),
changes AS (
    SELECT segment_id, customer_id, reference, 'added' AS action, 1 AS delta FROM ins
    UNION ALL SELECT segment_id, customer_id, reference, 'removed', -1 FROM del
),
counted AS (
    UPDATE {segment} s SET member_count = s.member_count + d.delta
    FROM (SELECT segment_id, SUM(delta) AS delta FROM changes GROUP BY segment_id) d
    WHERE s.id = d.segment_id AND d.delta <> 0
)
INSERT INTO {history} (store_id, segment_id, customer_id, action, source, reference, at)
SELECT %(store)s, segment_id, customer_id, action, 'rule', reference, now() FROM changes
ORDER BY customer_id, segment_id
RETURNING id, segment_id, customer_id, action
"""


MAX_DEPENDENCY_PASSES = 4


@dataclass(frozen=True)
class _Column:
    segment_id: int
    sql: str
    params: tuple
    depends_on: frozenset[int]  # segments whose membership the rule tests


@lru_cache(maxsize=256)
def _compiled_columns(store_id, tz_name, today, segments) -> tuple[_Column, ...]:
    """Compile every dynamic rule of a store to a boolean column, cached until anything changes.

    The key holds every segment's id, name, kind and rule and the store's today, so an edit, a
    rename or midnight makes a new entry.
    """
    store = Store(pk=store_id, timezone=tz_name)
    ctx = context_for(store, [(sid, name) for sid, name, _kind, _rule in segments])
    columns = []
    for sid, _name, kind, rule in segments:
        if kind != Segment.Kind.DYNAMIC:
            continue
        try:
            node = _parsed(rule)
            sql, rule_params = compile_rule(node, ctx)
        except RuleError:
            continue
        depends_on = frozenset(
            ctx.segments[v.text.strip().lower()]
            for v in referenced_segments(node)
            if v.text.strip().lower() in ctx.segments
        )
        columns.append(_Column(sid, f"({sql})", tuple(rule_params), depends_on))
    return tuple(columns)


@dataclass
class Evaluation:
    entered: list[int]
    left: list[int]


def evaluate_customer(
    store_id: int, customer_id: int, *, cause: domain.DomainEvent | None = None
) -> Evaluation:
    """Re-evaluate every dynamic segment of the store for one customer (see
    ``evaluate_customers``)."""
    return evaluate_customers(store_id, [(customer_id, cause)])[customer_id]


def evaluate_customers(
    store_id: int, customers: list[tuple[int, domain.DomainEvent | None]]
) -> dict[int, Evaluation]:
    """Re-evaluate every dynamic segment of the store for many customers, set-based.

    ``customers`` pairs each customer id with the event that caused the evaluation (it names the
    history rows and is the cause of the entered/left events). At most 3 queries whatever the
    number of customers and segments: one loads the store's segments, one evaluates every rule
    as a boolean column for every customer next to their current memberships, and one statement
    applies all the differences with their history. Rules that test membership of a segment this
    evaluation changed are evaluated once more for the customers who changed (two more queries
    per level of such dependencies, none when there are none).
    """
    causes = dict(customers)
    results = {customer_id: Evaluation([], []) for customer_id in causes}
    segments = list(
        Segment.objects.filter(store_id=store_id).values_list(
            "id", "name", "kind", "rule", "store__timezone"
        )
    )
    if not any(kind == Segment.Kind.DYNAMIC for _i, _n, kind, _r, _tz in segments):
        return results
    tz_name = segments[0][4]
    today = timezone.localdate(timezone.now(), Store(timezone=tz_name).tzinfo)
    all_columns = _compiled_columns(
        store_id,
        tz_name,
        today,
        tuple((sid, name, kind, rule) for sid, name, kind, rule, _ in segments),
    )
    columns, pending = all_columns, sorted(causes)
    for _ in range(MAX_DEPENDENCY_PASSES):
        if not columns or not pending:
            break
        changed = _evaluate_pass(store_id, pending, columns, causes)
        touched: set[int] = set()
        for customer_id, segment_id, action in changed:
            result = results[customer_id]
            (result.entered if action == SegmentHistory.Action.ADDED else result.left).append(
                segment_id
            )
            touched.add(segment_id)
        columns = tuple(c for c in all_columns if c.depends_on & touched)
        pending = sorted({customer_id for customer_id, _s, _a in changed})
    return results


def evaluate_after_events(store_id: int, events: list[domain.DomainEvent]) -> int:
    """Evaluate the customers the events are about, together; return how many moves it made.

    The evaluation is idempotent (it applies a difference), so a redelivered task redoes nothing
    that was done. Should the batch fail, each customer is evaluated alone so that one cannot
    hold back the others; what still fails is logged and then fails the task, so that its row in
    the task journal stays and the journal's sweep sends it again.
    """
    try:
        results = evaluate_customers(store_id, [(e.customer_id, e) for e in events])
        return sum(len(r.entered) + len(r.left) for r in results.values())
    except Exception:  # noqa: BLE001 - fall back to one customer at a time
        logger.exception("Evaluating %d customers together failed; one by one", len(events))
    changed, failed = 0, []
    for event in events:
        try:
            result = evaluate_customer(store_id, event.customer_id, cause=event)
        except Exception:  # noqa: BLE001 - one customer must not stop the batch
            logger.exception("Evaluating customer %s after %s failed", event.customer_id, event.key)
            failed.append(event.customer_id)
            continue
        changed += len(result.entered) + len(result.left)
    if failed:
        raise EvaluationFailed(f"Evaluating customers {failed} failed; the task will be sent again")
    return changed


class EvaluationFailed(Exception):
    """Some customers of a batch could not be evaluated (their task is sent again)."""


def _evaluate_pass(store_id, customer_ids, columns, causes) -> list[tuple[int, int, str]]:
    """Evaluate ``columns`` for the customers and apply the differences; return the changes."""
    tables = segment_tables()
    query = (
        "SELECT c.id, ARRAY(SELECT m.segment_id FROM "
        f"{tables['member']} m WHERE m.customer_id = c.id), "
        + ", ".join(c.sql for c in columns)
        + f" FROM {tables['customer']} c WHERE c.id = ANY(%s) AND c.store_id = %s"
    )
    params = [p for c in columns for p in c.params]
    with connection.cursor() as cursor:
        cursor.execute(query, [*params, list(customer_ids), store_id])
        rows = cursor.fetchall()
    diff = {key: ([], [], []) for key in ("enter", "leave")}
    for customer_id, current_ids, *matches in rows:
        current = set(current_ids)
        cause = causes.get(customer_id)
        reference = f"event:{cause.key}"[:200] if cause is not None else "evaluation"
        for column, match in zip(columns, matches, strict=True):
            if bool(match) == (column.segment_id in current):
                continue
            customers, segment_ids, references = diff["enter" if match else "leave"]
            customers.append(customer_id)
            segment_ids.append(column.segment_id)
            references.append(reference)
    if not diff["enter"][0] and not diff["leave"][0]:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            _APPLY_SQL.format(**tables),
            {
                "store": store_id,
                **{f"{kind}_customers": diff[kind][0] for kind in diff},
                **{f"{kind}_segments": diff[kind][1] for kind in diff},
                **{f"{kind}_refs": diff[kind][2] for kind in diff},
            },
        )
        written = cursor.fetchall()
    events = []
    for history_id, segment_id, customer_id, action in written:
        name = (
            domain.CUSTOMER_ENTERED_SEGMENT
            if action == SegmentHistory.Action.ADDED
            else domain.CUSTOMER_LEFT_SEGMENT
        )
        key = f"segment-history:{history_id}"
        data = {"segment_id": segment_id, "source": "rule"}
        cause = causes.get(customer_id)
        if cause is not None:
            event = cause.follow_up(name, key, customer_id=customer_id, data=data)
        else:
            event = domain.DomainEvent(
                name=name, store_id=store_id, customer_id=customer_id, key=key, data=data
            )
        events.append(event)
    domain.announce_all(events)
    return [(customer_id, segment_id, action) for _h, segment_id, customer_id, action in written]


# --- safety nets ----------------------------------------------------------------------------


def recompute_all_dynamic_segments() -> int:
    """Queue a full recompute of every dynamic segment that has none waiting; return how many."""
    busy = SegmentCalculation.objects.filter(
        status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).values("segment_id")
    queued = 0
    for segment in Segment.objects.filter(kind=Segment.Kind.DYNAMIC).exclude(pk__in=busy):
        request_recompute(segment, trigger=SegmentCalculation.Trigger.PERIODIC)
        queued += 1
    return queued


def sweep_stuck_calculations() -> list[int]:
    """Fail calculations that stopped moving and queue a fresh one; return the new ids."""
    limit = timezone.now() - stuck_after()
    stuck = SegmentCalculation.objects.filter(
        Q(status=JobStatus.RUNNING, heartbeat_at__lt=limit)
        | Q(status=JobStatus.QUEUED, created_at__lt=limit)
    ).select_related("segment")
    restarted = []
    for calculation in stuck:
        with transaction.atomic():
            changed = SegmentCalculation.objects.filter(
                pk=calculation.pk, status=calculation.status
            ).update(
                status=JobStatus.FAILED,
                error=f"No progress since {calculation.heartbeat_at or calculation.created_at}; "
                "restarted by the sweep.",
                finished_at=timezone.now(),
            )
            if not changed or calculation.segment.version != calculation.version:
                continue
            Segment.objects.filter(pk=calculation.segment_id).update(status=Segment.Status.QUEUED)
            fresh = SegmentCalculation.objects.create(
                store_id=calculation.store_id,
                segment_id=calculation.segment_id,
                version=calculation.version,
                trigger=SegmentCalculation.Trigger.SWEEP,
                resume_after_id=calculation.resume_after_id,
                rows_done=calculation.rows_done,
                added=calculation.added,
                removed=calculation.removed,
            )
            transaction.on_commit(lambda pk=fresh.pk: enqueue("segments.recompute", pk))
            restarted.append(fresh.pk)
    return restarted
