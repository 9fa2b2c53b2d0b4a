"""Batch walks: the runs that a batch of events starts, started and walked together.

For the events of a batch that start runs afresh (the customer's first event in the batch, no run
in flight), the engine reads what they need once (customers, trigger index entries, graphs, the
triggering orders), evaluates every trigger of every event in one statement per store, and then,
in ONE transaction for the whole batch:

- locks the customers and reads what re-entry and a redelivery need (one round trip carrying
  two statements), inserts the runs (one);
- walks all runs side by side, level by level: the condition nodes of a level are evaluated in one
  statement per store, the other nodes decide in Python, the steps whose effects point at them are
  inserted (one statement) and every effect of the level is applied by the ``Effects`` (one
  statement per kind: memberships with their history, outbox emails; grants in one call of the
  ledger, ``rewards.actions.grant_rewards``, a few statements for the whole level);
- writes the remaining steps (one) and the runs' positions (one).

So the statements grow with the depth of the graphs, not with the number of runs, and not at all
with experiences that do not listen. Every promise of the one-run walk holds: the unique keys of
runs and steps are the database's; each side effect commits with its step; a worker killed
mid-batch leaves nothing (the redelivery starts over); a node that fails fails its own run only.
Should the batch's transaction fail (a constraint, a lock timeout, a bug), its events are handled
again one by one by ``engine.process_event``, so one bad run never holds back the others.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from config.metrics import RUNS_STARTED, STEPS, count_after_commit
from segments.actions import member_counts_at_end, take_member_counts
from segments.domain import DomainEvent
from segments.models import Customer, Order

from ..conditions import Subject, evaluate_many
from ..context import EvaluationContext
from ..effects import ApplyEffects, EffectFailed, Effects
from ..models import Experience, Run, RunRotation, RunStep, TriggerIndex, month_of
from ..nodes import REGISTRY
from ..nodes.base import ExecutionContext, Outcome
from .delivery import deliver_emails
from .walker import MAX_STEPS_PER_WALK, NodeFailed, graph_for, load_graphs

logger = logging.getLogger(__name__)


@dataclass
class Walk:
    """One run walked in the batch, with what its nodes read."""

    run: Run
    ctx: EvaluationContext
    event: DomainEvent
    steps: list[RunStep] = field(default_factory=list)


def start_and_walk(
    items: list[tuple[DomainEvent, Customer, list[TriggerIndex]]],
    effects: Effects | None = None,
) -> list[int]:
    """Start and walk the runs of these (event, customer, entering experiences), each customer
    named once and without runs in flight; return the ids of the runs started and walked."""
    if not items:
        return []
    applier = effects if effects is not None else ApplyEffects()
    now = timezone.now()
    # Segment counts are written last: concurrent batches adding to one segment overlap.
    with transaction.atomic(), member_counts_at_end():
        runs = _start(items, now)
        started = [r.pk for r in runs if r.status == Run.Status.RUNNING]
        walks = _walks(runs, items)
        load_graphs({w.run.version_id for w in walks})
        _walk(walks, now, applier)
    deliver_emails(getattr(applier, "delivery_ids", []))
    return started


def _start(items, now) -> list[Run]:
    from .engine import reentry_refusal

    customer_ids = sorted({c.pk for _, c, _ in items})
    experience_ids = sorted({e.experience_id for _, _, entries in items for e in entries})
    keys = [event.key for event, _, _ in items]
    months = sorted({month_of(event.occurred_at) for event, _, _ in items})
    # One round trip, two statements: lock the customers (in id order), then read each
    # (experience, customer)'s latest rotation (re-entry; one row each, unpartitioned) and the
    # runs these events already started (a redelivery; only the events' months' partitions).
    # Sent together but executed one after the other, each with its own snapshot, so the read
    # sees every run committed by whoever held a lock before us (one statement locking and
    # reading would read from before the wait).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {Customer._meta.db_table} WHERE id = ANY(%s)"
            " ORDER BY id FOR NO KEY UPDATE;"
            " (SELECT true, experience_id, customer_id, rotation, started_at, ''"
            f" FROM {RunRotation._meta.db_table}"
            " WHERE customer_id = ANY(%s) AND experience_id = ANY(%s))"
            " UNION ALL (SELECT false, experience_id, customer_id, 0, NULL, trigger_event_key"
            f" FROM {Run._meta.db_table}"
            " WHERE trigger_event_key = ANY(%s) AND experience_id = ANY(%s)"
            " AND month = ANY(%s::date[]))",
            [customer_ids, customer_ids, experience_ids, keys, experience_ids, months],
        )
        cursor.nextset()  # past the locked ids
        last, already = {}, set()
        for is_last, exp, cust, rot, at, key in cursor.fetchall():
            if is_last:
                last[(exp, cust)] = {"rotation": rot, "started_at": at}
            else:
                already.add((exp, key))
    runs = []
    for event, customer, entries in items:
        for entry in entries:
            experience: Experience = entry.experience
            previous = last.get((experience.pk, customer.pk))
            if (experience.pk, event.key) in already or reentry_refusal(experience, previous, now):
                continue
            runs.append(new_run(event, customer, entry, previous, now))
    bump_rotations(runs, now)
    created = Run.objects.bulk_create(runs)
    count_runs_started(created)
    return created


def bump_rotations(runs: list[Run], now) -> None:
    """Count each run as its customer's next entry in its experience: bump the rotation
    counters (one statement; the caller holds the customers' row locks) and give each run the
    rotation its counter returns, so no two runs of a customer in an experience share one."""
    if not runs:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {RunRotation._meta.db_table} AS r"
            " (experience_id, customer_id, rotation, started_at)"
            " SELECT e, c, 1, %s FROM unnest(%s::bigint[], %s::bigint[]) AS u(e, c)"
            " ON CONFLICT (experience_id, customer_id) DO UPDATE"
            " SET rotation = r.rotation + 1, started_at = EXCLUDED.started_at"
            " RETURNING experience_id, customer_id, rotation",
            [now, [r.experience_id for r in runs], [r.customer_id for r in runs]],
        )
        rotations = {(e, c): rot for e, c, rot in cursor.fetchall()}
    for run in runs:
        run.rotation = rotations[(run.experience_id, run.customer_id)]


def new_run(event: DomainEvent, customer: Customer, entry: TriggerIndex, previous, now) -> Run:
    """The run an event starts in an entry's experience (held out, or running from the entry
    node); ``previous``: the customer's last run there (its ``rotation``), if any."""
    from .engine import held_out  # the engine imports this module

    experience: Experience = entry.experience
    out = held_out(experience, customer.pk)
    return Run(
        store_id=experience.store_id,
        experience=experience,
        version_id=entry.version_id,
        customer=customer,
        trigger_event_key=event.key,
        trigger_event_name=event.name,
        trigger_event=event.as_dict(),
        month=month_of(event.occurred_at),
        chain_origin=event.chain_origin,
        depth=event.depth,
        status=Run.Status.HELD_OUT if out else Run.Status.RUNNING,
        rotation=(previous["rotation"] + 1) if previous else 1,
        current_node_id=entry.node_id,
        finished_at=now if out else None,
    )


