"""Walking a run through its version's graph, and resuming waits.

A walk runs under the run's row lock in ONE transaction: every step row, every side effect (a
membership change, an outbox email) and the run's position commit together or not at all. A
worker lost mid-walk leaves the run where the last commit put it; the redelivered task (or the
stalled-run sweep) walks it again from there, so nothing is done twice. Emails leave only after
the commit (see ``delivery``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from config.logs import bind, log_context
from config.metrics import STEPS, count_after_commit
from segments.domain import DomainEvent

from ..context import EvaluationContext
from ..effects import ApplyEffects, EffectFailed, Effects
from ..models import Edge, Node, Run, RunInFlight, RunStep
from ..nodes import REGISTRY
from ..nodes.base import ExecutionContext
from .delivery import deliver_email

logger = logging.getLogger(__name__)

MAX_STEPS_PER_WALK = 200
_GRAPH_CACHE_SIZE = 512


@dataclass(frozen=True)
class Graph:
    """A published version's nodes, parsed configurations and edges (immutable, so cacheable)."""

    nodes: dict[int, Node]
    configs: dict[int, Any]
    edges: dict[tuple[int, str], int]


_graphs: dict[int, Graph] = {}


def parse_configs(nodes: dict[int, Node]) -> dict[int, Any]:
    """Each node's parsed configuration (None for an unknown type or one that does not parse)."""
    configs = {}
    for pk, node in nodes.items():
        node_type = REGISTRY.get(node.type)
        configs[pk] = node_type.parse(node.config)[0] if node_type else None
    return configs


def read_graph(version_id: int) -> Graph:
    """Read a version's graph, drafts included, uncached (2 queries)."""
    nodes = {n.pk: n for n in Node.objects.filter(version_id=version_id).order_by("pk")}
    edges = {
        (source, branch): target
        for source, branch, target in Edge.objects.filter(version_id=version_id)
        .order_by()
        .values_list("source_id", "branch", "target_id")
    }
    return Graph(nodes, parse_configs(nodes), edges)


def graph_for(version_id: int) -> Graph:
    """Return the graph of a published version, loaded once per process (2 queries)."""
    graph = _graphs.get(version_id)
    if graph is None:
        graph = read_graph(version_id)
        if len(_graphs) >= _GRAPH_CACHE_SIZE:
            _graphs.clear()
        _graphs[version_id] = graph
    return graph


def load_graphs(version_ids) -> None:
    """Read the graphs of these published versions that this process has not cached: two
    statements for all of them (a batch's runs of many experiences)."""
    missing = sorted(set(version_ids) - set(_graphs))
    if not missing:
        return
    nodes: dict[int, dict[int, Node]] = {v: {} for v in missing}
    for n in Node.objects.filter(version_id__in=missing).order_by():
        nodes[n.version_id][n.pk] = n
    edges: dict[int, dict[tuple[int, str], int]] = {v: {} for v in missing}
    for version, source, branch, target in (
        Edge.objects.filter(version_id__in=missing)
        .order_by()
        .values_list("version_id", "source_id", "branch", "target_id")
    ):
        edges[version][(source, branch)] = target
    if len(_graphs) + len(missing) > _GRAPH_CACHE_SIZE:
        _graphs.clear()
    for version in missing:
        _graphs[version] = Graph(nodes[version], parse_configs(nodes[version]), edges[version])


class NodeFailed(Exception):
    pass


def walk(
    run_id: int,
    ctx: EvaluationContext,
    effects: Effects | None = None,
    *,
    month: dt.date | None = None,
) -> str:
    """Execute the run's nodes until it waits, ends or fails; return its status.

    ``effects``: how the nodes' effects are carried out (by default for real, ``ApplyEffects``).
    ``month``: the run's partition, when the caller knows it (else read from ``RunInFlight``).
    Every line logged meanwhile names the run.
    """
    with log_context(run_id=run_id):
        return _walk(run_id, ctx, effects, month)


def run_by_id(run_id: int, month: dt.date | None = None):
    """The run's rows by id, read from its month's partition only.

    Runs are partitioned by month, so a run read by its id alone probes every month's primary
    key. A walk only moves a running run, which ``RunInFlight`` names with its month (one small
    index); a run no longer in flight (a redelivered task of a finished run) is read by id alone.
    """
    if month is None:
        month = RunInFlight.objects.filter(run_id=run_id).values_list("month", flat=True).first()
    runs = Run.objects.filter(pk=run_id)
    return runs.filter(month=month) if month is not None else runs


