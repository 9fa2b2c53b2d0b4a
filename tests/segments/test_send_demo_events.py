"""``send_demo_events`` posts signed webhooks through the real endpoints of a running server, and
a real worker turns them into orders, figures and experience runs."""

import pytest
from django.core.management import CommandError, call_command

from experiences.models import Run
from segments.demo import seed_demo
from segments.models import InboundEvent, Order
from tests.experiences.helpers import edge, node, publish
from tests.fixtures.worker import wait_until


def _every_order_experience(store):
    nodes = [
        node(
            "trigger",
            "trigger",
            {
                "event": "order_processed",
                "order_type": "any",
                "conditions": [],
                "confirm_every_order": True,
            },
        ),
        node("end", "end"),
    ]
    return publish(store, nodes, [edge("trigger", "end")], name="Every order", reentry="every_time")


def test_demo_events_are_accepted_and_processed_into_orders_and_runs(
    live_server, celery_worker_process, capsys
):
    # given the demo store with its subscribers, a live experience on every order, and a worker
    store = seed_demo(customers=30, slug="demo").store
    experience = _every_order_experience(store)
    orders_before = Order.objects.filter(store=store).count()
    celery_worker_process()
    # when the command sends a stream of webhooks to the running server
    call_command("send_demo_events", url=live_server.url, count=16, rate=0, seed=7, store="demo")
    # then every delivery was accepted, stored and processed by the worker
    out = capsys.readouterr().out
    assert "Sent 16 webhooks" in out and "16 answered 202" in out
    topics = set(InboundEvent.objects.filter(store=store).values_list("topic", flat=True))
    assert {"orders/create", "orders/paid", "charge/paid"} <= topics
    assert InboundEvent.objects.filter(store=store).count() == 16
    wait_until(
        lambda: not InboundEvent.objects.filter(store=store, status="received").exists(),
        timeout=60,
        message="the worker did not process the demo events",
    )
    assert not InboundEvent.objects.filter(store=store, status="failed").exists()
    assert Order.objects.filter(store=store).count() > orders_before
    # and the live experience started runs for the customers who ordered
    wait_until(lambda: Run.objects.filter(experience=experience).exists(), timeout=60)


def test_demo_events_need_a_seeded_store(db):
    with pytest.raises(CommandError, match="run `python manage.py seed_demo` first"):
        call_command("send_demo_events", store="nope", count=1)
