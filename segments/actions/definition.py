"""Segments themselves: their names and rules checked, created, changed and deleted, and their
recomputes requested."""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Lower

from .. import domain
from ..models import (
    JobStatus,
    Segment,
    SegmentCalculation,
    SegmentHistory,
    SegmentMembership,
)
from ..rules import RuleError, compile_for_store, parse_rule, referenced_segments
from ..rules.errors import RuleProblem
from ..usage import segment_usages
from .errors import SegmentConflict, SegmentError, SegmentInUse

logger = logging.getLogger(__name__)


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
