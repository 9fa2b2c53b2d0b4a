"""The merchant app's pages in a real browser (headless Chromium against the live server):
log in, the rule editor's line and column and preview count, a CSV import's progress and report,
a viewer without edit controls. Screenshots of every page go to var/screenshots/."""

import pytest

from experiences.actions import create_experience
from segments.models import Role, Segment
from tests.experiences.helpers import milestone_graph, publish, static_segment
from tests.fixtures import factories as f
from tests.fixtures.browser import login, screenshot


@pytest.fixture
def shop(transactional_db):
    """A store with customers, segments and experiences, and a user of each role."""
    store = f.make_store(
        name="Demo Coffee Co", slug="demo-shop", shopify_domain="demo-shop.myshopify.com"
    )
    users = {role: f.make_user(store, role, username=role) for role in Role.values}
    for i in range(12):
        f.make_customer(
            store, email=f"buyer{i}@example.com", orders_count=i, first_name=f"Buyer{i}"
        )
    test_customers = static_segment(store, "Test Customers")
    publish(
        store,
        *milestone_graph(test_customers, static_segment(store, "Milestone reached")),
        name="Third order thank-you",
    )
    create_experience(store, name="Win back lapsed subscribers", kind="surprise_and_delight")
    Segment.objects.create(
        store=store, name="Repeat buyers", kind="dynamic", rule="orders_count >= 3", member_count=9
    )
    return store, users


def test_editor_logs_in_and_sees_every_page(live_server, browser_page, shop):
    store, _users = shop
    page, base = browser_page, live_server.url
    login(page, base, "editor")
    assert page.url == f"{base}/app/experiences/"
    assert page.get_by_role("link", name="Third order thank-you").is_visible()
    screenshot(page, "app-experiences")
    page.get_by_role("link", name="New experience").click()
    screenshot(page, "app-experience-new")
    page.get_by_role("link", name="Segments").click()
    assert page.get_by_role("cell", name="Repeat buyers").is_visible()
    screenshot(page, "app-segments")
    page.get_by_role("link", name="New segment").click()
    screenshot(page, "app-segment-new")
    page.get_by_role("link", name="Customers").click()
    page.get_by_label("Search by email").fill("buyer3@")
    page.get_by_label("Search by email").press("Enter")
    page.get_by_role("link", name="buyer3@example.com").click()
    assert page.get_by_text("Store credit balance").is_visible()
    screenshot(page, "app-customer")


def test_rule_editor_shows_line_and_column_then_preview_count(live_server, browser_page, shop):
    store, _users = shop
    segment = Segment.objects.get(store=store, name="Repeat buyers")
    page, base = browser_page, live_server.url
    login(page, base, "editor")
    page.goto(f"{base}/app/segments/{segment.pk}/")
    rule = page.get_by_role("textbox", name="Rule", exact=True)
    # when the editor types a misspelt field, then the error names its line and column
    # a rule never calculated says so, instead of a count or "no customer matches"
    assert page.get_by_test_id("member-count").inner_text() == "members not counted yet"
    assert page.get_by_text("Its members appear here once the rule has been calculated.").count()
    rule.fill("orders_count >= 3\nAND totl_spent > 10")
    error = page.get_by_test_id("rule-error")
    error.wait_for()
    assert "line 2, col 5" in error.inner_text()
    assert "total_spent" in error.inner_text()
    screenshot(page, "app-segment-rule-error")
    # when they fix it, then the preview counts the customers who match now
    rule.fill("orders_count >= 9")
    preview = page.get_by_test_id("rule-preview")
    preview.wait_for()
    assert "3 customers match it now" in preview.inner_text()
    screenshot(page, "app-segment-rule-preview")
    page.get_by_test_id("save-segment").click()
    page.wait_for_load_state()
    segment.refresh_from_db()
    assert segment.rule == "orders_count >= 9"


