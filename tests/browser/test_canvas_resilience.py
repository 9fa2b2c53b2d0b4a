"""In a real browser: the canvas never loses work (reload, undo and redo, a second tab's
conflicting save, a server that stops answering) and a viewer cannot edit."""

import re

from playwright.sync_api import expect

from experiences import actions
from experiences.models import ExperienceVersion
from segments.models import Role
from tests.fixtures.browser import screenshot
from tests.fixtures.factories import make_user

from .canvas_helpers import eventually, expect_saved, node, open_builder


def draft_keys(experience):
    draft = ExperienceVersion.objects.get(experience=experience, state="draft")
    return set(draft.nodes.values_list("key", flat=True))


def add_after(page, anchor, node_type):
    node(page, anchor).click()
    page.get_by_test_id(f"palette-{node_type}").click()


def test_undo_redo_and_reload_lose_nothing(browser_for, store):
    # given an editor on a fresh experience
    experience = actions.create_experience(store, name="Undo me", kind="reward_strategy")
    page = browser_for(make_user(store, Role.EDITOR)).new_page()
    open_builder(page, experience)
    # when they add an End after the trigger (keyboard-free click) it is connected to it
    add_after(page, "trigger", "end")
    expect(node(page, "end-1")).to_be_visible()
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    expect_saved(page)
    # when they undo, the node and its edge go in one step; redo brings both back
    page.get_by_test_id("undo-button").click()
    expect(node(page, "end-1")).to_have_count(0)
    expect(page.locator(".react-flow__edge")).to_have_count(0)
    expect_saved(page)
    eventually(page, lambda: _keys_are(experience, {"trigger"}))
    page.get_by_test_id("redo-button").click()
    expect(node(page, "end-1")).to_be_visible()
    expect_saved(page)
    # when they delete it with the keyboard, then undo, the node and its edge come back at once
    node(page, "end-1").click()
    page.keyboard.press("Delete")
    expect(node(page, "end-1")).to_have_count(0)
    expect_saved(page)
    eventually(page, lambda: _keys_are(experience, {"trigger"}))
    page.get_by_test_id("undo-button").click()
    expect(node(page, "end-1")).to_be_visible()
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    expect_saved(page)
    # then a reload shows exactly what was saved
    page.reload()
    expect(node(page, "end-1")).to_be_visible()
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    eventually(page, lambda: _keys_are(experience, {"trigger", "end-1"}))


def test_a_second_tabs_save_is_explained_and_overwritten_only_on_purpose(browser_for, store):
    # given the same experience open in two tabs
    experience = actions.create_experience(store, name="Two tabs", kind="reward_strategy")
    editor = make_user(store, Role.EDITOR)
    first, second = browser_for(editor).new_page(), browser_for(editor).new_page()
    open_builder(first, experience)
    open_builder(second, experience)
    # when the first tab saves an End, then the second tab saves a Wait on the old revision
    add_after(first, "trigger", "end")
    expect_saved(first)
    add_after(second, "trigger", "wait")
    # then the second tab explains the conflict instead of overwriting
    banner = second.get_by_test_id("conflict-banner")
    expect(banner).to_contain_text("saved somewhere else")
    expect(second.get_by_test_id("save-status")).to_have_text("Failed")
    eventually(second, lambda: _keys_are(experience, {"trigger", "end-1"}))
    screenshot(second, "canvas-conflict")
    # when they choose to overwrite, then their graph is saved deliberately
    banner.get_by_role("button", name="Overwrite with mine").click()
    expect_saved(second)
    eventually(second, lambda: _keys_are(experience, {"trigger", "wait-1"}))


