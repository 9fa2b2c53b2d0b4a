"""The merchant-facing rewards in a real browser: an editor creates a cross-sell from its template
and finds the offer named on the canvas, then goes through the Rewards section (overview, an
incentive with a field error then fixed, the ledger), and adjusts and revokes a customer's
credit. Screenshots of every page go to var/screenshots/."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from experiences.actions import create_from_template
from experiences.models import Node
from rewards import actions
from rewards.models import CreditEntry, Incentive, RewardGrant
from segments.models import Role, Segment
from tests.browser.canvas_helpers import expect_saved, node
from tests.fixtures import factories as f
from tests.fixtures.browser import login, screenshot


@pytest.fixture
def shop(transactional_db):
    store = f.make_store(
        name="Demo Coffee Co", slug="demo-shop", shopify_domain="demo-shop.myshopify.com"
    )
    for role in Role.values:
        f.make_user(store, role, username=role)
    alice = f.make_customer(store, email="alice@example.com", first_name="Alice")
    mug = actions.create_incentive(
        store, name="Free mug", kind="free_gift",
        params={"product_id": "77", "title": "Coffee mug", "price": "8.00"}, expires_in_days=30,
    )  # fmt: skip
    actions.grant_reward(
        store=store, customer=alice, source_key="s1", kind="credit", amount=Decimal("12.50"),
        expires_in_days=90,
    )  # fmt: skip
    actions.grant_reward(
        store=store, customer=alice, source_key="s2", kind="free_gift", incentive=mug
    )
    for i in range(3):
        bob = f.make_customer(store, email=f"bob{i}@example.com")
        actions.grant_reward(
            store=store, customer=bob, source_key=f"b{i}", kind="credit", amount=Decimal("5.00")
        )
    return store, alice


def test_editor_creates_from_a_template_and_manages_rewards(live_server, browser_page, shop):
    store, alice = shop
    page, base = browser_page, live_server.url
    login(page, base, "editor")
    # a template of the chosen kind, then the builder names the offer's incentive
    page.goto(f"{base}/app/experiences/new/")
    page.get_by_label("Name").fill("Grinder offer")
    page.get_by_label("Upcoming order cross-sell").check()
    template = page.get_by_label("Offer a product 3 days before the next charge")
    expect(template).to_be_visible()
    expect(page.get_by_label("Streak reward")).to_be_hidden()
    template.check()
    screenshot(page, "app-experience-new-from-template")
    page.get_by_role("button", name="Create and open the builder").click()
    page.wait_for_url("**/builder/")
    offer = node(page, "offer")
    expect(offer).to_contain_text("Cross-sell offer · 2 days to answer")
    offer.click()
    picker = page.get_by_test_id("node-panel").get_by_label("Incentive")
    expect(picker.locator("option:checked")).to_have_text(
        "Cross-sell offer · Add-on product (edit the product)"
    )
    screenshot(page, "builder-incentive-picker")
    # a trigger's segment condition and a gift step name their segment and incentive too
    surprise = create_from_template(store, name="Surprise", template="surprise_free_gift")
    members = Segment.objects.get(store=store, name="Surprise and delight")
    page.goto(f"{base}/app/experiences/{surprise.pk}/builder/")
    expect(node(page, "gift")).to_contain_text("Free gift")
    node(page, "trigger").click()
    segment = page.get_by_test_id("node-panel").get_by_label("Segment", exact=True)
    expect(segment.locator("option:checked")).to_have_text("Surprise and delight (static)")
    screenshot(page, "builder-segment-condition")
    # showing names changes nothing: the conditions saved are the template's (segment by id)
    page.wait_for_timeout(1500)
    expect_saved(page)
    trigger = Node.objects.get(version__experience=surprise, key="trigger")
    assert trigger.config["conditions"] == [
        [
            {"field": "subscription_orders_count", "operator": "eq", "value": 2},
            {"field": "segment", "operator": "in", "value": members.pk},
        ]
    ], trigger.config

    # the Rewards section
    page.goto(f"{base}/app/experiences/")
    page.get_by_role("link", name="Rewards", exact=True).click()
    expect(page.get_by_test_id("liability")).to_have_text("27.50 USD")
    screenshot(page, "app-rewards-overview")
    page.get_by_role("link", name="Incentives").click()
    page.get_by_label("New incentive:").select_option("cross_sell")
    page.get_by_role("button", name="Create…").click()
    page.get_by_label("Name").fill("Grinder add-on")
    # switching the kind back and forth keeps the name typed so far
    page.get_by_label("Kind").select_option("free_gift")
    expect(page.locator(".incentive-form")).to_have_attribute("data-kind", "free_gift")
    page.get_by_label("Kind").select_option("cross_sell")
    expect(page.locator(".incentive-form")).to_have_attribute("data-kind", "cross_sell")
    expect(page.get_by_label("Name")).to_have_value("Grinder add-on")
    page.get_by_label("Title").fill("Burr grinder")
    page.get_by_label("Product ID").fill("grinder-1")
    page.get_by_label("Price").fill("40.00")
    page.locator("#id_discount_type").select_option("fixed")
    page.get_by_label("Discount value").fill("45")
    page.get_by_role("button", name="Create incentive").click()
    expect(page.locator('[data-field="discount_value"]')).to_contain_text(
        "A fixed discount is at most the price"
    )
    screenshot(page, "app-rewards-incentive-errors")
    page.get_by_label("Discount value").fill("5")
    page.get_by_role("button", name="Create incentive").click()
    expect(page.get_by_role("link", name="Grinder add-on")).to_be_visible()
    screenshot(page, "app-rewards-incentives")
    assert Incentive.objects.get(store=store, name="Grinder add-on").params["discount_value"] == "5"
    page.get_by_role("link", name="Grant ledger").click()
    page.get_by_label("Kind").select_option("credit")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(4)
    screenshot(page, "app-rewards-ledger")

    # a customer's rewards: adjust the credit, revoke the gift
    page.goto(f"{base}/app/customers/{alice.pk}/")
    page.get_by_label("Adjust credit").fill("-2.50")
    page.get_by_label("Reason").fill("Damaged bag, partly refunded")
    page.get_by_role("button", name="Adjust").click()
    expect(page.get_by_test_id("credit-balance")).to_have_text("10.00 USD")
    screenshot(page, "app-customer-rewards")
    gift = RewardGrant.objects.get(customer=alice, kind="free_gift")
    page.locator(f'a[href^="/app/rewards/grants/{gift.pk}/revoke/"]').click()
    page.get_by_label("Reason").fill("Customer asked for no gift")
    screenshot(page, "app-rewards-grant-revoke")
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("The grant was revoked.")).to_be_visible()
    gift.refresh_from_db()
    assert gift.status == "revoked"
    assert CreditEntry.objects.filter(customer=alice, kind="adjustment").count() == 1

    page.goto(f"{base}/app/rewards/caps/")
    expect(page.get_by_text("Only the store's owners change the caps.")).to_be_visible()
    screenshot(page, "app-rewards-caps-editor")


def test_store_without_rewards_sees_why(live_server, browser_page, transactional_db):
    store = f.make_store(name="Plain Tea Co", slug="plain-tea", rewards_enabled=False)
    f.make_user(store, Role.EDITOR, username="tea-editor")
    page, base = browser_page, live_server.url
    login(page, base, "tea-editor")
    expect(page.get_by_role("link", name="Rewards", exact=True)).to_have_count(0)
    page.goto(f"{base}/app/experiences/new/")
    expect(page.get_by_label("Streak reward")).to_be_disabled()
    expect(
        page.get_by_text("Rewards are not enabled for Plain Tea Co, so they cannot be used yet")
    ).to_be_visible()
    screenshot(page, "app-experience-new-without-rewards")
    page.goto(f"{base}/app/rewards/")
    expect(
        page.get_by_role("heading", name="Rewards are not enabled for Plain Tea Co")
    ).to_be_visible()
    screenshot(page, "app-rewards-not-enabled")
