"""The engine: on a domain event, end or resume the customer's waiting runs, start the runs of the
live experiences whose trigger matches, and walk each run step by step.

Exactly once: a run is unique per (experience, triggering event); a step is unique per
(run, node, rotation); each step, its side effect (a membership change, an outbox email) and the
run's move to the next node commit in one transaction under the run's row lock. A redelivered
task finds the run where the last commit left it and carries on from there.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from segments import domain
from segments.domain import DomainEvent
from segments.models import Customer, Store

from ..conditions import evaluate
from ..context import EvaluationContext
from ..models import ChainLimitHit, Edge, Experience, Run, RunStep, TriggerIndex
from ..nodes import REGISTRY
from ..nodes.base import ExecutionContext, bucket
from .delivery import deliver_email

logger = logging.getLogger(__name__)

MAX_STEPS_PER_WALK = 200


def max_chain_depth() -> int:
    return getattr(settings, "EXPERIENCES_MAX_CHAIN_DEPTH", 5)


# --- deciding ----------------------------------------------------------------------------------


@dataclass
class EntryDecision:
    """Whether the trigger lets the customer in, and why (condition by condition)."""

    enters: bool
    reason: str = ""
    conditions: list[list[dict[str, Any]]] = field(default_factory=list)


def evaluate_trigger(
    trigger_node, event: DomainEvent | None, ctx: EvaluationContext
) -> EntryDecision:
    """Test the trigger's event filter and conditions for one customer."""
    trigger = REGISTRY["trigger"]
    config, errors = trigger.parse(trigger_node.config)
    if config is None:
        return EntryDecision(False, f"the trigger configuration is invalid: {errors}")
    if event is not None:
        matches, why = trigger.matches_event(config, event)
        if not matches:
            return EntryDecision(False, f"the event does not match the trigger: {why}")
    passed, trace = evaluate(config.conditions, ctx)
    plain = [[r.as_dict() for r in block] for block in trace]
    if config.conditions and not passed:
        return EntryDecision(False, "no OR-block of the trigger conditions held", plain)
    return EntryDecision(True, "the trigger conditions held", plain)


def reentry_refusal(experience: Experience, last_run: dict | None, now: dt.datetime) -> str:
    """Return why the re-entry policy keeps the customer out, or ""."""
    if last_run is None or experience.reentry == Experience.Reentry.EVERY_TIME:
        return ""
    if experience.reentry == Experience.Reentry.ONCE:
        return "re-entry: the customer already entered once"
    since = now - last_run["started_at"]
    if since < dt.timedelta(days=experience.reentry_days or 0):
        return f"re-entry: entered {since.days} day(s) ago, less than {experience.reentry_days}"
    return ""


def held_out(experience: Experience, customer_id: int) -> bool:
    return bucket("holdout", experience.pk, customer_id) < experience.holdout_percent


# --- handling an event -------------------------------------------------------------------------


def process_event(event: DomainEvent) -> list[int]:
    """Handle one domain event for its customer; return the ids of the runs it started or moved.

    Safe to repeat: a second delivery of the same event starts nothing new and only continues
    runs the first delivery left unfinished.
    """
    if not event.customer_id:
        return []
    store = Store.objects.filter(pk=event.store_id, experiences_enabled=True).first()
    if store is None:
        return []
    customer = Customer.objects.filter(pk=event.customer_id, store=store).first()
    if customer is None:
        return []
    ctx = EvaluationContext(store, customer, event.data)
    touched = _handle_active_runs(event, customer)

    entries = list(
        TriggerIndex.objects.filter(store=store, event=event.name).select_related(
            "experience", "node"
        )
    )
    if not entries:
        for run_id in touched:
            walk(run_id, ctx)
        return touched
    earlier = dict(
        Run.objects.filter(customer=customer, trigger_event_key=event.key).values_list(
            "experience_id", "pk"
        )
    )
    for entry in entries:
        if entry.experience_id in earlier:  # a redelivery: continue what was started
            touched.append(earlier[entry.experience_id])
            continue
        decision = evaluate_trigger(entry.node, event, ctx)
        if decision.enters and event.depth >= max_chain_depth():
            _record_chain_limit(entry.experience, customer, event)
        elif decision.enters:
            run = start_run(entry, customer, event)
            if run is not None:
                touched.append(run.pk)
    for run_id in touched:
        walk(run_id, ctx)
    return touched


def _record_chain_limit(experience: Experience, customer: Customer, event: DomainEvent) -> None:
    ChainLimitHit.objects.get_or_create(
        experience=experience,
        event_key=event.key,
        defaults={
            "store_id": experience.store_id,
            "customer": customer,
            "event_name": event.name,
            "chain_origin": event.chain_origin,
            "depth": event.depth,
        },
    )
    logger.warning(
        "Chain depth %s reached: experience %s not started for %s",
        event.depth,
        experience.pk,
        event.key,
    )


