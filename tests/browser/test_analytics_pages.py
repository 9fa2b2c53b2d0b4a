"""The Analytics tabs in a real browser: charts, shaded retention, the plain warning, and a
refresh that updates the figures in place (no reload). Screenshots in var/screenshots/."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.utils import timezone

from segments.analytics.refresh import run_refresh
from segments.models import Order, Role, Segment, SegmentHistory, SegmentMembership
from tests.analytics.seed import make_version, run
from tests.fixtures import factories as f
from tests.fixtures.browser import login, screenshot

SPLIT = {
    "paths": [
        {"label": "A", "percent": 34},
        {"label": "B", "percent": 33},
        {"label": "C", "percent": 33},
    ]
}


@pytest.fixture
def shop(transactional_db):
    """Sixty members who joined over the last six months, with orders around their join."""
    rng = random.Random(3)
    now = timezone.now()
    store = f.make_store(name="Demo Coffee Co", slug="demo-analytics")
    users = {role: f.make_user(store, role, username=role) for role in Role.values}
    segment = Segment.objects.create(store=store, name="Milestone reached")
    experience, version, nodes = make_version(
        store,
        nodes=[("trigger", "trigger", {}), ("split", "ab_split", SPLIT), ("gift", "end", {})],
        holdout=0,
    )
    orders = []
    for i in range(90):
        customer = f.make_customer(store, email=f"buyer{i}@example.com")
        joined = now - dt.timedelta(days=rng.randint(1, 180), hours=rng.randint(0, 23))
        if i < 60:
            SegmentMembership.objects.create(
                store=store, segment=segment, customer=customer, source="manual"
            )
            SegmentMembership.objects.filter(segment=segment, customer=customer).update(
                added_at=joined
            )
            h = SegmentHistory.objects.create(
                store=store, segment=segment, customer=customer, action="added", source="manual"
            )
            SegmentHistory.objects.filter(pk=h.pk).update(at=joined)
        path = "ABC"[i % 3]
        steps = [(nodes["trigger"], ""), (nodes["split"], path)]
        if i % 3:
            steps.append((nodes["gift"], ""))
        run(version, customer, joined, steps=steps)
        for k in range(rng.randint(0, 6)):
            at = joined + dt.timedelta(days=rng.randint(-90, 120))
            if at < now:
                orders.append(
                    Order(
                        store=store,
                        customer=customer,
                        external_id=f"o{i}-{k}",
                        total=Decimal(rng.randint(15, 70)),
                        currency="USD",
                        processed_at=at,
                    )
                )
    Order.objects.bulk_create(orders)
    run_refresh(store.pk)
    return store, users, segment, experience


def test_segment_analytics_tab_and_in_place_refresh(live_server, browser_page, shop):
    store, _users, segment, _experience = shop
    page, base = browser_page, live_server.url
    login(page, base, "editor")
    page.goto(f"{base}/app/segments/{segment.pk}/")
    page.get_by_test_id("analytics-tab").click()
    page.wait_for_url(f"**/segments/{segment.pk}/analytics/")
    assert page.get_by_test_id("not-causal").is_visible()
    assert page.locator("svg.chart").count() == 2
    assert page.get_by_test_id("retention-table").is_visible()
    screenshot(page, "app-segment-analytics")
    page.get_by_role("link", name="90 days").click()
    page.wait_for_url("**window=90")
    assert "90 days before joining" in page.get_by_test_id("behaviour-table").inner_text().lower()
    # refresh without a reload: a marker on the window survives if the page is not reloaded
    page.evaluate("window.__stayed = true")
    page.get_by_test_id("refresh-analytics").click()
    page.get_by_text("Refresh queued").wait_for()
    run_refresh(store.pk)
    page.get_by_text("Up to date").wait_for(timeout=10_000)
    assert page.evaluate("window.__stayed") is True
    screenshot(page, "app-segment-analytics-refreshed")


def test_experience_analytics_page(live_server, browser_page, shop):
    _store, _users, _segment, experience = shop
    page, base = browser_page, live_server.url
    login(page, base, "viewer")
    page.goto(f"{base}/app/experiences/")
    page.get_by_test_id(f"experience-analytics-{experience.pk}").click()
    page.wait_for_url(f"**/experiences/{experience.pk}/analytics/")
    assert page.get_by_test_id("funnel-table").is_visible()
    assert page.get_by_test_id("comparisons-table").is_visible()
    # three paths: B and C each compared with A, and the page says so
    assert "2 comparisons per measure" in page.get_by_test_id("multiple-comparisons").inner_text()
    assert page.get_by_test_id("refresh-analytics").count() == 0
    screenshot(page, "app-experience-analytics")
    # the page and the builder link to each other
    page.get_by_test_id("builder-tab").click()
    page.wait_for_url(f"**/experiences/{experience.pk}/builder/")
    link = page.get_by_test_id("analytics-link")
    page.locator(".react-flow__node").first.wait_for()
    assert link.get_attribute("href") == f"/app/experiences/{experience.pk}/analytics/"
    screenshot(page, "app-builder-analytics-link")
    link.click()
    page.wait_for_url(f"**/experiences/{experience.pk}/analytics/")
    assert page.get_by_test_id("funnel-table").is_visible()