def test_csv_import_with_bad_rows_shows_progress_and_report(
    live_server, browser_page, shop, celery_worker_process, tmp_path
):
    store, _users = shop
    segment = Segment.objects.get(store=store, name="Test Customers")
    csv_file = tmp_path / "vip-list.csv"
    csv_file.write_text(
        "email,name\nbuyer1@example.com,A\nnot-an-email,B\nstranger@example.com,C\n"
        "buyer2@example.com,D\n,E\n"
    )
    celery_worker_process(queues="segments")
    page, base = browser_page, live_server.url
    login(page, base, "editor")
    page.goto(f"{base}/app/segments/{segment.pk}/")
    screenshot(page, "app-segment-static")
    page.get_by_role("link", name="Import a CSV…").click()
    screenshot(page, "app-segment-import")
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Upload and import").click()
    assert page.locator("progress").count() == 1
    # the page polls the job until it is done, then shows the per-row report
    page.get_by_test_id("import-status").filter(has_text="Done").wait_for(timeout=30_000)
    report = page.get_by_test_id("import-report").inner_text()
    assert "not-an-email" in report and "stranger@example.com" in report
    assert "the email is empty" in report
    figures = page.locator(".figures").inner_text()
    assert "Added\n2" in figures and "Unknown emails\n1" in figures and "Invalid rows\n2" in figures
    screenshot(page, "app-segment-import-report")
    page.get_by_role("link", name="Back to the segment").click()
    page.get_by_role("button", name="Why is this customer here?").first.click()
    page.get_by_test_id("why").wait_for()
    assert "added by a CSV import" in page.get_by_test_id("why").inner_text()
    screenshot(page, "app-segment-members-why")


def test_viewer_sees_no_edit_controls(live_server, browser_page, shop):
    store, _users = shop
    segment = Segment.objects.get(store=store, name="Test Customers")
    page, base = browser_page, live_server.url
    login(page, base, "viewer")
    assert page.get_by_text("Viewer", exact=True).is_visible()
    assert page.get_by_role("link", name="New experience").count() == 0
    assert page.get_by_role("button", name="Duplicate").count() == 0
    assert page.get_by_role("button", name="Archive").count() == 0
    screenshot(page, "app-experiences-viewer")
    page.goto(f"{base}/app/segments/{segment.pk}/")
    assert page.get_by_role("button", name="Save").count() == 0
    assert page.get_by_role("button", name="Delete segment").count() == 0
    assert page.get_by_label("Add customers by email").count() == 0
    assert page.get_by_role("textbox", name="Name", exact=True).is_editable() is False
    screenshot(page, "app-segment-viewer")


def test_owner_archives_and_sees_the_in_use_refusal(live_server, browser_page, shop):
    store, _users = shop
    segment = Segment.objects.get(store=store, name="Test Customers")
    page, base = browser_page, live_server.url
    login(page, base, "owner")
    page.once("dialog", lambda dialog: dialog.accept())
    page.goto(f"{base}/app/segments/{segment.pk}/")
    page.get_by_role("button", name="Delete segment").click()
    page.get_by_role("heading", name="“Test Customers” is in use and was not deleted").wait_for()
    assert "Third order thank-you" in page.content()
    screenshot(page, "app-segment-in-use")


def test_store_without_experiences_shows_whom_to_contact(live_server, browser_page, shop):
    store, _users = shop
    store.experiences_enabled = False
    store.save()
    page, base = browser_page, live_server.url
    login(page, base, "owner")
    assert page.get_by_role(
        "heading", name="Experiences are not enabled for Demo Coffee Co"
    ).is_visible()
    screenshot(page, "app-experiences-not-enabled")


def test_login_page(live_server, browser_page, transactional_db):
    page = browser_page
    page.goto(f"{live_server.url}/app/login/")
    page.get_by_label("Username").fill("nobody")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("alert").wait_for()
    screenshot(page, "app-login-error")
