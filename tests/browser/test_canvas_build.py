"""In a real browser: an editor builds "Tag milestone customers" from the palette, an owner
publishes it, a signed webhook puts a customer through it and the canvas counts them."""

import re

from playwright.sync_api import expect

from experiences import actions
from experiences.models import Experience, Run
from segments.models import MembershipSource, Role, Segment, SegmentMembership
from tests.experiences.test_webhook_end_to_end import WORKER_ENV, _post_order
from tests.fixtures.browser import screenshot
from tests.fixtures.factories import make_customer, make_order, make_user
from tests.fixtures.worker import wait_until

from .canvas_helpers import connect, drag_from_palette, expect_saved, node, open_builder


def add_trigger_condition(page, field, operator, value):
    panel = page.get_by_test_id("node-panel")
    panel.locator("#root_conditions button[title=Add]").last.click()  # an OR-block
    panel.locator("#root_conditions_0 button[title=Add]").first.click()  # a condition in it
    panel.locator("#root_conditions_0_0_field").select_option(label=field)
    panel.locator("#root_conditions_0_0_operator").select_option(operator)
    panel.locator("#root_conditions_0_0_value").fill(value)


def test_editor_builds_owner_publishes_and_a_webhook_is_counted(
    browser_for, store, celery_worker_process, client
):
    # given an editor and an owner, a blank experience (the API starts it with its trigger)
    editor = make_user(store, Role.EDITOR)
    owner = make_user(store, Role.OWNER)
    experience = actions.create_experience(
        store, name="Tag milestone customers", kind="reward_strategy"
    )
    page = browser_for(editor).new_page()
    open_builder(page, experience)

    # when the editor drags a Segment node and an End onto the canvas and connects them
    drag_from_palette(page, "segment", 200, 150)
    drag_from_palette(page, "end", 650, 150)
    expect(node(page, "segment-1")).to_be_visible()
    expect(node(page, "end-1")).to_be_visible()
    connect(page, "trigger", "segment-1")
    # and gives the trigger a condition
    node(page, "trigger").click()
    add_trigger_condition(
        page, "Number of subscription orders (subscription_orders_count)", "eq", "3"
    )
    # and creates the segment inline from the Segment node
    node(page, "segment-1").click()
    panel = page.get_by_test_id("node-panel")
    panel.get_by_role("button", name="+ Create new segment").click()
    panel.get_by_label("New segment name").fill("Milestone reached")
    panel.get_by_role("button", name="Create segment").click()
    expect(panel.locator("#root_segment_id")).not_to_have_value("")
    created = Segment.objects.get(store=store, name="Milestone reached")
    assert created.kind == Segment.Kind.STATIC
    expect(panel.locator("#root_segment_id")).to_have_value(str(created.pk))
    expect_saved(page)
    # then the End left unconnected is a validation error, listed and shown on the node
    errors = page.get_by_test_id("validation-list")
    expect(errors).to_contain_text("segment-1")
    expect(errors).to_contain_text("Connect its next step")
    expect(node(page, "segment-1").locator(".step-errors")).to_be_visible()
    expect(page.get_by_test_id("publish-button")).to_be_disabled()
    screenshot(page, "canvas-build-validation-error")
    # when they fix it by connecting the Segment node to the End
    errors.get_by_role("button").filter(has_text="segment-1").first.click()
    expect(node(page, "segment-1")).to_have_class(re.compile("selected"))
    page.wait_for_timeout(400)  # the jump to the node is animated
    page.locator(".react-flow__controls-fitview").click()
    page.wait_for_timeout(300)
    connect(page, "segment-1", "end-1")
    expect_saved(page)
    expect(errors).to_contain_text("No problems")
    screenshot(page, "canvas-build-fixed")
    # then an editor still cannot publish
    expect(page.get_by_test_id("publish-button")).to_be_disabled()

    # when the owner opens it and publishes
    owner_page = browser_for(owner).new_page()
    open_builder(owner_page, experience)
    expect(owner_page.get_by_test_id("publish-button")).to_be_enabled()
    owner_page.get_by_test_id("publish-button").click()
    expect(owner_page.get_by_text("Published: version 1 is live.")).to_be_visible()
    experience.refresh_from_db()
    assert experience.status == Experience.Status.LIVE

    # when a customer's third subscription order arrives as a signed webhook, on a real worker
    customer = make_customer(store, shopify_id="7001", email="alice@example.com")
    for n in (9001, 9002):
        make_order(customer, external_id=str(n), is_subscription=True)
    celery_worker_process(extra_env=WORKER_ENV)
    answer = _post_order(client, store, 9003, "7001", "alice@example.com")
    assert answer.status_code in (200, 201, 202), answer.content
    wait_until(lambda: Run.objects.filter(experience=experience, status="completed").exists())
    assert SegmentMembership.objects.filter(
        segment__name="Milestone reached", customer=customer, source=MembershipSource.EXPERIENCE
    ).exists()
    # then the canvas counts the customer on each node they reached
    owner_page.reload()
    expect(owner_page.get_by_test_id("count-segment-1")).to_have_text("1 reached · 30 days")
    expect(owner_page.get_by_test_id("count-end-1")).to_have_text("1 reached · 30 days")
    screenshot(owner_page, "canvas-live-counts")