def test_a_server_that_stops_answering_keeps_the_edit_and_saves_it_later(browser_for, store):
    experience = actions.create_experience(store, name="Offline", kind="reward_strategy")
    page = browser_for(make_user(store, Role.EDITOR)).new_page()
    open_builder(page, experience)

    def refuse_saves(route):
        if route.request.method == "PUT":
            route.abort()
        else:
            route.continue_()

    # when saves cannot reach the server during an edit
    page.route("**/draft/", refuse_saves)
    add_after(page, "trigger", "end")
    expect(page.get_by_test_id("save-status")).to_have_text("Failed")
    expect(page.locator(".save-detail")).to_contain_text("kept in this browser")
    screenshot(page, "canvas-offline")
    eventually(page, lambda: _keys_are(experience, {"trigger"}))
    # then when it answers again, the retry saves the edit
    page.unroute("**/draft/")
    expect_saved(page)
    eventually(page, lambda: _keys_are(experience, {"trigger", "end-1"}))

    # when it stops answering again and the merchant leaves and comes back
    page.route("**/draft/", refuse_saves)
    add_after(page, "end-1", "notification")
    expect(page.get_by_test_id("save-status")).to_have_text("Failed")
    page.unroute("**/draft/")
    page.goto("about:blank")
    open_builder(page, experience)
    # then the unsaved graph is offered back and restoring it saves it
    banner = page.get_by_test_id("restore-banner")
    expect(banner).to_contain_text("never reached the server")
    screenshot(page, "canvas-restore-offer")
    banner.get_by_role("button", name="Restore them").click()
    expect_saved(page)
    eventually(page, lambda: _keys_are(experience, {"trigger", "end-1", "notification-1"}))


def test_a_viewer_sees_the_canvas_but_cannot_edit(browser_for, store):
    experience = actions.create_experience(store, name="Look only", kind="reward_strategy")
    revision = ExperienceVersion.objects.get(experience=experience).revision
    page = browser_for(make_user(store, Role.VIEWER)).new_page()
    open_builder(page, experience)
    # then no palette, no save state, publish and undo disabled, the form read-only
    expect(page.locator("[data-testid^=palette-]")).to_have_count(0)
    expect(page.get_by_test_id("save-status")).to_have_count(0)
    expect(page.get_by_test_id("publish-button")).to_be_disabled()
    expect(page.get_by_test_id("tidy-button")).to_be_disabled()
    node(page, "trigger").click()
    expect(page.get_by_test_id("node-panel").locator("select").first).to_be_disabled()
    # when they try to move the node and press Delete, nothing is saved
    node(page, "trigger").drag_to(
        page.locator(".react-flow__pane"), target_position={"x": 50, "y": 50}
    )
    page.keyboard.press("Delete")
    expect(node(page, "trigger")).to_be_visible()
    screenshot(page, "canvas-viewer")
    page.wait_for_timeout(1200)
    assert ExperienceVersion.objects.get(experience=experience).revision == revision


def test_another_stores_experience_is_404_in_the_browser(browser_for, store, other_store):
    theirs = actions.create_experience(other_store, name="Theirs", kind="reward_strategy")
    page = browser_for(make_user(store, Role.OWNER)).new_page()
    answer = page.goto(f"/app/experiences/{theirs.pk}/builder/")
    assert answer.status == 404


def _keys_are(experience, wanted):
    assert draft_keys(experience) == wanted


def test_a_keyboard_user_adds_a_step_after_the_selected_node(browser_for, store):
    # given an editor on a fresh experience, using only the keyboard
    experience = actions.create_experience(store, name="Keys only", kind="reward_strategy")
    page = browser_for(make_user(store, Role.EDITOR)).new_page()
    open_builder(page, experience)
    # when they focus the trigger on the canvas and select it with Enter
    node(page, "trigger").focus()
    page.keyboard.press("Enter")
    expect(node(page, "trigger")).to_have_class(re.compile(r"\bselected\b"))
    # and focus the palette's End and press Enter
    page.get_by_test_id("palette-end").focus()
    page.keyboard.press("Enter")
    # then an End is added after the trigger, connected to it, and saved
    expect(node(page, "end-1")).to_be_visible()
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    eventually(page, lambda: _keys_are(experience, {"trigger", "end-1"}))
    screenshot(page, "canvas-keyboard-add")