def count_runs_started(runs: list[Run]) -> None:
    """The metrics of runs started (counted once the transaction commits)."""
    for status, started in Counter(run.status for run in runs).items():
        count_after_commit(RUNS_STARTED, started, status=status)


STEP_OUTCOMES = {RunStep.Status.DONE: "done", RunStep.Status.WAITING: "waiting"}


def _count_steps(walks: list[Walk]) -> None:
    """The metrics of the steps walked (counted once the batch commits)."""
    tally = Counter(
        (step.node.type, STEP_OUTCOMES.get(step.status, "failed"))
        for w in walks
        for step in w.steps
    )
    for (node_type, outcome), steps in tally.items():
        count_after_commit(STEPS, steps, node_type=node_type, outcome=outcome)


def _walks(runs: list[Run], items) -> list[Walk]:
    """The runs to walk, each with its context; the triggering orders are read in one statement
    for the batch if a node asks for one."""
    by_key = {(event.key, customer.pk): (event, customer) for event, customer, _ in items}
    walks = []
    contexts: dict[str, EvaluationContext] = {}
    for run in runs:
        if run.status != Run.Status.RUNNING:
            continue
        event, customer = by_key[(run.trigger_event_key, run.customer_id)]
        ctx = contexts.get(event.key)
        if ctx is None:
            ctx = contexts[event.key] = EvaluationContext(customer.store, customer, event.data)
        walks.append(Walk(run, ctx, event))
    loaded = False

    def load_orders() -> None:
        """The triggering orders of the whole batch, read once, when a node first needs one."""
        nonlocal loaded
        if loaded:
            return
        loaded = True
        order_ids = {
            w.event.data["order_id"] for w in walks if isinstance(w.event.data.get("order_id"), int)
        }
        orders = Order.objects.in_bulk(order_ids) if order_ids else {}
        for w in walks:
            w.ctx.load_batch_orders = None
            order = orders.get(w.event.data.get("order_id"))
            if order is not None and order.customer_id == w.run.customer_id:
                w.ctx.__dict__["order"] = order  # the cached_property, read for the batch

    for w in walks:
        w.ctx.load_batch_orders = load_orders
    return walks


