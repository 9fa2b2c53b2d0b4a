"""Steps a merchant takes on the canvas, for the browser tests."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def open_builder(page: Page, experience) -> None:
    page.on("pageerror", lambda err: print("PAGE ERROR:", err, err.stack[:1500]))
    page.on("console", lambda msg: msg.type == "error" and print("CONSOLE:", msg.text))
    page.goto(f"/app/experiences/{experience.pk}/builder/")
    expect(page.locator(".react-flow__node").first).to_be_visible()


def node(page: Page, key: str):
    return page.locator(f'.react-flow__node[data-id="{key}"]')


def drag_from_palette(page: Page, node_type: str, x: int, y: int) -> None:
    """Drag a palette item onto the canvas at (x, y) relative to the canvas."""
    page.get_by_test_id(f"palette-{node_type}").drag_to(
        page.locator(".react-flow__pane"), target_position={"x": x, "y": y}
    )


def connect(page: Page, source: str, target: str, branch: str = "") -> None:
    handle = node(page, source).locator(f'.react-flow__handle[data-handleid="b:{branch}"]')
    handle.drag_to(node(page, target).locator(".react-flow__handle.target"))


def expect_saved(page: Page) -> None:
    expect(page.get_by_test_id("save-status")).to_have_text("Saved", timeout=15_000)


def eventually(page: Page, check, timeout: float = 15.0) -> None:
    """Retry ``check`` (a function with assertions) until it passes or ``timeout`` seconds pass.

    The save status may still read "Saved" for a moment after a click, before the autosave
    notices the change: a test reading the database waits for the change itself."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            page.wait_for_timeout(100)
