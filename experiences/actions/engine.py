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
from django.contrib.postgres.expressions import ArraySubquery
from django.db import IntegrityError, transaction
from django.db.models import OuterRef
from django.db.models.expressions import RawSQL
from django.utils import timezone

from config.logs import log_context
from segments import domain
from segments.domain import DomainEvent
from segments.models import Customer

from ..conditions import Subject, evaluate_many
from ..context import EvaluationContext
from ..models import (
    ChainLimitHit,
    Experience,
    Node,
    Run,
    RunInFlight,
    RunRotation,
    RunStep,
    TriggerIndex,
    month_of,
)
from ..nodes import REGISTRY
from ..nodes.base import bucket
from .batch import bump_rotations, count_runs_started, new_run, start_and_walk
from .walker import finish_wait, walk

logger = logging.getLogger(__name__)


def max_chain_depth() -> int:
    return getattr(settings, "EXPERIENCES_MAX_CHAIN_DEPTH", 5)


# --- deciding ----------------------------------------------------------------------------------


@dataclass
class EntryDecision:
    """Whether the trigger lets the customer in, and why (condition by condition)."""

    enters: bool
    reason: str = ""
    conditions: list[list[dict[str, Any]]] = field(default_factory=list)


_trigger_configs: dict[int, Any] = {}


def trigger_config(trigger_node):
    """Return the parsed configuration of a trigger node (published nodes never change)."""
    cached = _trigger_configs.get(trigger_node.pk)
    if cached is None:
        cached = REGISTRY["trigger"].parse(trigger_node.config)
        if len(_trigger_configs) > 4096:
            _trigger_configs.clear()
        _trigger_configs[trigger_node.pk] = cached
    return cached


def evaluate_trigger(
    trigger_node, event: DomainEvent | None, ctx: EvaluationContext
) -> EntryDecision:
    """Test the trigger's event filter and conditions for one customer."""
    return evaluate_triggers([trigger_node], event, ctx, with_values=True)[0]


def evaluate_triggers(
    trigger_nodes: list, event: DomainEvent | None, ctx: EvaluationContext, *, with_values=False
) -> list[EntryDecision]:
    """Test several triggers for one customer and event: every condition of every trigger whose
    event filter matches is evaluated in ONE statement (none when no trigger has conditions)."""
    decisions: list[EntryDecision | None] = []
    tested: list = []
    for node in trigger_nodes:
        config, errors = trigger_config(node)
        if config is None:
            why = f"the trigger configuration is invalid: {errors}"
            decisions.append(EntryDecision(False, why))
            continue
        if event is not None:
            matches, why = REGISTRY["trigger"].matches_event(config, event)
            if not matches:
                decisions.append(
                    EntryDecision(False, f"the event does not match the trigger: {why}")
                )
                continue
        decisions.append(None)
        tested.append(config.conditions)
    subject = Subject.of(ctx.customer.pk, event.data if event is not None else ctx.event_data)
    outcomes = iter(
        evaluate_many(ctx.store, [subject], [tested], with_values=with_values)[0] if tested else []
    )
    answer = []
    for node, decision in zip(trigger_nodes, decisions, strict=True):
        if decision is None:
            passed, trace = next(outcomes)
            plain = [[r.as_dict() for r in block] for block in trace]
            if trigger_config(node)[0].conditions and not passed:
                decision = EntryDecision(False, "no OR-block of the trigger conditions held", plain)
            else:
                decision = EntryDecision(True, "the trigger conditions held", plain)
        answer.append(decision)
    return answer


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


