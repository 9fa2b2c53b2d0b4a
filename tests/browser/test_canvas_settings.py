"""The builder's settings drawer: re-entry, holdout, pause, budget and exits, through the API."""

from decimal import Decimal

from playwright.sync_api import expect

from experiences import actions
from experiences.models import Experience
from segments.models import Role, Segment
from tests.fixtures.browser import screenshot
from tests.fixtures.factories import make_user

from .canvas_helpers import open_builder


def _experience(store):
    return actions.create_experience(store, name="Third order thanks", kind="reward_strategy")


def test_editor_changes_the_settings_and_they_are_saved(browser_for, store):
    # given an editor and a segment the experience may exit on
    editor = make_user(store, Role.EDITOR)
    segment = Segment.objects.create(store=store, name="VIP", kind=Segment.Kind.STATIC)
    experience = _experience(store)
    page = browser_for(editor).new_page()
    open_builder(page, experience)

    # when they change the settings and save
    page.get_by_test_id("settings-button").click()
    drawer = page.get_by_test_id("settings-drawer")
    drawer.get_by_label("Name").fill("Third order thank-you")
    page.get_by_test_id("settings-reentry").select_option("once_per_n_days")
    page.get_by_test_id("settings-reentry-days").fill("14")
    drawer.get_by_label("Holdout: customers kept out to measure the lift (%)").fill("10")
    page.get_by_test_id("settings-budget").fill("250.00")
    drawer.get_by_label("They cancel their subscription").check()
    drawer.get_by_label("They leave the segment").select_option(str(segment.pk))
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-saved")).to_be_visible()
    screenshot(page, "canvas-settings")

    # then the experience has them, and the top bar shows the new name
    experience.refresh_from_db()
    assert experience.name == "Third order thank-you"
    assert experience.reentry == Experience.Reentry.ONCE_PER_N_DAYS
    assert experience.reentry_days == 14
    assert experience.holdout_percent == 10
    assert experience.reward_budget == Decimal("250.00")
    assert set(experience.exit_criteria) == {"subscription_cancelled", f"left_segment:{segment.pk}"}
    expect(page.get_by_test_id("experience-name")).to_have_text("Third order thank-you")


def test_a_refused_setting_is_named_and_nothing_changes(browser_for, store):
    # given an editor
    editor = make_user(store, Role.EDITOR)
    experience = _experience(store)
    page = browser_for(editor).new_page()
    open_builder(page, experience)

    # when they give a budget that is not an amount, and re-entry days of zero
    page.get_by_test_id("settings-button").click()
    page.get_by_test_id("settings-budget").fill("lots")
    page.get_by_test_id("settings-reentry").select_option("once_per_n_days")
    page.get_by_test_id("settings-reentry-days").fill("0")
    page.get_by_test_id("settings-save").click()

    # then the drawer names the field, and nothing was saved
    expect(page.get_by_test_id("settings-error-reward_budget")).to_be_visible()
    screenshot(page, "canvas-settings-refused")
    experience.refresh_from_db()
    assert experience.reward_budget is None
    assert experience.reentry == Experience.Reentry.ONCE


def test_a_viewer_reads_the_settings_but_cannot_change_them(browser_for, store):
    viewer = make_user(store, Role.VIEWER)
    experience = _experience(store)
    page = browser_for(viewer).new_page()
    open_builder(page, experience)

    page.get_by_test_id("settings-button").click()

    drawer = page.get_by_test_id("settings-drawer")
    expect(drawer.get_by_label("Name")).to_be_disabled()
    expect(page.get_by_test_id("settings-save")).to_have_count(0)
