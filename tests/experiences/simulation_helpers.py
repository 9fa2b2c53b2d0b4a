"""Builders for simulation tests: a history of orders over time, the graph with a branch, an A/B
split, a wait, a segment node and a credit node, the real replay of that history through the live
engine (time travelled), and a snapshot of every table."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import time_machine
from django.db import connection, transaction
from django.utils import timezone

from experiences import actions
from experiences.actions.walker import advance_run, finish_wait
from experiences.models import Run, RunStep, Simulation
from experiences.simulation.history import read_events
from segments.figures import refresh_customer_figures
from tests.fixtures.factories import make_customer, make_order

from .helpers import edge, node, order_event

SIMULATION_TABLE = Simulation._meta.db_table


def snapshot_tables() -> dict[str, tuple[int, str]]:
    """Every table but the simulation's own: its row count and a hash of its rows."""
    answer = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names()):
            if table == SIMULATION_TABLE:
                continue
            cursor.execute(
                f"SELECT COUNT(*), md5(COALESCE(string_agg(t::text, '|' ORDER BY t::text), ''))"
                f' FROM "{table}" t'
            )
            answer[table] = tuple(cursor.fetchone())
    return answer


def replay_graph(segment, *, wait_minutes: int = 3 * 24 * 60):
    """trigger (2+ orders by then) -> A/B split: A -> branch (order of 30 or more: credit 5;
    80 spent by then: segment add; else: end), B -> wait -> credit 5."""
    nodes = [
        node(
            "trigger",
            "trigger",
            {
                "event": "order_processed",
                "conditions": [[{"field": "orders_count", "operator": "gte", "value": 2}]],
            },
        ),
        node("split", "ab_split", {"paths": [{"label": "A", "percent": 50},
                                             {"label": "B", "percent": 50}]}),
        node(
            "big",
            "condition",
            {"branches": [
                {"label": "big", "conditions": [
                    [{"field": "order.total", "operator": "gte", "value": 30}]]},
                {"label": "vip", "conditions": [
                    [{"field": "total_spent", "operator": "gte", "value": 80}]]},
            ]},
        ),
        node("credit-big", "credit", {"amount": "5.00"}),
        node("add-vip", "segment", {"action": "add", "segment_id": segment.pk}),
        node("wait", "wait", {"mode": "duration", "minutes": wait_minutes}),
        node("credit-later", "credit", {"amount": "5.00"}),
        node("end", "end"),
    ]  # fmt: skip
    edges = [
        edge("trigger", "split"),
        edge("split", "big", "A"),
        edge("split", "wait", "B"),
        edge("big", "credit-big", "big"),
        edge("big", "add-vip", "vip"),
        edge("big", "end", "else"),
        edge("credit-big", "end"),
        edge("add-vip", "end"),
        edge("wait", "credit-later"),
        edge("credit-later", "end"),
    ]
    return nodes, edges


def plan_history(store, *, customers: int, days: int, seed: int = 7):
    """Customers and the (moment, customer, total) of their orders over the last ``days`` days
    (not yet written: the real replay writes each as it happens)."""
    rng = random.Random(seed)
    now = timezone.now()
    people = [make_customer(store, first_name=f"P{i}") for i in range(customers)]
    planned = []
    for person in people:
        for _ in range(rng.randint(1, 6)):
            at = (
                now
                - dt.timedelta(days=days)
                + dt.timedelta(minutes=rng.randint(60, days * 1440 - 60))
            )
            planned.append((at, person, Decimal(rng.choice(["12.00", "25.00", "35.00", "48.00"]))))
    planned.sort(key=lambda item: item[0])
    return people, planned


def write_history(planned) -> None:
    """Write the planned orders at once (for a simulation only)."""
    for at, person, total in planned:
        make_order(person, is_subscription=True, type="recurring", total=total, processed_at=at)
    refresh_customer_figures([p.pk for _, p, _ in planned])


def live_through(planned) -> None:
    """Live the history for real: at each order's moment, resume the waits due by then, write the
    order, refresh the customer's figures, and hand the engine its event."""
    for at, person, total in planned:
        _resume_due(at)
        with time_machine.travel(at, tick=False):
            order = make_order(
                person, is_subscription=True, type="recurring", total=total, processed_at=at
            )
            refresh_customer_figures([person.pk])
            actions.process_events([order_event(order, key=f"sim:order:{order.pk}")])
    _resume_due(timezone.now())


def _resume_due(until) -> None:
    while True:
        step = (
            RunStep.objects.select_related("run")
            .filter(
                status=RunStep.Status.WAITING, due_at__lte=until, run__status=Run.Status.WAITING
            )
            .order_by("due_at", "pk")
            .first()
        )
        if step is None:
            return
        with time_machine.travel(step.due_at, tick=False):
            with transaction.atomic():
                finish_wait(step, "due", step.due_at)
            advance_run(step.run_id)


def replayed_events(store, days: int):
    end = timezone.now()
    pages = read_events(store.pk, end - dt.timedelta(days=days), end, {0})
    return [item for page in pages for item in page]