def start_run(entry: TriggerIndex, customer: Customer, event: DomainEvent) -> Run | None:
    """Start a run unless re-entry forbids it; held-out customers get a finished held_out run.

    The customer's row lock serialises concurrent starts for one customer; the unique
    constraints make a duplicate impossible even without it.
    """
    experience = entry.experience
    now = timezone.now()
    try:
        with transaction.atomic():
            Customer.objects.select_for_update(no_key=True).filter(pk=customer.pk).values_list(
                "pk"
            ).get()
            last = (
                Run.objects.filter(experience=experience, customer=customer)
                .order_by("-rotation")
                .values("rotation", "started_at", "trigger_event_key", "pk")
                .first()
            )
            if last is not None and last["trigger_event_key"] == event.key:
                return Run.objects.get(pk=last["pk"])
            if reentry_refusal(experience, last, now):
                return None
            out = held_out(experience, customer.pk)
            return Run.objects.create(
                store_id=experience.store_id,
                experience=experience,
                version_id=entry.version_id,
                customer=customer,
                trigger_event_key=event.key,
                trigger_event_name=event.name,
                trigger_event=event.as_dict(),
                chain_origin=event.chain_origin,
                depth=event.depth,
                status=Run.Status.HELD_OUT if out else Run.Status.RUNNING,
                rotation=(last["rotation"] + 1) if last else 1,
                current_node_id=entry.node_id,
                finished_at=now if out else None,
            )
    except IntegrityError:
        # Another worker started it first: the constraint decided.
        return Run.objects.filter(experience=experience, trigger_event_key=event.key).first()


def _handle_active_runs(event: DomainEvent, customer: Customer) -> list[int]:
    """End runs whose exit criteria this event meets; resume waits for the next order."""
    active = list(
        Run.objects.filter(customer=customer, status__in=Run.ACTIVE)
        .exclude(trigger_event_key=event.key)
        .select_related("experience")
    )
    if not active:
        return []
    exiting = [r.pk for r in active if _meets_exit(r.experience.exit_criteria, event)]
    resumed: list[int] = []
    now = timezone.now()
    with transaction.atomic():
        if exiting:
            runs = Run.objects.select_for_update().filter(pk__in=exiting, status__in=Run.ACTIVE)
            ids = list(runs.order_by("pk").values_list("pk", flat=True))
            RunStep.objects.filter(run_id__in=ids, status=RunStep.Status.WAITING).update(
                status=RunStep.Status.CANCELLED, finished_at=now
            )
            Run.objects.filter(pk__in=ids).update(
                status=Run.Status.EXITED,
                exit_reason=f"exit criterion met by {event.name}",
                finished_at=now,
            )
        if event.name == domain.ORDER_PROCESSED:
            steps = (
                RunStep.objects.select_for_update(of=("self", "run"))
                .select_related("run")
                .filter(
                    run__in=[r.pk for r in active if r.pk not in exiting],
                    run__status=Run.Status.WAITING,
                    status=RunStep.Status.WAITING,
                    wait_for=domain.ORDER_PROCESSED,
                )
                .order_by("pk")
            )
            for step in steps:
                _finish_wait(step, f"next order ({event.key})", now)
                resumed.append(step.run_id)
    return resumed


def _meets_exit(criteria: list[str], event: DomainEvent) -> bool:
    segment_id = event.data.get("segment_id")
    for item in criteria or []:
        if item == event.name:
            return True
        if item == f"left_segment:{segment_id}" and event.name == domain.CUSTOMER_LEFT_SEGMENT:
            return True
        if (
            item == f"entered_segment:{segment_id}"
            and event.name == domain.CUSTOMER_ENTERED_SEGMENT
        ):
            return True
    return False


# --- waiting -----------------------------------------------------------------------------------


def _finish_wait(step: RunStep, why: str, now: dt.datetime) -> None:
    """Close a waiting step and move its run on (the caller holds both row locks)."""
    step.status = RunStep.Status.DONE
    step.finished_at = now
    step.result = {**step.result, "resumed": why}
    step.save(update_fields=["status", "finished_at", "result"])
    run = step.run
    target = (
        Edge.objects.filter(source_id=step.node_id, branch=step.branch)
        .values_list("target_id", flat=True)
        .first()
    )
    if target is None:
        run.status, run.finished_at = Run.Status.COMPLETED, now
    else:
        run.status, run.current_node_id = Run.Status.RUNNING, target
    run.save(update_fields=["status", "finished_at", "current_node", "updated_at"])


