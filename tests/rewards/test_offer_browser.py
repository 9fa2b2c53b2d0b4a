"""The offer page in real headless Chromium: the customer sees the product, price and discount,
clicks Accept, and the line is on their upcoming order. Screenshots go to var/screenshots/."""

from pathlib import Path

import pytest

from rewards.actions import create_incentive, grant_reward
from rewards.models import CrossSellOffer
from rewards.offers import offer_path
from tests.fixtures.factories import make_customer, make_store, make_upcoming_order

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(chromium_browser):
    """A phone-sized page in the session's Chromium (which fails, never skips, when missing)."""
    context = chromium_browser.new_context(viewport={"width": 480, "height": 720})
    yield context.new_page()
    context.close()
    _end_live_server_sessions()


def _end_live_server_sessions():
    """End the idle sessions the live server's request threads keep on the test database.

    Their kept-alive sockets outlive the browser, and the session-wide live server never closes
    them before the test database is dropped.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'"
        )


def test_customer_accepts_an_offer_in_the_browser(live_server, page):
    # given an offer of a discounted grinder for Alice's next order
    store = make_store(name="Demo Coffee Co")
    alice = make_customer(store)
    upcoming = make_upcoming_order(alice, scheduled_at="2026-12-20")
    incentive = create_incentive(
        store,
        name="Grinder offer",
        kind="cross_sell",
        params={"product_id": "88", "title": "Burr grinder", "price": "40.00",
                "discount_type": "percent", "discount_value": "25"},
    )  # fmt: skip
    grant = grant_reward(
        store=store, customer=alice, source_key="s", kind="cross_sell", incentive=incentive,
        respond_within_days=3,
    )  # fmt: skip
    offer = CrossSellOffer.objects.get(grant=grant)
    SHOTS.mkdir(parents=True, exist_ok=True)
    # when she opens the link
    page.goto(live_server.url + offer_path(offer))
    assert "Add Burr grinder to your next order?" in page.inner_text("h1")
    assert "30.00 USD" in page.inner_text("main") and "You save 25%" in page.inner_text("main")
    page.screenshot(path=str(SHOTS / "rewards_offer.png"))
    # and clicks Accept
    page.click("button.accept")
    page.wait_for_selector("[role=status]")
    page.screenshot(path=str(SHOTS / "rewards_offer_accepted.png"))
    # then the page confirms it and the line is on her upcoming order
    assert "added to your next order" in page.inner_text("[role=status]")
    upcoming.refresh_from_db()
    assert [i["title"] for i in upcoming.added_items] == ["Burr grinder"]
    # and a tampered link gets a clear page
    page.goto(live_server.url + offer_path(offer)[:-4] + "xyz/")
    assert "This link is not valid" in page.inner_text("h1")
    page.screenshot(path=str(SHOTS / "rewards_offer_invalid.png"))
