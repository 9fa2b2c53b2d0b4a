"""Simulating from the builder: start, follow the progress, read what the draft would have done,
and see its counts on the canvas; nothing is granted or changed."""

from playwright.sync_api import expect

from experiences import actions
from experiences.models import Simulation
from rewards.models import RewardGrant
from segments.models import Role, SegmentMembership
from tests.experiences.helpers import static_segment
from tests.experiences.simulation_helpers import plan_history, replay_graph, write_history
from tests.fixtures.browser import screenshot
from tests.fixtures.factories import make_user

from .canvas_helpers import node, open_builder


def _draft_with_history(store):
    vip = static_segment(store, "VIP")
    nodes, edges = replay_graph(vip)
    experience = actions.create_experience(
        store, name="Second order thanks", kind="reward_strategy"
    )
    _, report = actions.save_draft(experience, revision=1, nodes=nodes, edges=edges)
    assert report.ok, report.as_dict()
    _, planned = plan_history(store, customers=30, days=60)
    write_history(planned)
    return experience


def test_editor_simulates_the_draft_and_sees_what_it_would_do(
    browser_for, store, celery_worker_process
):
    # given a draft with a split, a branch, a wait, a segment and credit, and 60 days of orders
    experience = _draft_with_history(store)
    editor = make_user(store, Role.EDITOR)
    celery_worker_process(queues="analytics")
    page = browser_for(editor).new_page()
    open_builder(page, experience)

    # when the editor simulates it over the last 90 days
    page.get_by_test_id("simulate-button").click()
    page.get_by_test_id("simulate-days").select_option("90")
    page.get_by_test_id("simulate-start").click()

    # then the result shows what it would have done, with the counts on the canvas
    expect(page.get_by_test_id("simulation-result")).to_be_visible(timeout=60_000)
    simulation = Simulation.objects.get(experience=experience)
    assert simulation.status == Simulation.Status.DONE and simulation.days == 90
    result = simulation.result
    assert result["entered"] > 0
    expect(page.get_by_test_id("sim-entered")).to_have_text(str(result["entered"]))
    reached = {n["node"]: n["reached"] for n in result["nodes"]}
    expect(node(page, "split").get_by_test_id("count-split")).to_contain_text(
        f"{reached['split']} would reach · 90 days simulated"
    )
    expect(page.get_by_test_id("simulation-sample")).to_be_visible()
    screenshot(page, "canvas-simulation-result")
    # and nothing was granted or added for real
    assert not RewardGrant.objects.filter(store=store).exists()
    assert not SegmentMembership.objects.filter(segment__store=store).exists()


def test_a_draft_with_problems_is_refused_with_them(browser_for, store):
    # given a draft whose trigger has no next step
    experience = actions.create_experience(store, name="Unfinished", kind="reward_strategy")
    editor = make_user(store, Role.EDITOR)
    page = browser_for(editor).new_page()
    open_builder(page, experience)

    # when the editor tries to simulate it
    page.get_by_test_id("simulate-button").click()
    page.get_by_test_id("simulate-start").click()

    # then the drawer says why, and no simulation was queued
    expect(page.get_by_test_id("simulate-problems")).to_be_visible()
    screenshot(page, "canvas-simulation-refused")
    assert not Simulation.objects.filter(experience=experience).exists()