def resume_due_waits(now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Resume waiting steps that are due; return the runs to walk.

    Rows are claimed with SKIP LOCKED, so overlapping sweeps share the work and never resume a
    step twice.
    """
    now = now or timezone.now()
    with transaction.atomic():
        steps = list(
            RunStep.objects.select_for_update(skip_locked=True, of=("self", "run"))
            .select_related("run")
            .filter(status=RunStep.Status.WAITING, due_at__lte=now, run__status=Run.Status.WAITING)
            .order_by("due_at", "pk")[:limit]
        )
        for step in steps:
            _finish_wait(step, "due", now)
        run_ids = [s.run_id for s in steps if s.run.status == Run.Status.RUNNING]
        transaction.on_commit(lambda: _enqueue_walks(run_ids))
    return run_ids


def resume_stalled_runs(older_than: dt.timedelta = dt.timedelta(minutes=5)) -> list[int]:
    """Re-enqueue running runs nobody has moved for a while (their worker died)."""
    cutoff = timezone.now() - older_than
    run_ids = list(
        Run.objects.filter(status=Run.Status.RUNNING, updated_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:500]
    )
    _enqueue_walks(run_ids)
    return run_ids


def _enqueue_walks(run_ids: list[int]) -> None:
    from ..tasks import advance_run as advance_run_task

    for run_id in run_ids:
        advance_run_task.delay(run_id)


# --- walking -----------------------------------------------------------------------------------


def advance_run(run_id: int) -> str:
    """Walk a run from where it stands (for tasks: loads its own context)."""
    run = Run.objects.select_related("store", "customer").filter(pk=run_id).first()
    if run is None:
        return "missing"
    ctx = EvaluationContext(run.store, run.customer, run.trigger_event.get("data") or {})
    return walk(run_id, ctx)


def walk(run_id: int, ctx: EvaluationContext) -> str:
    """Execute the run's nodes one step per transaction until it waits, ends or fails."""
    status = ""
    for _ in range(MAX_STEPS_PER_WALK):
        status, delivery_id = _step(run_id, ctx)
        if delivery_id:
            deliver_email(delivery_id)
        if status != Run.Status.RUNNING:
            return status
    return status


def _step(run_id: int, ctx: EvaluationContext) -> tuple[str, int | None]:
    now = timezone.now()
    with transaction.atomic():
        run = (
            Run.objects.select_for_update(of=("self",))
            .select_related("current_node", "experience")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.status != Run.Status.RUNNING:
            return (run.status if run else "missing"), None
        node = run.current_node
        node_type = REGISTRY.get(node.type)
        step, created = RunStep.objects.get_or_create(
            run=run, node=node, rotation=run.rotation, defaults={"status": RunStep.Status.WAITING}
        )
        if not created:
            # A crash left this step written but not finished: count the attempt, do it again.
            step.attempt += 1
        event = DomainEvent.from_dict(run.trigger_event)
        exec_ctx = ExecutionContext(
            run=run,
            node=node,
            step=step,
            experience=run.experience,
            evaluation=ctx,
            event=event,
            now=now,
        )
        try:
            with transaction.atomic():
                config, errors = (
                    node_type.parse(node.config) if node_type else (None, {"type": ["unknown"]})
                )
                if errors:
                    raise ValueError(f"invalid configuration: {errors}")
                outcome = node_type.execute(config, exec_ctx)
        except DatabaseError:
            raise
        except Exception as exc:  # noqa: BLE001 - a node's own failure ends the run, visibly
            logger.exception("Run %s failed at node %s", run.pk, node.key)
            step.status, step.error, step.finished_at = RunStep.Status.FAILED, str(exc)[:2000], now
            step.save()
            run.status, run.finished_at, run.exit_reason = (
                Run.Status.FAILED,
                now,
                f"{node.key}: {exc}"[:200],
            )
            run.save(update_fields=["status", "finished_at", "exit_reason", "updated_at"])
            return run.status, None

        step.result = outcome.result
        step.branch = outcome.branch
        if outcome.waits:
            step.status, step.due_at, step.wait_for = (
                RunStep.Status.WAITING,
                outcome.wait_until,
                outcome.wait_for,
            )
            step.save()
            run.status = Run.Status.WAITING
            run.save(update_fields=["status", "updated_at"])
            return run.status, None
        step.status, step.finished_at = RunStep.Status.DONE, now
        step.save()
        target = None
        if not outcome.end:
            target = (
                Edge.objects.filter(source=node, branch=outcome.branch)
                .values_list("target_id", flat=True)
                .first()
            )
        if target is None:
            run.status, run.finished_at = Run.Status.COMPLETED, now
        else:
            run.current_node_id = target
        run.save(update_fields=["status", "finished_at", "current_node", "updated_at"])
    # The email is sent only after its step committed; the outbox row is the proof it may go.
    return run.status, outcome.result.get("email_delivery_id")
