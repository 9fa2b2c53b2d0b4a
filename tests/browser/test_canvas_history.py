"""In a real browser: version history (open read-only, diff against live, restore, discard),
testing with a customer (the path and each condition, no side effects) and tidy up."""

from playwright.sync_api import expect

from experiences import actions
from experiences.models import ExperienceVersion, Run
from segments.models import Role
from tests.experiences.helpers import milestone_graph, publish, static_segment
from tests.experiences.helpers import node as graph_node
from tests.fixtures.browser import screenshot
from tests.fixtures.factories import make_customer, make_user

from .canvas_helpers import eventually, expect_saved, node, open_builder


def live_with_a_changed_draft(store):
    nodes, edges = milestone_graph(static_segment(store, "Test"), static_segment(store, "Reached"))
    experience = publish(store, nodes, edges, name="Milestone")
    draft = actions.draft_for(experience)
    changed = [dict(n) for n in nodes if n["key"] != "email"]
    changed.append(graph_node("wait-1", "wait", {"minutes": 60}))
    new_edges = [e for e in edges if "email" not in (e["source"], e["target"])]
    new_edges += [
        {"source": "add-reached", "target": "wait-1", "branch": ""},
        {"source": "wait-1", "target": "end", "branch": ""},
    ]
    actions.save_draft(experience, revision=draft.revision, nodes=changed, edges=new_edges)
    return experience


def test_versions_open_read_only_with_their_diff_restore_and_discard(browser_for, store):
    # given a live version 1 and a draft that swapped the email for a wait
    experience = live_with_a_changed_draft(store)
    page = browser_for(make_user(store, Role.OWNER)).new_page()
    open_builder(page, experience)
    # when the owner opens the draft (version 2) from the history
    page.get_by_role("button", name="Versions").click()
    page.get_by_test_id("versions-drawer").get_by_role("button", name="Version 2").click()
    # then it is read-only and says what changed against live
    banner = page.get_by_test_id("version-banner")
    expect(banner).to_contain_text("Viewing version 2")
    expect(banner).to_contain_text("1 added, 1 changed, 1 removed (email)")
    expect(node(page, "wait-1").locator(".step-diff")).to_have_text("added")
    expect(page.locator("[data-testid^=palette-]")).to_have_count(0)
    screenshot(page, "canvas-version-diff")
    # when they go back and discard the draft, then the live graph is what they edit
    banner.get_by_role("button", name="Back to the draft").click()
    page.get_by_role("button", name="Versions").click()
    page.get_by_test_id("discard-draft").click()
    expect(node(page, "email")).to_be_visible()
    expect(node(page, "wait-1")).to_have_count(0)
    assert not ExperienceVersion.objects.filter(experience=experience, state="draft").exists()
    # when they open version 1 and restore it as the draft, then a draft holds its graph
    page.get_by_role("button", name="Versions").click()
    page.get_by_test_id("versions-drawer").get_by_role("button", name="Version 1").click()
    page.get_by_test_id("version-banner").get_by_role("button", name="Restore as the draft").click()
    expect(page.get_by_text("Version 1 is now the draft.")).to_be_visible()
    draft = ExperienceVersion.objects.get(experience=experience, state="draft")
    assert set(draft.nodes.values_list("key", flat=True)) == {
        "trigger",
        "add-reached",
        "email",
        "end",
    }


def test_testing_with_a_customer_shows_each_condition_and_changes_nothing(browser_for, store):
    # given a live milestone experience and a customer who does not meet its conditions
    experience = live_with_a_changed_draft(store)
    make_customer(store, email="bob@example.com")
    page = browser_for(make_user(store, Role.EDITOR)).new_page()
    open_builder(page, experience)
    # when the editor tests it with that customer
    page.get_by_role("button", name="Test with a customer").click()
    drawer = page.get_by_test_id("test-drawer")
    drawer.get_by_label("Customer email").fill("bob@")
    drawer.get_by_role("button", name="Find").click()
    drawer.get_by_role("button", name="bob@example.com").click()
    # then each check and each trigger condition says true or false, and the trigger is marked
    result = page.get_by_test_id("explain-result")
    expect(result).to_contain_text("would not enter now")
    expect(result).to_contain_text("false: subscription_orders_count eq 3")
    expect(node(page, "trigger").locator(".step-highlight")).to_contain_text("stops here")
    screenshot(page, "canvas-test-with-customer")
    # and nothing ran
    assert not Run.objects.exists()


def test_tidy_up_lays_the_graph_out_and_saves_it(browser_for, store):
    # given a draft whose nodes were placed bottom-up, against the flow
    experience = live_with_a_changed_draft(store)
    draft = ExperienceVersion.objects.get(experience=experience, state="draft")
    messy = {"trigger": 600, "add-reached": 400, "wait-1": 200, "end": 0}
    for key, y in messy.items():
        draft.nodes.filter(key=key).update(position_x=y, position_y=y)
    page = browser_for(make_user(store, Role.EDITOR)).new_page()
    open_builder(page, experience)
    # when the editor tidies up
    page.get_by_test_id("tidy-button").click()
    expect_saved(page)

    # then the nodes are laid out top-down along the path, one below the other
    def laid_out_top_down():
        y = dict(draft.nodes.values_list("key", "position_y"))
        assert y["trigger"] < y["add-reached"] < y["wait-1"] < y["end"]

    eventually(page, laid_out_top_down)
    screenshot(page, "canvas-tidy")
    # and undo puts them back in one step
    page.get_by_test_id("undo-button").click()
    expect_saved(page)
    positions = lambda: dict(draft.nodes.values_list("key", "position_y"))  # noqa: E731
    eventually(page, lambda: _assert_equal(positions(), messy))


def _assert_equal(found, wanted):
    assert found == wanted