class Prefetched:
    """What a batch of events needs, read once for the batch: the customers (with their stores),
    their runs in flight, and the trigger index entries of each store and event name.
    (Segment memberships are read by the conditions' SQL itself.)

    Facts about a customer hold only until the engine handles that customer's first event (it may
    start runs and change memberships); later events of the same customer read afresh. The
    trigger index holds for the batch: a publish lands on the next batch.
    """

    def __init__(self, events: list[DomainEvent]):
        ids = {e.customer_id for e in events if e.customer_id}
        # The months of each customer's runs in flight, from the small in-flight table (one
        # index, not every month's partition); the runs are then read from those months only.
        in_flight = ArraySubquery(
            RunInFlight.objects.filter(customer_id=OuterRef("pk")).values("month")
        )
        scope = (
            tuple(sorted({e.store_id for e in events if e.customer_id})),
            tuple(sorted({e.name for e in events if e.customer_id})),
        )
        self.customers = {
            c.pk: c
            for c in Customer.objects.select_related("store")
            .filter(pk__in=ids, store__experiences_enabled=True)
            .annotate(
                months_in_flight=in_flight,
                index_token=RawSQL(_INDEX_TOKEN, [list(scope[0]), list(scope[1])]),
            )
        }
        self.runs: dict[int, list[Run]] = {pk: [] for pk in self.customers}
        # Most customers have no run in flight: their runs are read only when some exist.
        with_runs = [pk for pk, c in self.customers.items() if c.months_in_flight]
        if with_runs:
            months = sorted({m for pk in with_runs for m in self.customers[pk].months_in_flight})
            for run in Run.objects.filter(
                customer_id__in=with_runs, status__in=Run.ACTIVE, month__in=months
            ).select_related("experience"):
                self.runs[run.customer_id].append(run)
        self.entries: dict[tuple[int, str], list[TriggerIndex]] = {}
        if self.customers:
            token = next(iter(self.customers.values())).index_token
            self.entries = _trigger_entries(scope, token)
        self._used: set[int] = set()

    def take(self, customer_id: int) -> tuple[Customer | None, bool]:
        """The customer, and whether their prefetched memberships and runs still hold."""
        fresh = customer_id not in self._used
        self._used.add(customer_id)
        return self.customers.get(customer_id), fresh


# The trigger index entries of a batch's stores and events, with their experiences and trigger
# nodes, as a token of their rows' versions: any insert, delete or update of one of these rows
# (a publish, a pause, a changed setting) changes it (an update writes a new row version: a new
# ``ctid``, and a new ``xmin`` when in another transaction). Read with the batch's customers (the
# same statement), so the entries themselves are read again only when they changed.
_INDEX_TOKEN = (
    "SELECT md5(coalesce(string_agg(concat_ws(':', t.id, t.xmin, t.ctid, e.xmin, e.ctid,"
    f" n.xmin, n.ctid), ',' ORDER BY t.id), '')) FROM {TriggerIndex._meta.db_table} t"
    f" JOIN {Experience._meta.db_table} e ON e.id = t.experience_id"
    f" JOIN {Node._meta.db_table} n ON n.id = t.node_id"
    " WHERE t.store_id = ANY(%s::bigint[]) AND t.event = ANY(%s::text[])"
)
_index_cache: dict[tuple, tuple[str, dict[tuple[int, str], list[TriggerIndex]]]] = {}


def _trigger_entries(scope: tuple, token: str) -> dict[tuple[int, str], list[TriggerIndex]]:
    """The trigger index entries of these (stores, event names), per (store, event): this
    process's copy while ``token`` says the rows are unchanged, else read afresh (one query)."""
    cached = _index_cache.get(scope)
    if cached is not None and cached[0] == token:
        return cached[1]
    entries: dict[tuple[int, str], list[TriggerIndex]] = {}
    for entry in (
        TriggerIndex.objects.filter(store_id__in=scope[0], event__in=scope[1])
        .select_related("experience", "node")
        .order_by("pk")
    ):
        entries.setdefault((entry.store_id, entry.event), []).append(entry)
    if len(_index_cache) >= 256:
        _index_cache.clear()
    _index_cache[scope] = (token, entries)
    return entries


def process_events(events: list[DomainEvent]) -> list[int]:
    """Handle a batch of events in their order (see ``process_event``), reading what they need
    once for the batch.

    In rounds: the first event of each customer without runs in flight starts its runs in a
    batch walk (``batch.start_and_walk``: the runs of all those events walked side by side, a
    bounded number of statements for the batch); the events of customers with runs in flight
    (waits to resume, exits, a redelivery to finish) follow one by one; the batched customers'
    later events make the next round, which reads their facts afresh once the batch committed.
    So each customer's events still apply in their order, and a customer named many times (a
    chain entering several segments) costs a round, not a walk per event. Should a batch fail,
    its events are handled one by one.
    """
    touched: list[int] = []
    pending = list(events)
    while pending:
        prefetched = Prefetched(pending)
        handled, items = _batchable(pending, prefetched)
        if items:
            try:
                touched += start_and_walk(items)
            except Exception:  # noqa: BLE001 - each event again alone: one bad run holds back none
                logger.exception(
                    "A batch walk of %d events failed; handling them one by one", len(items)
                )
                handled -= {id(event) for event, _, _ in items}
        settled = {event.customer_id for event in pending if id(event) in handled}
        later = []
        for event in pending:
            if id(event) in handled:
                continue
            if event.customer_id in settled:
                later.append(event)  # after the customer's first event: the next round
            else:
                touched += process_one(event, prefetched)
        pending = later
    return touched


