"""The admin's operations page: what is waiting, failed or stuck, and replay of failed events."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from experiences import actions
from experiences.models import RunStep
from segments.actions import create_segment
from segments.models import InboundEvent, OutboxEvent, SegmentCalculation
from tests.experiences.helpers import edge, node, order_event, publish, static_segment
from tests.fixtures.browser import screenshot
from tests.fixtures.factories import make_customer, make_order

URL = "/admin/operations/"


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser("ops-staff", "ops@example.com", "pw-for-tests")


def _troubles(store):
    """A failed event, a waiting event, an unsent outbox row, a stuck recompute, a wait past due."""
    ago = timezone.now() - dt.timedelta(minutes=30)
    failed = InboundEvent.objects.create(
        store=store, source="shopify", topic="orders/create", dedupe_key="ops-failed",
        payload={"id": 1}, status="failed", attempts=5, received_at=ago,
        last_error="Customer #1 has shopify_id 111 but the payload says 222.",
    )  # fmt: skip
    InboundEvent.objects.create(
        store=store, source="recharge", topic="charge/paid", dedupe_key="ops-waiting",
        payload={}, received_at=ago,
    )  # fmt: skip
    OutboxEvent.objects.create(store=store, key="ops-outbox", event={}, created_at=ago)
    segment = create_segment(store, name="Recomputed", kind="dynamic", rule="orders_count >= 1")
    calculation = SegmentCalculation.objects.filter(segment=segment).latest("id")
    SegmentCalculation.objects.filter(pk=calculation.pk).update(
        status="running", started_at=ago, heartbeat_at=ago
    )
    reached = static_segment(store, "Waited")
    publish(
        store,
        [
            node("trigger", "trigger", {"confirm_every_order": True}),
            node("wait", "wait", {"mode": "duration", "minutes": 60}),
            node("add", "segment", {"action": "add", "segment_id": reached.pk}),
            node("end", "end"),
        ],
        [edge("trigger", "wait"), edge("wait", "add"), edge("add", "end")],
    )
    actions.process_event(order_event(make_order(make_customer(store), is_subscription=True)))
    RunStep.objects.filter(status="waiting").update(due_at=ago)
    return failed


def test_staff_see_backlog_failures_stuck_recomputes_and_waits(client, staff, store):
    failed = _troubles(store)
    client.force_login(staff)
    response = client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    backlog = response.context["backlog"]
    assert (backlog.received, backlog.unsent_outbox, backlog.waits_due) == (1, 1, 1)
    assert backlog.stuck_recomputes == 1
    assert [e.pk for e in response.context["failed_events"]] == [failed.pk]
    assert "shopify_id 111 but the payload says 222" in page
    assert "Recomputed" in page
    assert [s.status for s in response.context["waits"]] == ["waiting"]
    assert response.context["received_age"] == "30 min"


def test_replay_from_the_page_queues_the_failed_event_again(client, staff, store):
    failed = _troubles(store)
    client.force_login(staff)
    response = client.post(URL, {"event": [str(failed.pk)]}, follow=True)
    assert response.redirect_chain == [(URL, 302)]
    failed.refresh_from_db()
    assert failed.status == InboundEvent.Status.RECEIVED
    assert "1 event(s) queued again." in response.content.decode()


def test_the_page_is_for_staff_only(client, store, db):
    user = get_user_model().objects.create_user("merchant", password="pw-for-tests")
    client.force_login(user)
    assert client.get(URL).status_code == 302  # to the admin's login
    assert client.post(URL, {"event": ["1"]}).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_operations_page_in_a_browser(browser_page, live_server, store):
    # given troubles to show, and staff signed in through the admin's login page
    _troubles(store)
    get_user_model().objects.create_superuser("ops-staff", "ops@example.com", "pw-for-tests")
    page = browser_page
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "ops-staff")
    page.fill("#id_password", "pw-for-tests")
    page.click("input[type=submit]")
    # when they follow the link from the admin's index
    page.get_by_role("link", name="Operations").click()
    page.wait_for_url(f"{live_server.url}{URL}")
    # then the figures and the failed event are there, and replay works
    assert page.get_by_test_id("failed").inner_text().startswith("1")
    screenshot(page, "admin_operations")
    page.get_by_label("Replay event").first.check()
    page.get_by_role("button", name="Replay the selected events").click()
    page.wait_for_selector("text=1 event(s) queued again.")
    screenshot(page, "admin_operations_replayed")
