"""The replay: a version walked over the store's history as if it had been live from the start of
the period, with every effect recorded instead of applied.

It is the live engine's logic on simulated runs held in memory (never ``Run``/``RunStep`` rows):

- entry: the trigger's event filter (``Trigger.matches_event``), its conditions compiled by the
  one condition compiler and evaluated set-based for a whole page of events in one statement per
  replayed day (``conditions.evaluate_many`` with each event's moment: the customer's order
  figures as they were then), the re-entry policy (``engine.reentry_refusal``) against the
  simulated runs, the holdout (``engine.held_out``), exit criteria (``engine.meets_exit``);
- walking: the node types' own ``execute`` and ``settle``, runs walked side by side level by
  level with the condition nodes of a level evaluated in one statement per replayed day, exactly
  as the batch walker does; effects through ``SimulatedEffects``;
- waits: a heap of due times in replayed time. A run waiting for the customer's next order is
  resumed by that order's event. When a later event can change a run (a wait for an event, exit
  criteria), the customer's pending runs are walked before that event, so each customer's events
  apply in their order as in the live engine; otherwise runs are walked a page at a time, each
  at its own replayed moment (conditions read the figures as they were then).

Runs are walked in batches, so grants are asked for out of replayed time. The ledger's decisions
(a customer's cap, the experience's budget) are deferred and made in replayed time
(``SimulatedEffects.decide_until``, after each page for what no later grant can precede), so they
are the live engine's. A version with a node that routes on a grant's answer (a cross-sell: a
skipped offer is not waited for) decides each grant as it is asked for instead: there, two grants
of one page may meet a cap or the budget in another order than live.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import Any

from segments import domain
from segments.models import Customer

from ..actions.engine import held_out, meets_exit, reentry_refusal
from ..actions.walker import MAX_STEPS_PER_WALK, Graph, parse_configs, read_graph
from ..conditions import Subject, evaluate_many
from ..context import EvaluationContext
from ..effects import EffectFailed
from ..models import Edge, Experience, ExperienceVersion, Node
from ..nodes import REGISTRY
from ..nodes.base import ExecutionContext, Outcome
from .effects import SimulatedEffects
from .history import ORDER, SUB_CANCELLED, SUB_CREATED, Replayed

logger = logging.getLogger(__name__)

SAMPLE_PER_NODE = 5
# What nodes read of a customer (a notification's variables and consent); the rest stays
# unread (deferred): a year of a large store loads every customer once.
CUSTOMER_FIELDS = (
    "id",
    "store_id",
    "email",
    "first_name",
    "last_name",
    "accepts_marketing",
    "orders_count",
    "subscription_orders_count",
    "total_spent",
)
FLUSH_AT = 20_000  # pending runs walked together at most


class ReplayedContext(EvaluationContext):
    """The evaluation context of a replayed event: its order is the history's row, built only
    when a node reads it (a percent credit, a notification's variables)."""

    def __init__(self, store, customer, item: Replayed):
        super().__init__(store, customer, item.event.data)
        self._item = item

    @cached_property
    def order(self):
        return self._item.order() if self._item.source == ORDER else super().order


def load_graph(version: ExperienceVersion) -> Graph:
    """Read a version's graph (drafts included; never cached: a draft changes)."""
    return read_graph(version.pk)


def snapshot_graph(version: ExperienceVersion) -> dict[str, list]:
    """A version's graph as plain data (a shadow pins it when it starts)."""
    nodes = list(Node.objects.filter(version=version).order_by("pk"))
    keys = {n.pk: n.key for n in nodes}
    return {
        "nodes": [
            {"key": n.key, "type": n.type, "config": n.config, "x": n.position_x,
             "y": n.position_y}
            for n in nodes
        ],
        "edges": [
            {"source": keys[s], "branch": b, "target": keys[t]}
            for s, b, t in Edge.objects.filter(version=version)
            .order_by("pk")
            .values_list("source_id", "branch", "target_id")
        ],
    }  # fmt: skip


def graph_from_snapshot(snapshot: dict, version: ExperienceVersion | None) -> Graph:
    """The ``Graph`` of a pinned snapshot: nodes in memory, numbered in the snapshot's order."""
    nodes, pks = {}, {}
    for pk, item in enumerate(snapshot.get("nodes", []), start=1):
        node = Node(
            pk=pk, version=version, key=item["key"], type=item["type"],
            config=item.get("config") or {}, position_x=item.get("x", 0),
            position_y=item.get("y", 0),
        )  # fmt: skip
        nodes[pk], pks[item["key"]] = node, pk
    edges = {
        (pks[e["source"]], e.get("branch", "")): pks[e["target"]]
        for e in snapshot.get("edges", [])
        if e["source"] in pks and e["target"] in pks
    }
    return Graph(nodes, parse_configs(nodes), edges)


@dataclass(slots=True, eq=False)
class SimRun:
    """A simulated run: what nodes read of a ``Run`` and where it stands."""

    pk: int
    store_id: int
    customer_id: int
    experience_id: int
    rotation: int
    started_at: Any
    event: domain.DomainEvent
    ctx: EvaluationContext
    now: Any
    current_node_id: int
    status: str = "running"
    token: int = 0  # changes whenever it waits: stale timers in the heap are ignored
    wait_for: str = ""
    wait_branch: str = ""
    wait_result: dict = field(default_factory=dict)
    path: list = field(default_factory=list)  # (node key, type, branch, result)


@dataclass
class Counts:
    """Per node: customers who reached it, steps, customers per branch, failures, waits."""

    reached: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    steps: Counter = field(default_factory=Counter)
    branches: dict[str, dict[str, set[int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )
    failed: Counter = field(default_factory=Counter)
    waiting_at_end: Counter = field(default_factory=Counter)
    errors: dict[str, str] = field(default_factory=dict)
    sample: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))


class Replay:
    """Feed pages of history (``feed``), then ``finish``; read ``counts``, ``effects.tally``."""

    def __init__(
        self, experience: Experience, version: ExperienceVersion, *, end, graph: Graph | None = None
    ):
        self.experience = experience
        self.store = experience.store
        self.version = version
        self.end = end
        self.graph = graph if graph is not None else load_graph(version)
        self.trigger = next((n for n in self.graph.nodes.values() if n.type == "trigger"), None)
        self.trigger_config = self.graph.configs.get(self.trigger.pk) if self.trigger else None
        routes = any(
            getattr(REGISTRY.get(n.type), "routes_on_answer", False)
            for n in self.graph.nodes.values()
        )
        self.effects = SimulatedEffects(self.store, experience, defer=not routes)
        self.counts = Counts()
        self.customers: dict[int, Customer] = {}
        self.last_entry: dict[int, dict] = {}  # customer -> {"rotation", "started_at"}
        self.active: dict[int, list[SimRun]] = defaultdict(list)  # customer -> runs in flight
        self.pending: list[SimRun] = []
        self.pending_customers: set[int] = set()
        self.timers: list = []  # (due, seq, token, run)
        self._seq = itertools.count(1)
        self.events = Counter()  # replayed events by name
        # Events the trigger's filter and conditions were tested on, and those that passed (then
        # entered, or were kept out by re-entry).
        self.tested = 0
        self.matched = 0
        self.runs_started = 0
        self.held_out = 0
        self.entered: set[int] = set()
        self.refused_reentry = 0
        # Whether a customer's later event can change a run walked before it (a wait for an
        # event, exit criteria): only then are their pending runs walked before that event.
        self.interacts = bool(experience.exit_criteria) or any(
            n.type in ("cross_sell",)
            or (n.type == "wait" and getattr(c, "mode", "") == "next_order")
            for n, c in ((n, self.graph.configs.get(n.pk)) for n in self.graph.nodes.values())
        )

    # --- what is replayed -------------------------------------------------------------------

    def sources(self) -> set[int]:
        """The history the version listens to: its trigger's events, orders (a wait for the next
        order, exit criteria on orders) and the subscription events its exit criteria name."""
        wanted = {ORDER}
        names = set(self.experience.exit_criteria or [])
        if self.trigger_config is not None:
            names.add(REGISTRY["trigger"].domain_event(self.trigger_config))
        if domain.SUBSCRIPTION_CREATED in names:
            wanted.add(SUB_CREATED)
        if domain.SUBSCRIPTION_CANCELLED in names:
            wanted.add(SUB_CANCELLED)
        return wanted

    def replayable(self) -> bool:
        """Whether the trigger listens to an event this history holds."""
        if self.trigger_config is None:
            return False
        return REGISTRY["trigger"].domain_event(self.trigger_config) in (
            domain.ORDER_PROCESSED,
            domain.SUBSCRIPTION_CREATED,
            domain.SUBSCRIPTION_CANCELLED,
        )

    # --- feeding ----------------------------------------------------------------------------

    def feed(self, page: list[Replayed]) -> None:
        """Replay a page of events in their order."""
        entering = self._entering(page)
        self._load_customers({r.event.customer_id for r in page if id(r) in entering})
        for item in page:
            event, at = item.event, item.at
            self.events[event.name] += 1
            self._catch_up(at, event.customer_id)
            self._handle_active(event, at)
            if id(item) in entering:
                self._enter(item)
        self._flush()
        self._catch_up(page[-1].at, None)
        # Every later grant is asked for at or after the page's last moment (later events, and
        # timers due after it): the grants before it can be decided.
        self.effects.decide_until(page[-1].at)

    def finish(self) -> None:
        """Resume the timers due inside the period; what still waits is counted per node."""
        self._catch_up(self.end, None)
        self.effects.decide_until(None)
        for runs in self.active.values():
            for run in runs:
                if run.status == "waiting":
                    node = self.graph.nodes[run.current_node_id]
                    self.counts.waiting_at_end[node.key] += 1

    # --- entry ------------------------------------------------------------------------------

    def _entering(self, page: list[Replayed]) -> set[int]:
        """The events of the page whose trigger lets them in (by ``id``): the filter in Python,
        the conditions in one statement per replayed day."""
        config = self.trigger_config
        if config is None or self.trigger is None:
            return set()
        name = REGISTRY["trigger"].domain_event(config)
        matching = [
            r
            for r in page
            if r.event.name == name and REGISTRY["trigger"].matches_event(config, r.event)[0]
        ]
        self.tested += len(matching)
        if not config.conditions:
            return {id(r) for r in matching}
        # Re-entry refuses, whatever the conditions, a customer whose last entry known now
        # already keeps them out at the event (a later entry in this page only keeps them out
        # longer): their conditions are not evaluated.
        kept_out = [
            r
            for r in matching
            if r.event.customer_id in self.last_entry
            and reentry_refusal(self.experience, self.last_entry[r.event.customer_id], r.at)
        ]
        if kept_out:
            self.refused_reentry += len(kept_out)
            self.tested -= len(kept_out)
            out = {id(r) for r in kept_out}
            matching = [r for r in matching if id(r) not in out]
        passed: set[int] = set()
        for today, group in self._by_day(matching, lambda r: r.at).items():
            subjects = [Subject.of(r.event.customer_id, r.event.data, at=r.at) for r in group]
            answers = evaluate_many(
                self.store, subjects, [[config.conditions]] * len(group), today=today
            )
            passed.update(id(r) for r, answer in zip(group, answers, strict=True) if answer[0][0])
        return passed

    def _by_day(self, items, moment) -> dict:
        tz = self.store.tzinfo
        days: dict = defaultdict(list)
        for item in items:
            days[moment(item).astimezone(tz).date()].append(item)
        return days

    def _load_customers(self, ids: set[int]) -> None:
        missing = [pk for pk in ids if pk not in self.customers]
        if missing:
            table = Customer._meta.db_table
            for customer in Customer.objects.raw(  # one array parameter, not one per id
                f"SELECT {', '.join(CUSTOMER_FIELDS)} FROM {table}"
                " WHERE store_id = %s AND id = ANY(%s)",
                [self.store.pk, missing],
            ):
                Customer.store.field.set_cached_value(customer, self.store)  # (no descriptor)
                self.customers[customer.pk] = customer

    def _enter(self, item: Replayed) -> None:
        event, at = item.event, item.at
        customer = self.customers.get(event.customer_id)
        if customer is None:
            return
        self.matched += 1
        previous = self.last_entry.get(customer.pk)
        if reentry_refusal(self.experience, previous, at):
            self.refused_reentry += 1
            return
        rotation = previous["rotation"] + 1 if previous else 1
        self.last_entry[customer.pk] = {"rotation": rotation, "started_at": at}
        self.runs_started += 1
        if held_out(self.experience, customer.pk):
            self.held_out += 1
            return
        ctx = ReplayedContext(self.store, customer, item)
        run = SimRun(
            pk=next(self._seq),
            store_id=self.store.pk,
            customer_id=customer.pk,
            experience_id=self.experience.pk,
            rotation=rotation,
            started_at=at,
            event=event,
            ctx=ctx,
            now=at,
            current_node_id=self.trigger.pk,
        )
        self.entered.add(customer.pk)
        self.active[customer.pk].append(run)
        self._pend(run)

    def _handle_active(self, event: domain.DomainEvent, at) -> None:
        """End the customer's runs whose exit criteria the event meets; resume their waits for
        this event (the next order)."""
        runs = self.active.get(event.customer_id)
        if not runs:
            return
        exits = meets_exit(self.experience.exit_criteria, event)
        for run in list(runs):
            if exits:
                run.status, run.token = "exited", run.token + 1
                runs.remove(run)
            elif run.status == "waiting" and run.wait_for == event.name:
                node = self.graph.nodes[run.current_node_id]
                node_type = REGISTRY.get(node.type)
                step = SimpleNamespace(branch=run.wait_branch, result=run.wait_result)
                branch = node_type.resume_branch(step, event) if node_type else None
                if branch is not None:
                    self._resume(run, branch, at)

    # --- waits ------------------------------------------------------------------------------

    def _catch_up(self, until, customer_id: int | None) -> None:
        """Resume the timers due by ``until``; walk what is pending first when the customer has
        pending runs (``None``: walk everything), until nothing more falls due."""
        while True:
            while self.timers and self.timers[0][0] <= until:
                due, _, token, run = heapq.heappop(self.timers)
                if run.token == token and run.status == "waiting":
                    self._resume(run, run.wait_branch, due)
            collides = self.interacts and customer_id in self.pending_customers
            if self.pending and (customer_id is None or collides):
                self._flush()
                continue
            if len(self.pending) >= FLUSH_AT:
                self._flush()
                continue
            return

    def _resume(self, run: SimRun, branch: str, at) -> None:
        node = self.graph.nodes[run.current_node_id]
        self.counts.branches[node.key][branch].add(run.customer_id)
        run.token += 1
        run.path.append((node.key, node.type, branch, {"resumed": True}))
        target = self.graph.edges.get((node.pk, branch))
        if target is None:
            self._close(run, "completed")
            return
        run.status, run.current_node_id, run.now = "running", target, at
        self._pend(run)

    def _pend(self, run: SimRun) -> None:
        self.pending.append(run)
        self.pending_customers.add(run.customer_id)

    def _close(self, run: SimRun, status: str) -> None:
        run.status = status
        runs = self.active.get(run.customer_id)
        if runs and run in runs:
            runs.remove(run)
            if not runs:
                del self.active[run.customer_id]

    # --- walking ----------------------------------------------------------------------------

    def _flush(self) -> None:
        """Walk the pending runs side by side, level by level, until each waits or ends."""
        active, self.pending = self.pending, []
        self.pending_customers = set()
        for _ in range(MAX_STEPS_PER_WALK):
            if not active:
                return
            tested = self._test_conditions(active)
            decided = [(run, self._decide(run, tested.get(id(run)))) for run in active]
            active = [run for run, outcome in decided if self._advance(run, outcome)]

    def _test_conditions(self, active: list[SimRun]) -> dict[int, list]:
        """Each run standing on a condition node: its branches' outcomes, one statement per
        replayed day for all of them."""
        standing = []
        for run in active:
            node = self.graph.nodes[run.current_node_id]
            config = self.graph.configs[node.pk]
            if node.type == "condition" and config is not None:
                standing.append((run, [b.conditions for b in config.branches]))
        tested: dict[int, list] = {}
        for today, group in self._by_day(standing, lambda item: item[0].now).items():
            subjects = [Subject.of(run.customer_id, run.event.data, at=run.now) for run, _ in group]
            answers = evaluate_many(self.store, subjects, [sets for _, sets in group], today=today)
            for (run, _), answer in zip(group, answers, strict=True):
                tested[id(run)] = answer
        return tested

    def _decide(self, run: SimRun, tested) -> Outcome | Exception:
        node = self.graph.nodes[run.current_node_id]
        config = self.graph.configs[node.pk]
        node_type = REGISTRY.get(node.type)
        exec_ctx = ExecutionContext(
            run=run,  # type: ignore[arg-type] - what nodes read of a run
            node=node,
            step=None,  # type: ignore[arg-type] - no step row: effects are only recorded
            experience=self.experience,
            evaluation=run.ctx,
            event=run.event,
            now=run.now,
            tested=tested,
        )
        try:
            if node_type is None or (node_type.config_model is not None and config is None):
                raise ValueError(f"node type {node.type!r} or its configuration is invalid")
            outcome = node_type.execute(config, exec_ctx)
            if outcome.effects:
                applied = self.effects.apply(outcome.effects)
                failed = [a for a in applied if isinstance(a, EffectFailed)]
                if failed:
                    raise failed[0]
                outcome = node_type.settle(config, outcome, applied)
                self.effects.bind(applied, outcome.result)
            return outcome
        except Exception as exc:  # noqa: BLE001 - as the live engine: the node fails its run
            return exc

    def _advance(self, run: SimRun, outcome: Outcome | Exception) -> bool:
        """Count the step, move the run; return whether it walks on in this flush."""
        node = self.graph.nodes[run.current_node_id]
        key, counts = node.key, self.counts
        counts.reached[key].add(run.customer_id)
        counts.steps[key] += 1
        if isinstance(outcome, Exception):
            counts.failed[key] += 1
            counts.errors.setdefault(key, str(outcome)[:300])
            run.path.append((key, node.type, "", {"failed": str(outcome)[:200]}))
            self._sample(run, key)
            self._close(run, "failed")
            return False
        run.path.append((key, node.type, outcome.branch, outcome.result))
        self._sample(run, key)
        if outcome.waits:
            run.status, run.token = "waiting", run.token + 1
            run.wait_for, run.wait_branch = outcome.wait_for, outcome.branch
            run.wait_result = outcome.result
            if outcome.wait_until is not None:
                heapq.heappush(self.timers, (outcome.wait_until, next(self._seq), run.token, run))
            return False
        counts.branches[key][outcome.branch].add(run.customer_id)
        target = None if outcome.end else self.graph.edges.get((node.pk, outcome.branch))
        if target is None:
            self._close(run, "completed")
            return False
        run.current_node_id = target
        return True

    def _sample(self, run: SimRun, key: str) -> None:
        sample = self.counts.sample[key]
        if len(sample) < SAMPLE_PER_NODE and all(s["customer"] != run.customer_id for s in sample):
            sample.append(
                {
                    "customer": run.customer_id,
                    "node": key,
                    "at": run.now.isoformat(),
                    # its path so far, worded when the result is built: a grant's answer on it
                    # may be decided later (``SimulatedEffects.decide_until``)
                    "path": list(run.path),
                }
            )