def _batchable(
    events: list[DomainEvent], prefetched: Prefetched
) -> tuple[set[int], list[tuple[DomainEvent, Customer, list[TriggerIndex]]]]:
    """Return the events the batch walk settles (by ``id``), and what it starts for them: the
    entering experiences of each, every trigger of every event tested in one statement per
    store."""
    seen: set[int] = set()
    handled: set[int] = set()
    candidates: dict[int, list[tuple[DomainEvent, Customer, list[TriggerIndex]]]] = {}
    for event in events:
        customer_id = event.customer_id
        if not customer_id or customer_id in seen:
            continue
        seen.add(customer_id)
        customer = prefetched.customers.get(customer_id)
        if customer is None or customer.store_id != event.store_id:
            continue  # process_event says so (nothing to do)
        if prefetched.runs.get(customer_id):
            continue  # runs in flight: waits to resume, exits, a redelivery to finish
        prefetched.take(customer_id)  # later events of the customer read afresh
        handled.add(id(event))
        entries = prefetched.entries.get((event.store_id, event.name), [])
        if entries:
            candidates.setdefault(event.store_id, []).append((event, customer, entries))
    items = []
    for group in candidates.values():
        store = group[0][1].store
        subjects, tests, plans = [], [], []
        for event, customer, entries in group:
            sets, tested = [], []
            for entry in entries:
                config, _ = trigger_config(entry.node)
                if config is None or not REGISTRY["trigger"].matches_event(config, event)[0]:
                    continue
                sets.append(config.conditions)
                tested.append(entry)
            subjects.append(Subject.of(customer.pk, event.data))
            tests.append(sets)
            plans.append(tested)
        answers = evaluate_many(store, subjects, tests)
        for (event, customer, _), tested, answer in zip(group, plans, answers, strict=True):
            entering = []
            for entry, (held, _) in zip(tested, answer, strict=True):
                if not held and trigger_config(entry.node)[0].conditions:
                    continue  # (a trigger without conditions lets every matching event in)
                if event.depth >= max_chain_depth():
                    _record_chain_limit(entry.experience, customer, event)
                else:
                    entering.append(entry)
            if entering:
                items.append((event, customer, entering))
    return handled, items


def process_event(event: DomainEvent) -> list[int]:
    """Handle one domain event for its customer; return the ids of the runs it started or moved.

    Safe to repeat: a second delivery of the same event starts nothing new and only continues
    runs the first delivery left unfinished. (A batch of one: the same path as a batch.) Every
    line logged meanwhile names the event.
    """
    with log_context(store_id=event.store_id, event_id=event.key, chain=event.chain_origin):
        return process_events([event])


def process_one(event: DomainEvent, prefetched: Prefetched | None = None) -> list[int]:
    """Handle one event on its own: its customer's runs in flight, then the runs it starts,
    walked one at a time. Every line logged meanwhile names the event."""
    with log_context(store_id=event.store_id, event_id=event.key, chain=event.chain_origin):
        return _process_one(event, prefetched)


def _process_one(event: DomainEvent, prefetched: Prefetched | None) -> list[int]:
    if not event.customer_id:
        return []
    fresh = False
    if prefetched is not None:
        customer, fresh = prefetched.take(event.customer_id)
        if customer is not None and customer.store_id != event.store_id:
            customer = None
    else:
        customer = (
            Customer.objects.select_related("store")
            .filter(pk=event.customer_id, store_id=event.store_id, store__experiences_enabled=True)
            .first()
        )
    if customer is None:  # no such customer, or a store without experiences
        return []
    store = customer.store
    ctx = EvaluationContext(store, customer, event.data)
    touched = _handle_active_runs(event, customer, prefetched.runs[customer.pk] if fresh else None)

    if prefetched is not None:
        entries = prefetched.entries.get((store.pk, event.name), [])
    else:
        entries = list(
            TriggerIndex.objects.filter(store=store, event=event.name).select_related(
                "experience", "node"
            )
        )
    if not entries:
        for run_id in touched:
            walk(run_id, ctx)
        return touched
    entering = []
    decisions = evaluate_triggers([entry.node for entry in entries], event, ctx)
    for entry, decision in zip(entries, decisions, strict=True):
        if decision.enters and event.depth >= max_chain_depth():
            _record_chain_limit(entry.experience, customer, event)
        elif decision.enters:
            entering.append(entry)
    if entering:  # start_runs skips experiences this event already started (a redelivery)
        touched += start_runs(entering, customer, event)
    for run_id in dict.fromkeys(touched):
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