def _walk(run_id: int, ctx: EvaluationContext, effects: Effects | None, month) -> str:
    applier = effects if effects is not None else ApplyEffects()
    with transaction.atomic():
        run = (
            run_by_id(run_id, month)
            .select_for_update(of=("self",))
            .select_related("experience")
            .first()
        )
        if run is None:
            return "missing"
        bind(store_id=run.store_id, event_id=run.trigger_event_key)
        if run.status != Run.Status.RUNNING:
            return run.status
        graph = graph_for(run.version_id)
        existing = {  # (the run's month: only its partition is read)
            s.node_id: s
            for s in RunStep.objects.filter(
                run=run, rotation=run.rotation, month=run.month
            ).order_by()
        }
        event = DomainEvent.from_dict(run.trigger_event)
        now = timezone.now()
        steps: list[RunStep] = []
        for _ in range(MAX_STEPS_PER_WALK):
            node = graph.nodes[run.current_node_id]
            step = existing.get(node.pk)
            if step is not None and step.status == RunStep.Status.DONE:
                branch, end = step.branch, False  # already done: only move on
            else:
                step = step or RunStep(
                    run=run,
                    node=node,
                    rotation=run.rotation,
                    month=run.month,
                    status=RunStep.Status.WAITING,
                )
                if step.pk:
                    step.attempt += 1
                node_type = REGISTRY.get(node.type)
                if node_type is not None and node_type.writes:
                    # Its rows may point at this step: write the steps so far, in order, first.
                    RunStep.objects.bulk_create([s for s in steps if not s.pk])
                    if not step.pk:
                        step.save()
                try:
                    outcome = _execute(
                        run, node, graph.configs[node.pk], step, ctx, event, now, applier
                    )
                except NodeFailed as failure:
                    count_after_commit(STEPS, node_type=node.type, outcome="failed")
                    _fail(run, step, node, failure, now)
                    steps.append(step)
                    break
                step.result, step.branch = outcome.result, outcome.branch
                count_after_commit(
                    STEPS, node_type=node.type, outcome="waiting" if outcome.waits else "done"
                )
                if outcome.waits:
                    step.status = RunStep.Status.WAITING
                    step.due_at, step.wait_for = outcome.wait_until, outcome.wait_for
                    steps.append(step)
                    run.status = Run.Status.WAITING
                    break
                step.status, step.finished_at = RunStep.Status.DONE, now
                steps.append(step)
                branch, end = outcome.branch, outcome.end
            target = None if end else graph.edges.get((node.pk, branch))
            if target is None:
                run.status, run.finished_at = Run.Status.COMPLETED, now
                break
            run.current_node_id = target
        for step in steps:  # steps written early (an email points at its step) or on a retry
            if step.pk:
                step.save()
        RunStep.objects.bulk_create([s for s in steps if not s.pk])
        run.save(
            update_fields=["status", "finished_at", "current_node", "exit_reason", "updated_at"]
        )
    for delivery_id in getattr(applier, "delivery_ids", []):
        deliver_email(delivery_id)
    return run.status


def _execute(run, node, config, step, ctx, event, now, effects: Effects):
    node_type = REGISTRY.get(node.type)
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
        if node_type is None or (node_type.config_model is not None and config is None):
            raise ValueError(f"node type {node.type!r} or its configuration is invalid")
        outcome = node_type.execute(config, exec_ctx)
        if not outcome.effects:
            return outcome
        with transaction.atomic():  # a failed effect undoes only its own writes
            applied = effects.apply(outcome.effects)
            failed = [a for a in applied if isinstance(a, EffectFailed)]
            if failed:
                raise failed[0]
        return node_type.settle(config, outcome, applied)
    except DatabaseError:
        raise
    except Exception as exc:  # noqa: BLE001 - a node's own failure ends the run, visibly
        logger.exception("Run %s failed at node %s", run.pk, node.key)
        raise NodeFailed(str(exc)) from exc


def _fail(run: Run, step: RunStep, node: Node, failure: NodeFailed, now: dt.datetime) -> None:
    step.status, step.error, step.finished_at = RunStep.Status.FAILED, str(failure)[:2000], now
    run.status, run.finished_at = Run.Status.FAILED, now
    run.exit_reason = f"{node.key}: {failure}"[:200]


def advance_run(run_id: int, month: dt.date | None = None) -> str:
    """Walk a run from where it stands (for tasks and sweeps: loads its own context)."""
    run = run_by_id(run_id, month).select_related("store", "customer").first()
    if run is None:
        return "missing"
    ctx = EvaluationContext(run.store, run.customer, run.trigger_event.get("data") or {})
    return walk(run_id, ctx, month=run.month)


# --- waits -------------------------------------------------------------------------------------


def finish_wait(step: RunStep, why: str, now: dt.datetime, *, branch: str | None = None) -> None:
    """Close a waiting step and move its run on (the caller holds both row locks).

    ``branch``: the branch the resuming event chose (a cross-sell's answer); by default the one
    the step recorded when it started waiting (its timer's branch).
    """
    step.status = RunStep.Status.DONE
    step.finished_at = now
    step.result = {**step.result, "resumed": why}
    if branch is not None:
        step.branch = branch
    step.save(update_fields=["status", "finished_at", "result", "branch"])
    run = step.run
    target = graph_for(run.version_id).edges.get((step.node_id, step.branch))
    if target is None:
        run.status, run.finished_at = Run.Status.COMPLETED, now
    else:
        run.status, run.current_node_id = Run.Status.RUNNING, target
    run.save(update_fields=["status", "finished_at", "current_node", "updated_at"])


def resume_due_waits(now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Resume waiting steps that are due; return the runs to walk (enqueued after commit).

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
            finish_wait(step, "due", now)
        walks = [(s.run_id, s.run.month) for s in steps if s.run.status == Run.Status.RUNNING]
        transaction.on_commit(lambda: enqueue_walks(walks))
    return [run_id for run_id, _ in walks]


def resume_stalled_runs(older_than: dt.timedelta = dt.timedelta(minutes=5)) -> list[int]:
    """Re-enqueue running runs nobody has moved for a while (their worker died)."""
    cutoff = timezone.now() - older_than
    walks = list(
        Run.objects.filter(status=Run.Status.RUNNING, updated_at__lt=cutoff).values_list(
            "pk", "month"
        )[:500]
    )
    enqueue_walks(walks)
    return [run_id for run_id, _ in walks]


def enqueue_walks(walks: list[tuple[int, dt.date]]) -> None:
    """A walk task per run, naming its month so that the task reads one partition."""
    from ..tasks import advance_run as advance_run_task

    for run_id, month in walks:
        advance_run_task.delay(run_id, month.isoformat())