def _walk(walks: list[Walk], now, effects: Effects) -> None:
    active = list(walks)
    finished: list[Walk] = []
    early: list[RunStep] = []  # steps written before their outcome was known
    for _ in range(MAX_STEPS_PER_WALK):
        if not active:
            break
        tested = _test_conditions(active)
        decided: list[tuple[Walk, Any, Outcome | NodeFailed]] = []
        for w in active:
            graph = graph_for(w.run.version_id)
            node = graph.nodes[w.run.current_node_id]
            config = graph.configs[node.pk]
            step = RunStep(
                run=w.run,
                node=node,
                rotation=w.run.rotation,
                month=w.run.month,
                status=RunStep.Status.WAITING,
            )
            w.steps.append(step)
            decided.append((w, config, _decide(w, node, config, step, now, tested.get(id(w)))))
        with_effects = [
            (w, config, o) for w, config, o in decided if isinstance(o, Outcome) and o.effects
        ]
        if with_effects:
            # Effects that point at their steps (an email, a grant): write every step so far of
            # these runs, in order. (A membership names its run, not its step.)
            pointing = [w for w, _, o in with_effects if any(e.needs_step_row for e in o.effects)]
            if pointing:
                RunStep.objects.bulk_create([s for w in pointing for s in w.steps if s.pk is None])
                early += [w.steps[-1] for w in pointing]
            flat = [e for _, _, o in with_effects for e in o.effects]
            answers = iter(effects.apply(flat))
            settled = {}
            for w, config, outcome in with_effects:
                applied = [next(answers) for _ in outcome.effects]
                failed = [a for a in applied if isinstance(a, EffectFailed)]
                node_type = REGISTRY[w.steps[-1].node.type]
                settled[id(w)] = (
                    NodeFailed(str(failed[0]))
                    if failed
                    else node_type.settle(config, outcome, applied)
                )
            decided = [(w, c, settled.get(id(w), o)) for w, c, o in decided]
        still = []
        for w, _, outcome in decided:
            if _advance(w, outcome, now):
                still.append(w)
            else:
                finished.append(w)
        active = still
    for w in active:  # more nodes than a walk takes: the rest is walked by the stalled sweep
        finished.append(w)
    _count_steps(finished)
    _write_steps_and_runs(
        [s for w in finished for s in w.steps if s.pk is None],
        early,
        sorted((w.run for w in finished), key=lambda r: r.pk),
        now,
    )


def _write_steps_and_runs(late: list[RunStep], early: list[RunStep], runs: list[Run], now):
    """Insert the steps not yet written, update those written before their outcome was known,
    and every run's position, then the segments' counts: one round trip (an INSERT, an UPDATE of
    the runs whose data-modifying WITH updates the early steps, always run to completion, and
    the counts' UPDATE)."""
    statements, params = [], []
    if late:
        statements.append(
            f"INSERT INTO {RunStep._meta.db_table} (run_id, node_id, rotation, status, attempt,"
            " scheduled_at, due_at, wait_for, branch, result, error, finished_at, month)"
            " SELECT run, node, rotation, status, 1, %s, due_at, wait_for, branch, result,"
            " error, finished_at, month FROM unnest(%s::bigint[], %s::bigint[], %s::int[],"
            " %s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::jsonb[], %s::text[],"
            " %s::timestamptz[], %s::date[]) AS u(run, node, rotation, status, due_at, wait_for,"
            " branch, result, error, finished_at, month)"
        )
        params += [
            now,
            [s.run.pk for s in late],
            [s.node_id for s in late],
            [s.rotation for s in late],
            [s.status for s in late],
            [s.due_at for s in late],
            [s.wait_for for s in late],
            [s.branch for s in late],
            [json.dumps(s.result, cls=DjangoJSONEncoder) for s in late],
            [s.error for s in late],
            [s.finished_at for s in late],
            [s.month for s in late],
        ]
    if runs:
        statements.append(
            f"WITH steps AS (UPDATE {RunStep._meta.db_table} s SET status = u.status,"
            " result = u.result, branch = u.branch, error = u.error, due_at = u.due_at,"
            " wait_for = u.wait_for, finished_at = u.finished_at"
            " FROM unnest(%s::bigint[], %s::text[], %s::jsonb[], %s::text[], %s::text[],"
            " %s::timestamptz[], %s::text[], %s::timestamptz[], %s::date[])"
            " AS u(id, status, result, branch, error, due_at, wait_for, finished_at, month)"
            " WHERE s.id = u.id AND s.month = u.month AND s.month = ANY(%s::date[])"
            " RETURNING s.id)"
            f" UPDATE {Run._meta.db_table} r SET status = u.status,"
            " finished_at = u.finished_at, current_node_id = u.node,"
            " exit_reason = u.exit_reason, updated_at = %s"
            " FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::bigint[],"
            " %s::text[], %s::date[]) AS u(id, status, finished_at, node, exit_reason, month)"
            " WHERE r.id = u.id AND r.month = u.month AND r.month = ANY(%s::date[])"
        )  # (the months again as a constant: the plan reads only their partitions)
        params += [
            [s.pk for s in early],
            [s.status for s in early],
            [json.dumps(s.result, cls=DjangoJSONEncoder) for s in early],
            [s.branch for s in early],
            [s.error for s in early],
            [s.due_at for s in early],
            [s.wait_for for s in early],
            [s.finished_at for s in early],
            [s.month for s in early],
            sorted({s.month for s in early}),
            now,
            [r.pk for r in runs],
            [r.status for r in runs],
            [r.finished_at for r in runs],
            [r.current_node_id for r in runs],
            [r.exit_reason for r in runs],
            [r.month for r in runs],
            sorted({r.month for r in runs}),
        ]
    counts = take_member_counts()  # the segments' counts, last: their rows are the hot ones
    if counts is not None:
        statements.append(counts[0])
        params += counts[1]
    if statements:
        with connection.cursor() as cursor:
            cursor.execute("; ".join(statements), params)


