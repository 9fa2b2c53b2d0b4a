"""Simulations: a version replayed on the store's history with effects only recorded, counting
exactly what publishing it would have done, and touching nothing but its own row."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Count, Sum
from django.utils import timezone
from rest_framework import serializers

from experiences import actions
from experiences.models import Run, RunStep, Simulation
from experiences.queries import live_counts
from experiences.simulation import history
from experiences.simulation.run import run_simulation, start_simulation
from experiences.simulation.schema import SimulationResultSerializer
from rewards.models import RewardGrant, RewardPolicy
from segments.models import SegmentMembership
from tests.fixtures.factories import make_customer, make_order

from .helpers import edge, node, publish, static_segment
from .simulation_helpers import (
    live_through,
    plan_history,
    replay_graph,
    snapshot_tables,
    write_history,
)

pytestmark = pytest.mark.django_db

DAYS = 60


def _simulate(experience, version="draft", days=90, **kwargs) -> Simulation:
    simulation = start_simulation(experience, version=version, days=days)
    run_simulation(simulation.pk, **kwargs)
    simulation.refresh_from_db()
    return simulation


def _assert_matches_schema(value, serializer, where="result"):
    """Every key the result holds is a published field and every published field is there."""
    if isinstance(serializer, serializers.ListSerializer):
        assert isinstance(value, list), where
        for n, item in enumerate(value):
            _assert_matches_schema(item, serializer.child, f"{where}[{n}]")
    elif isinstance(serializer, serializers.DictField):
        assert isinstance(value, dict), where
        for key, item in value.items():
            _assert_matches_schema(item, serializer.child, f"{where}.{key}")
    elif isinstance(serializer, serializers.Serializer):
        if value is None:
            assert serializer.allow_null, f"{where} is null"
            return
        assert set(value) == set(serializer.fields), (where, set(value) ^ set(serializer.fields))
        for key, field in serializer.fields.items():
            _assert_matches_schema(value[key], field, f"{where}.{key}")
    else:
        assert value is not None or serializer.allow_null, f"{where} is null"
        serializer.run_validation(value)  # raises on a value of another type


def _draft(store, nodes, edges, **settings):
    experience = actions.create_experience(
        store, name="Simulated", kind="reward_strategy", **settings
    )
    _, report = actions.save_draft(experience, revision=1, nodes=nodes, edges=edges)
    assert report.ok, report.as_dict()
    return experience


def test_simulation_counts_equal_publishing_and_replaying_the_same_events_for_real(store):
    # given caps (2 rewards per customer in 30 days), a budget that bites, re-entry at most once
    # per 10 days, a 20% holdout, and a version with a branch, an A/B split, a wait, a segment
    # node and credit nodes, published and lived through a history of orders for real
    RewardPolicy.objects.create(store=store, max_rewards_per_customer=2, period_days=30)
    vip = static_segment(store, "VIP")
    nodes, edges = replay_graph(vip)
    experience = publish(
        store,
        nodes,
        edges,
        reentry="once_per_n_days",
        reentry_days=10,
        holdout_percent=20,
        reward_budget=Decimal("50.00"),  # ten credits of 5: it bites whatever the buckets
    )
    _, planned = plan_history(store, customers=40, days=DAYS)
    live_through(planned)
    # when the same (live) version is simulated over the same period
    simulation = _simulate(experience, version=experience.live_version.number, days=DAYS + 1)
    # then it is done and every count equals what the live engine did
    assert simulation.status == Simulation.Status.DONE, simulation.error
    result = simulation.result
    runs = Run.objects.filter(experience=experience)
    assert result["held_out"] == runs.filter(status=Run.Status.HELD_OUT).count() > 0
    assert result["runs"] == runs.exclude(status=Run.Status.HELD_OUT).count() > 0
    assert result["entered"] == (
        runs.exclude(status=Run.Status.HELD_OUT).values("customer").distinct().count()
    )
    live = live_counts(experience, days=DAYS + 2)["nodes"]
    simulated = {n["node"]: n for n in result["nodes"]}
    for key in ("trigger", "split", "big", "credit-big", "add-vip", "wait", "credit-later", "end"):
        assert simulated[key]["reached"] == live.get(key, {}).get("reached", 0), key
        live_paths = {b: v["count"] for b, v in live.get(key, {}).get("branches", {}).items()}
        assert {b: v["count"] for b, v in simulated[key]["paths"].items()} == live_paths, key
    assert set(simulated["split"]["paths"]) == {"A", "B"}
    # (which of the branch's paths are taken depends on the A/B buckets of the customers' ids)
    assert len(simulated["big"]["paths"]) >= 2 and set(simulated["big"]["paths"]) <= {
        "big",
        "vip",
        "else",
    }
    # and the rewards, the caps and the budget that bit, and the segment changes
    grants = RewardGrant.objects.filter(experience_id=experience.pk)
    issued = grants.exclude(status=RewardGrant.Status.SKIPPED)
    rewards = result["rewards"]
    assert rewards["count"] == issued.count() > 0
    assert Decimal(rewards["cost"]) == issued.aggregate(s=Sum("amount"))["s"]
    assert rewards["skipped_by_cap"] == grants.filter(reason__startswith="Cap reached").count()
    assert rewards["skipped_by_budget"] == grants.filter(reason__startswith="Budget").count()
    # (the budget of ten credits bites; the caps may too, by the A/B buckets of the ids)
    assert rewards["skipped_by_budget"] > 0
    added = SegmentMembership.objects.filter(segment=vip).count()
    assert result["segment_changes"]["added"] == added
    over = any(w["code"] == "over_budget" for w in result["warnings"])
    assert over or not rewards["skipped_by_budget"]  # a budget that bit is a warning
    # and the live version over the same period is there to compare with
    assert result["comparison"]["same_version"] is True
    assert result["comparison"]["entered"] == result["entered"]
    # and the result is exactly what the OpenAPI schema publishes, key for key
    _assert_matches_schema(result, SimulationResultSerializer())


def test_a_simulation_changes_no_table_but_its_own(store):
    # given a history and a draft that would add to a segment, email and grant credit
    vip = static_segment(store, "VIP")
    nodes = [
        node("trigger", "trigger", {"event": "order_processed", "confirm_every_order": True}),
        node("add-vip", "segment", {"action": "add", "segment_id": vip.pk}),
        node("email", "notification", {"subject": "Hi {{ customer.first_name }}", "body": "x"}),
        node("credit", "credit", {"amount": "3.00"}),
        node("wait", "wait", {"mode": "next_order"}),
        node("end", "end"),
    ]
    keys = [n["key"] for n in nodes]
    experience = _draft(store, nodes, [edge(a, b) for a, b in zip(keys, keys[1:], strict=False)])
    _, planned = plan_history(store, customers=15, days=30)
    write_history(planned)
    simulation = start_simulation(experience, version="draft", days=30)
    before = snapshot_tables()
    # when it runs to its end
    assert run_simulation(simulation.pk, page=7) == Simulation.Status.DONE
    # then it recorded every kind of effect, and every other table is as it was
    simulation.refresh_from_db()
    result = simulation.result
    assert result["emails"] > 0 and result["rewards"]["count"] > 0
    assert result["segment_changes"]["added"] == 15
    assert snapshot_tables() == before
    assert simulation.progress_done == simulation.progress_total == len(planned)


def test_a_cancelled_simulation_stops_between_pages_and_keeps_nothing_but_its_status(
    store, monkeypatch
):
    # given a history and a draft, and a merchant who cancels once the first page is replayed
    nodes = [
        node("trigger", "trigger", {"event": "order_processed", "confirm_every_order": True}),
        node("credit", "credit", {"amount": "3.00"}),
        node("end", "end"),
    ]
    experience = _draft(store, nodes, [edge("trigger", "credit"), edge("credit", "end")])
    _, planned = plan_history(store, customers=10, days=30)
    write_history(planned)
    simulation = start_simulation(experience, version="draft", days=30)
    pages = history.read_events

    def read_then_cancel(*args, **kwargs):
        for n, page in enumerate(pages(*args, **kwargs)):
            if n == 1:
                actions_cancel(simulation)
            yield page

    monkeypatch.setattr(history, "read_events", read_then_cancel)
    before = snapshot_tables()
    # when it runs
    status = run_simulation(simulation.pk, page=5)
    # then it stopped, cancelled, without a result, and nothing else changed
    simulation.refresh_from_db()
    assert status == simulation.status == Simulation.Status.CANCELLED
    assert simulation.result is None
    assert simulation.progress_done == 5 < simulation.progress_total
    assert snapshot_tables() == before


def actions_cancel(simulation):
    from experiences.simulation.run import cancel_simulation

    cancel_simulation(simulation)


def test_a_crashing_simulation_is_failed_with_its_error(store, monkeypatch):
    experience = _draft(
        store,
        [
            node("trigger", "trigger", {"event": "order_processed", "confirm_every_order": True}),
            node("end", "end"),
        ],
        [edge("trigger", "end")],
    )
    write_history(plan_history(store, customers=2, days=10)[1])
    simulation = start_simulation(experience, version="draft", days=10)

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(history, "read_events", crash)
    assert run_simulation(simulation.pk) == Simulation.Status.FAILED
    simulation.refresh_from_db()
    assert simulation.result is None and "boom" in simulation.error
    # and a second delivery of the task does not start it again
    assert run_simulation(simulation.pk) == Simulation.Status.FAILED


def test_customer_figures_are_read_as_they_were_at_each_order(store):
    # given a customer whose third order came 20 days ago and two more since
    customer = make_customer(store)
    now = timezone.now()
    for days_ago in (50, 40, 20, 10, 5):
        make_order(customer, is_subscription=True, processed_at=now - dt.timedelta(days=days_ago))
    from segments.figures import refresh_customer_figures

    refresh_customer_figures([customer.pk])
    # and a draft for "the order that makes 3 orders"
    nodes = [
        node(
            "trigger",
            "trigger",
            {
                "event": "order_processed",
                "conditions": [[{"field": "orders_count", "operator": "eq", "value": 3}]],
            },
        ),
        node("end", "end"),
    ]
    experience = _draft(store, nodes, [edge("trigger", "end")], reentry="every_time")
    # when simulated (today the customer has 5 orders)
    result = _simulate(experience, days=60).result
    # then exactly one order entered: the third, as the figures were then
    assert result["runs"] == 1
    (sample,) = [s for s in result["sample"] if s["node"] == "trigger"]
    assert sample["customer"] == customer.pk
    assert sample["at"].startswith((now - dt.timedelta(days=20)).date().isoformat())
    assert "the trigger conditions held" in sample["reason"]


def test_warnings_for_a_broad_trigger_and_a_wait_that_does_not_end(store):
    nodes = [
        node("trigger", "trigger", {"event": "order_processed", "confirm_every_order": True}),
        node("wait", "wait", {"mode": "duration", "minutes": 60 * 24 * 80}),
        node("end", "end"),
    ]
    experience = _draft(store, nodes, [edge("trigger", "wait"), edge("wait", "end")])
    write_history(plan_history(store, customers=5, days=20)[1])
    result = _simulate(experience, days=30).result
    codes = {w["code"] for w in result["warnings"]}
    assert {"trigger_too_broad", "wait_not_ending"} <= codes
    wait = next(n for n in result["nodes"] if n["node"] == "wait")
    assert wait["waiting_at_end"] == result["runs"] > 0
    assert Run.objects.count() == 0
    assert RewardGrant.objects.aggregate(n=Count("id"))["n"] == 0


def test_waits_for_the_next_order_and_exits_count_as_publishing_them_would(store):
    # given a version where every order enters (every time), waits for the customer's next
    # order (or 4 days) and then grants credit, with cancelled subscriptions ending runs,
    # published and lived through a history of orders for real
    nodes = [
        node(
            "trigger",
            "trigger",
            {
                "event": "order_processed",
                "conditions": [[{"field": "total_spent", "operator": "gte", "value": 20}]],
            },
        ),
        node("next", "wait", {"mode": "next_order", "timeout_minutes": 4 * 1440}),
        node("credit", "credit", {"amount": "1.00"}),
        node("end", "end"),
    ]
    edges = [edge("trigger", "next"), edge("next", "credit"), edge("credit", "end")]
    experience = publish(store, nodes, edges, reentry="every_time")
    _, planned = plan_history(store, customers=25, days=DAYS, seed=11)
    live_through(planned)
    # when the live version is simulated over the same period
    simulation = _simulate(experience, version=experience.live_version.number, days=DAYS + 1)
    # then the runs, each node's customers and the grants equal the live engine's
    assert simulation.status == Simulation.Status.DONE, simulation.error
    result = simulation.result
    runs = Run.objects.filter(experience=experience)
    assert result["runs"] == runs.count() > 0
    live = live_counts(experience, days=DAYS + 2)["nodes"]
    for item in result["nodes"]:
        assert item["reached"] == live.get(item["node"], {}).get("reached", 0), item["node"]
    grants = RewardGrant.objects.filter(experience_id=experience.pk)
    assert result["rewards"]["count"] == grants.count() > 0
    # (both ways out of the wait happened: the next order, and the timer)
    resumed = [s.result.get("resumed", "") for s in RunStep.objects.filter(node__key="next")]
    assert any(r.startswith("order_processed") for r in resumed) and "due" in resumed
    # and the runs still waiting at the end are the live engine's waiting runs
    wait = next(n for n in result["nodes"] if n["node"] == "next")
    assert wait["waiting_at_end"] == runs.filter(status=Run.Status.WAITING).count()
