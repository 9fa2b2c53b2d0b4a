"""/metrics in Prometheus text: counters from every process (a real worker's included), queue
lag computed by SQL at scrape time, readable from loopback or with the token only."""

import re

import pytest
from django.test import Client

from segments.models import InboundEvent, OutboxEvent
from tests.fixtures.payloads import load, post_shopify
from tests.fixtures.worker import wait_until


def _scrape(client=None) -> str:
    response = (client or Client()).get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


def _sample(text: str, name: str, **labels) -> float:
    """Return the sample's value (0 when absent); labels must match exactly those given."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[1] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match[2])
    return 0.0


def test_a_real_webhook_moves_the_counters_of_web_and_worker(celery_worker_process, store):
    # given a real worker process and the counters as they are
    celery_worker_process()
    before = _scrape()
    accepted = dict(source="shopify", topic="orders/create", result="accepted")
    processed = dict(source="shopify", result="processed")
    # when a signed webhook arrives, then the same one again, then one with a bad signature
    payload = load("shopify_orders_create")
    assert (
        post_shopify(Client(), store, "orders/create", payload, event_id="m-1").status_code == 202
    )
    assert (
        post_shopify(Client(), store, "orders/create", payload, event_id="m-1").status_code == 200
    )
    bad = Client().post(
        "/webhooks/shopify/",
        data=b"{}",
        content_type="application/json",
        HTTP_X_SHOPIFY_SHOP_DOMAIN=store.shopify_domain,
        HTTP_X_SHOPIFY_TOPIC="orders/create",
        HTTP_X_SHOPIFY_HMAC_SHA256="bad",
    )
    assert bad.status_code == 401
    wait_until(
        lambda: InboundEvent.objects.filter(status="processed").count() == 1,
        message="the event was not processed",
    )
    # then the web's counters moved by one each, and the worker's processed count too
    after = _scrape()

    def moved(name, **labels):
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    assert moved("subexp_webhooks_total", **accepted) == 1
    assert moved("subexp_webhooks_total", **{**accepted, "result": "duplicate"}) == 1
    assert moved("subexp_webhooks_total", **{**accepted, "result": "bad_signature"}) == 1
    wait_until(lambda: moved("subexp_events_total", **processed) >= 1, timeout=5)
    assert moved("subexp_events_total", **processed) == 1
    # and the queue is drained: nothing received is left
    assert _sample(after, "subexp_events_received") == 0


@pytest.mark.django_db
def test_queue_lag_is_the_age_of_the_oldest_waiting_row(store, client):
    # given an event received two minutes ago and never processed, and an outbox row unsent
    from datetime import timedelta

    from django.utils import timezone

    old = timezone.now() - timedelta(minutes=2)
    InboundEvent.objects.create(
        store=store, source="shopify", topic="orders/create", dedupe_key="lag-1",
        payload={}, received_at=old,
    )  # fmt: skip
    OutboxEvent.objects.create(
        store=store, key="lag-outbox", event={}, created_at=old - timedelta(minutes=1)
    )
    # when the metrics are scraped
    text = _scrape(client)
    # then the lag gauges read those ages (by SQL: now() is the transaction's start)
    assert _sample(text, "subexp_events_received") == 1
    assert 110 <= _sample(text, "subexp_events_oldest_received_age_seconds") < 180
    assert _sample(text, "subexp_outbox_unsent") == 1
    assert 170 <= _sample(text, "subexp_outbox_oldest_unsent_age_seconds") < 240


@pytest.mark.django_db
def test_the_task_journal_backlog_is_a_gauge(store, client):
    # given a journalled task the broker never ran, written three minutes ago
    from datetime import timedelta

    from django.utils import timezone

    from segments.models import QueuedTask

    QueuedTask.objects.create(
        name="segments.evaluate_customers", args=[store.pk, []],
        created_at=timezone.now() - timedelta(minutes=3),
    )  # fmt: skip
    # when the metrics are scraped, then they count it and its age
    text = _scrape(client)
    assert _sample(text, "subexp_task_journal_waiting") == 1
    assert 170 <= _sample(text, "subexp_task_journal_oldest_age_seconds") < 240


@pytest.mark.django_db
def test_metrics_are_refused_off_loopback_unless_the_token_is_sent(settings):
    # given a scrape from another address
    remote = Client(REMOTE_ADDR="10.1.2.3")
    assert remote.get("/metrics").status_code == 403
    # when a token is configured, loopback alone is no longer enough, the token is
    settings.METRICS_TOKEN = "s3cret-token"
    assert Client().get("/metrics").status_code == 403
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


@pytest.mark.django_db
def test_a_metrics_failure_never_fails_the_webhook(store, monkeypatch, caplog):
    # given metrics that cannot be written (their directory removed under the process)
    from config import metrics

    def broken(**labels):
        raise FileNotFoundError("metrics directory removed")

    monkeypatch.setattr(metrics.WEBHOOKS, "labels", broken)
    # when a webhook arrives, then it is accepted all the same, and the failure is logged
    payload = load("shopify_orders_create")
    assert post_shopify(Client(), store, "orders/create", payload).status_code == 202
    assert "not counted: metrics directory removed" in caplog.text