def _test_conditions(active: list[Walk]) -> dict[int, list]:
    """Evaluate the branches of every run standing on a condition node: one statement per
    store. Return, per walk, each branch's (passed, trace)."""
    by_store: dict[int, list[tuple[Walk, list]]] = {}
    for w in active:
        graph = graph_for(w.run.version_id)
        node = graph.nodes[w.run.current_node_id]
        config = graph.configs[node.pk]
        if node.type == "condition" and config is not None:
            by_store.setdefault(w.run.store_id, []).append(
                (w, [branch.conditions for branch in config.branches])
            )
    tested: dict[int, list] = {}
    for group in by_store.values():
        store = group[0][0].ctx.store
        subjects = [Subject.of(w.run.customer_id, w.event.data) for w, _ in group]
        answers = evaluate_many(store, subjects, [sets for _, sets in group])
        for (w, _), answer in zip(group, answers, strict=True):
            tested[id(w)] = answer
    return tested


def _decide(w: Walk, node, config, step, now, tested) -> Outcome | NodeFailed:
    node_type = REGISTRY.get(node.type)
    exec_ctx = ExecutionContext(
        run=w.run,
        node=node,
        step=step,
        experience=w.run.experience,
        evaluation=w.ctx,
        event=w.event,
        now=now,
        tested=tested,
    )
    try:
        if node_type is None or (node_type.config_model is not None and config is None):
            raise ValueError(f"node type {node.type!r} or its configuration is invalid")
        return node_type.execute(config, exec_ctx)
    except Exception as exc:  # noqa: BLE001 - a node's own failure ends its run, visibly
        logger.exception("Run %s failed at node %s", w.run.pk, node.key)
        return NodeFailed(str(exc))


def _advance(w: Walk, outcome: Outcome | NodeFailed, now) -> bool:
    """Record the node's outcome on its step and move the run; return whether it walks on."""
    run, step = w.run, w.steps[-1]
    if isinstance(outcome, NodeFailed):
        step.status, step.error, step.finished_at = RunStep.Status.FAILED, str(outcome)[:2000], now
        run.status, run.finished_at = Run.Status.FAILED, now
        run.exit_reason = f"{step.node.key}: {outcome}"[:200]
        return False
    step.result, step.branch = outcome.result, outcome.branch
    if outcome.waits:
        step.due_at, step.wait_for = outcome.wait_until, outcome.wait_for
        run.status = Run.Status.WAITING
        return False
    step.status, step.finished_at = RunStep.Status.DONE, now
    graph = graph_for(run.version_id)
    target = None if outcome.end else graph.edges.get((step.node_id, outcome.branch))
    if target is None:
        run.status, run.finished_at = Run.Status.COMPLETED, now
        return False
    run.current_node_id = target
    return True
