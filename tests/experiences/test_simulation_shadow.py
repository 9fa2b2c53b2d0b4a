"""Shadow simulations: a draft beside the live version on the live events of the next days, its
graph pinned when it starts, its result kept up to date while it runs, done at the end; and the
sweep that restarts a replay whose worker died."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from experiences import actions
from experiences.models import Run, Simulation
from experiences.simulation.run import (
    SimulationRefused,
    cancel_simulation,
    run_simulation,
    start_simulation,
    sweep_simulations,
)
from rewards.models import RewardGrant
from tests.fixtures.factories import make_customer, make_order

from .helpers import edge, node
from .simulation_helpers import snapshot_tables

pytestmark = pytest.mark.django_db

NODES = [
    node("trigger", "trigger", {"event": "order_processed", "confirm_every_order": True}),
    node("credit", "credit", {"amount": "3.00"}),
    node("end", "end"),
]
EDGES = [edge("trigger", "credit"), edge("credit", "end")]


def _draft(store):
    experience = actions.create_experience(store, name="Shadowed", kind="reward_strategy")
    _, report = actions.save_draft(experience, revision=1, nodes=NODES, edges=EDGES)
    assert report.ok, report.as_dict()
    return experience


def _orders(customers, at):
    for customer in customers:
        make_order(customer, is_subscription=True, type="recurring", total=Decimal("20.00"),
                   processed_at=at)  # fmt: skip


def test_a_shadow_measures_the_live_events_after_its_start_on_its_pinned_graph(store):
    # given customers with orders before the shadow starts
    people = [make_customer(store) for _ in range(4)]
    start = timezone.now()
    _orders(people, start - dt.timedelta(days=3))
    experience = _draft(store)
    shadow = start_simulation(experience, version="draft", days=14, mode="shadow")
    assert run_simulation(shadow.pk) == Simulation.Status.RUNNING  # nothing live yet
    # when two of them order after it started, and the draft is then edited (credit 9.00)
    with time_machine.travel(start + dt.timedelta(days=2), tick=False):
        _orders(people[:2], timezone.now() - dt.timedelta(hours=1))
        nodes = [dict(n, config={"amount": "9.00"}) if n["key"] == "credit" else n for n in NODES]
        actions.save_draft(experience, revision=2, nodes=nodes, edges=EDGES)
        before = snapshot_tables()
        assert sweep_simulations()["shadows"] == 1
        status = run_simulation(shadow.pk)
        after = snapshot_tables()
    # then its result so far counts the live orders since its start, at the pinned 3.00
    shadow.refresh_from_db()
    assert status == shadow.status == Simulation.Status.RUNNING
    assert shadow.result["entered"] == 2 and shadow.result["rewards"]["cost"] == "6.00"
    assert shadow.refreshed_at is not None and shadow.progress_done == 2
    # and nothing but the simulation's own row changed
    before.pop("experiences_simulation", None), after.pop("experiences_simulation", None)
    assert before == after
    assert not Run.objects.exists() and not RewardGrant.objects.exists()
    # when its period is over, the last replay marks it done
    with time_machine.travel(start + dt.timedelta(days=15), tick=False):
        _orders(people[2:3], timezone.now() - dt.timedelta(days=5))
        assert sweep_simulations()["shadows"] == 1
        assert run_simulation(shadow.pk) == Simulation.Status.DONE
    shadow.refresh_from_db()
    assert shadow.status == Simulation.Status.DONE and shadow.result["entered"] == 3


def test_one_shadow_at_a_time_and_a_cancelled_one_keeps_no_result(store):
    experience = _draft(store)
    customer = make_customer(store)
    shadow = start_simulation(experience, version="draft", days=7, mode="shadow")
    with pytest.raises(SimulationRefused):
        start_simulation(experience, version="draft", days=7, mode="shadow")
    run_simulation(shadow.pk)
    _orders([customer], timezone.now())
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=1)):
        run_simulation(shadow.pk)
    shadow.refresh_from_db()
    assert shadow.result["entered"] == 1
    # when it is cancelled, it keeps only its status, and a new shadow may start
    cancel_simulation(shadow)
    shadow.refresh_from_db()
    assert shadow.status == Simulation.Status.CANCELLED and shadow.result is None
    assert start_simulation(experience, version="draft", days=7, mode="shadow").pk


def test_the_sweep_restarts_a_replay_whose_worker_died_and_it_completes_once(store):
    # given a replay claimed by a worker that died (its heartbeat stopped long ago)
    experience = _draft(store)
    _orders([make_customer(store)], timezone.now() - dt.timedelta(days=1))
    simulation = start_simulation(experience, version="draft", days=7)
    Simulation.objects.filter(pk=simulation.pk).update(
        status="running", heartbeat_at=timezone.now() - dt.timedelta(hours=1)
    )
    # a redelivery of its task does nothing while it looks running
    assert run_simulation(simulation.pk) == Simulation.Status.RUNNING
    # when the sweep finds it, it is queued again and the next delivery replays it
    assert sweep_simulations() == {"restarted": 1, "resent": 0, "shadows": 0}
    assert run_simulation(simulation.pk) == Simulation.Status.DONE
    simulation.refresh_from_db()
    assert simulation.result["entered"] == 1
    # and a fresh heartbeat is left alone
    assert sweep_simulations()["restarted"] == 0


def test_a_shadow_is_started_through_the_api(api, editor, store):
    experience = _draft(store)
    base = f"/api/v1/stores/{store.slug}"
    answer = api(editor).post(
        f"{base}/experiences/{experience.pk}/simulations/",
        {"version": "draft", "days": 14, "mode": "shadow"},
        format="json",
    )
    assert answer.status_code == 202, answer.json()
    body = answer.json()
    assert body["mode"] == "shadow" and body["days"] == 14
    again = api(editor).post(
        f"{base}/experiences/{experience.pk}/simulations/",
        {"version": "draft", "days": 14, "mode": "shadow"},
        format="json",
    )
    assert again.status_code == 400 and "mode" in again.json()
    bad = api(editor).post(
        f"{base}/experiences/{experience.pk}/simulations/",
        {"version": "draft", "days": 14, "mode": "forever"},
        format="json",
    )
    assert bad.status_code == 400 and "mode" in bad.json()


def test_a_shadow_goes_on_when_its_draft_is_discarded(store):
    # given a live experience whose draft is shadowed, and a customer ordering after the start
    experience = _draft(store)
    actions.publish_draft(experience)
    experience.refresh_from_db()
    _, report = actions.save_draft(experience, revision=0, nodes=NODES, edges=EDGES)
    assert report.ok
    shadow = start_simulation(experience, version="draft", days=7, mode="shadow")
    run_simulation(shadow.pk)
    customer = make_customer(store)
    # when the draft is discarded (its version row goes) and a live order comes
    experience.versions.filter(state="draft").delete()
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5), tick=False):
        _orders([customer], timezone.now() - dt.timedelta(minutes=1))
        status = run_simulation(shadow.pk)
    # then the shadow measures on, on its pinned graph
    shadow.refresh_from_db()
    assert status == Simulation.Status.RUNNING, shadow.error
    assert shadow.result["entered"] == 1 and shadow.result["comparison"]["same_version"] is False
