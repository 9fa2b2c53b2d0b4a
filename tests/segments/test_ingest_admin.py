"""The staff surface of inbound events, the outbox sweep and the retry schedule."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from config import settings as project_settings
from segments.ingest import actions
from segments.models import InboundEvent
from tests.fixtures.payloads import load, post_shopify

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw-for-tests")
    client.force_login(user)
    return client


def _event(store, status=InboundEvent.Status.FAILED, **kwargs):
    defaults = {
        "store": store,
        "source": "shopify",
        "topic": "orders/create",
        "dedupe_key": f"k-{InboundEvent.objects.count()}",
        "payload": {"id": 1, "total_price": "1.00", "note": "<b>bold</b>"},
        "status": status,
        "attempts": 5,
        "last_error": "Customer #3 has shopify_id 1 but the payload says 2.",
    }
    defaults.update(kwargs)
    return InboundEvent.objects.create(**defaults)


def test_admin_lists_events_with_filters(staff_client, store, django_assert_max_num_queries):
    for _ in range(5):
        _event(store)
    with django_assert_max_num_queries(12):
        response = staff_client.get(
            "/admin/segments/inboundevent/",
            {"status": "failed", "source": "shopify", "topic": "orders/create", "store": store.pk},
        )
    assert response.status_code == 200
    assert response.content.count(b"orders/create") >= 5


def test_admin_shows_payload_pretty_printed_and_the_error(staff_client, store):
    event = _event(store)
    response = staff_client.get(f"/admin/segments/inboundevent/{event.pk}/change/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "&quot;total_price&quot;: &quot;1.00&quot;" in content
    assert "&lt;b&gt;bold&lt;/b&gt;" in content  # escaped, never rendered
    assert "payload says 2." in content


def test_admin_replay_puts_failed_events_back_and_skips_others(staff_client, store):
    failed, processed = _event(store), _event(store, status=InboundEvent.Status.PROCESSED)
    response = staff_client.post(
        "/admin/segments/inboundevent/",
        {"action": "replay", "_selected_action": [failed.pk, processed.pk]},
        follow=True,
    )
    assert response.status_code == 200
    failed.refresh_from_db()
    processed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("received", 0, None)
    assert failed.last_error  # kept until the replay succeeds
    assert processed.status == InboundEvent.Status.PROCESSED
    assert b"1 event(s) skipped" in response.content


def test_replayed_event_is_processed_once_fixed(store, django_capture_on_commit_callbacks, client):
    # given an order event that failed because its customer was unknown
    post_shopify(client, store, "orders/create", load("shopify_orders_create"))
    event = InboundEvent.objects.get()
    InboundEvent.objects.filter(pk=event.pk).update(status="failed", attempts=5)
    # when staff replay it and a worker runs
    assert actions.replay_events([event.pk]) == 1
    actions.process_batch()
    # then it is processed
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.PROCESSED
    assert event.last_error == ""


def test_admin_refuses_anonymous_users(client, store):
    response = client.get("/admin/segments/inboundevent/")
    assert response.status_code == 302


def test_sweep_finds_events_past_the_grace_period_or_due_for_retry(store):
    now = timezone.now()
    _event(store, status="received", received_at=now - dt.timedelta(seconds=60))
    _event(store, status="received", received_at=now)  # still within grace
    _event(store, status="received", next_attempt_at=now - dt.timedelta(seconds=1))
    _event(store, status="received", next_attempt_at=now + dt.timedelta(minutes=5))
    _event(store, status="failed", received_at=now - dt.timedelta(hours=1))
    assert actions.sweep_pending(grace_seconds=30) == 2


def test_retry_delay_grows_with_jitter_and_is_capped(settings):
    settings.INGEST_RETRY_BASE_SECONDS = 10
    settings.INGEST_RETRY_MAX_SECONDS = 600
    assert 10 <= actions.retry_delay(1) <= 20
    assert 40 <= actions.retry_delay(3) <= 80
    assert 300 <= actions.retry_delay(20) <= 600


def test_sweep_is_scheduled_on_the_scheduled_queue():
    entry = project_settings.CELERY_BEAT_SCHEDULE["ingest-sweep"]
    assert entry["task"] == "scheduled.ingest_sweep"
    assert entry["options"]["queue"] == "scheduled"
