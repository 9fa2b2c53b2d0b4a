"""Smoke: the builder page opens for a member and shows the draft."""

from experiences import actions
from segments.models import Role
from tests.fixtures.browser import screenshot
from tests.fixtures.factories import make_user

from .canvas_helpers import open_builder


def test_editor_opens_the_builder(browser_for, store):
    editor = make_user(store, Role.EDITOR)
    experience = actions.create_experience(
        store, name="Tag milestone customers", kind="reward_strategy"
    )
    page = browser_for(editor).new_page()
    open_builder(page, experience)
    screenshot(page, "canvas-smoke")