def start_runs(entries: list[TriggerIndex], customer: Customer, event: DomainEvent) -> list[int]:
    """Start the runs of these experiences for the event, unless re-entry forbids; return the
    ids of those to walk. Held-out customers get a finished ``held_out`` run.

    The customer's row lock serialises concurrent starts for one customer (so re-entry is
    decided on committed facts); the unique constraints make a duplicate impossible regardless.
    """
    ids = [e.experience_id for e in entries]
    month = month_of(event.occurred_at)
    now = timezone.now()
    try:
        with transaction.atomic():
            Customer.objects.select_for_update(no_key=True).filter(pk=customer.pk).values_list(
                "pk"
            ).get()
            last: dict[int, dict] = {
                row["experience_id"]: row
                for row in RunRotation.objects.filter(
                    experience_id__in=ids, customer=customer
                ).values("experience_id", "rotation", "started_at")
            }
            already = set(
                Run.objects.filter(experience_id__in=ids, trigger_event_key=event.key, month=month)
                .order_by()
                .values_list("experience_id", flat=True)
            )
            runs = []
            for entry in entries:
                experience = entry.experience
                if experience.pk in already or reentry_refusal(
                    experience, last.get(experience.pk), now
                ):
                    continue
                runs.append(new_run(event, customer, entry, last.get(experience.pk), now))
            bump_rotations(runs, now)
            Run.objects.bulk_create(runs)
            count_runs_started(runs)
            return [r.pk for r in runs if r.status == Run.Status.RUNNING]
    except IntegrityError:
        # Another worker started them first: the constraint decided; walk what it started.
        return list(
            Run.objects.filter(
                experience_id__in=ids,
                trigger_event_key=event.key,
                month=month,
                status=Run.Status.RUNNING,
            ).values_list("pk", flat=True)
        )


def runs_in_flight(customer_id: int) -> list[Run]:
    """The customer's running and waiting runs, with their experiences: the in-flight table
    names their months (most customers have none: one small index probe), then only those
    months' partitions are read."""
    months = sorted(
        set(RunInFlight.objects.filter(customer_id=customer_id).values_list("month", flat=True))
    )
    if not months:
        return []
    return list(
        Run.objects.filter(
            customer_id=customer_id, status__in=Run.ACTIVE, month__in=months
        ).select_related("experience")
    )


def _handle_active_runs(
    event: DomainEvent, customer: Customer, runs: list[Run] | None = None
) -> list[int]:
    """Return the runs to walk: those this event started and a lost worker left running (a
    redelivery continues them), and waits for the next order that this order resumes; end the
    runs whose exit criteria this event meets. ``runs``: the customer's active runs, if read."""
    if runs is None:
        runs = runs_in_flight(customer.pk)
    interrupted = [
        r.pk for r in runs if r.trigger_event_key == event.key and r.status == Run.Status.RUNNING
    ]
    active = [r for r in runs if r.trigger_event_key != event.key]
    if not active:
        return interrupted
    exiting = [r.pk for r in active if meets_exit(r.experience.exit_criteria, event)]
    resumed: list[int] = []
    now = timezone.now()
    with transaction.atomic():
        # (the months of these runs: only their partitions are read)
        months = {r.month for r in active}
        if exiting:
            runs = Run.objects.select_for_update().filter(
                pk__in=exiting, month__in=months, status__in=Run.ACTIVE
            )
            ids = list(runs.order_by("pk").values_list("pk", flat=True))
            RunStep.objects.filter(
                run_id__in=ids, month__in=months, status=RunStep.Status.WAITING
            ).update(status=RunStep.Status.CANCELLED, finished_at=now)
            Run.objects.filter(pk__in=ids, month__in=months).update(
                status=Run.Status.EXITED,
                exit_reason=f"exit criterion met by {event.name}",
                finished_at=now,
            )
        waiting = [r.pk for r in active if r.pk not in exiting and r.status == Run.Status.WAITING]
        if waiting:
            steps = (
                RunStep.objects.select_for_update(of=("self", "run"))
                .select_related("run", "node")
                .filter(
                    run__in=waiting,
                    month__in=months,
                    run__month__in=months,
                    run__status=Run.Status.WAITING,
                    status=RunStep.Status.WAITING,
                    wait_for=event.name,
                )
                .order_by("pk")
            )
            for step in steps:
                node_type = REGISTRY.get(step.node.type)
                branch = node_type.resume_branch(step, event) if node_type else None
                if branch is None:
                    continue  # waits for this kind of event, but not this one
                finish_wait(step, f"{event.name} ({event.key})", now, branch=branch)
                resumed.append(step.run_id)
    return interrupted + resumed


def meets_exit(criteria: list[str], event: DomainEvent) -> bool:
    """Return whether the event is one of the experience's exit criteria (the simulation's
    replay exits runs with the same test)."""
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
