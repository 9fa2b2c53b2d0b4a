"""Segments through a real Celery worker: a rule edit recomputes, an order event re-evaluates."""

import re

from django.db import transaction

from segments import domain
from segments.actions import create_segment, update_segment
from segments.models import (
    Customer,
    Segment,
    SegmentCalculation,
    SegmentHistory,
    SegmentMembership,
)
from tests.fixtures.factories import make_customer
from tests.fixtures.worker import wait_until


def test_worker_recomputes_after_edits_and_evaluates_after_order_events(
    celery_worker_process, store
):
    # given a worker on the segments queue and customers
    worker = celery_worker_process(queues="segments")
    big = make_customer(store, email="big@example.com", orders_count=5)
    small = make_customer(store, email="small@example.com", orders_count=1)
    # when a dynamic segment is created, then the worker computes it
    segment = create_segment(store, name="Top", kind="dynamic", rule="orders_count >= 3")
    wait_until(
        lambda: Segment.objects.get(pk=segment.pk).status == "done",
        message="the first recompute did not finish",
    )
    assert set(
        SegmentMembership.objects.filter(segment=segment).values_list("customer", flat=True)
    ) == {big.pk}
    # when the same recompute message is delivered again, then nothing changes
    from config.celery import app

    history = SegmentHistory.objects.filter(segment=segment).count()
    first = SegmentCalculation.objects.get(segment=segment)
    app.send_task("segments.recompute", args=[first.pk])
    wait_until(
        lambda: len(re.findall(r"segments\.recompute\[[^\]]+\] succeeded", worker.output())) == 2,
        message="the redelivered recompute did not run",
    )
    assert SegmentHistory.objects.filter(segment=segment).count() == history
    # when the rule is edited, then the new version is computed
    update_segment(segment, rule="orders_count >= 1")
    wait_until(
        lambda: Segment.objects.filter(
            pk=segment.pk, calculated_version=2, member_count=2
        ).exists(),
        message="the edited rule was not recomputed",
    )
    # when an order changes a customer and its event is announced, then membership follows
    Customer.objects.filter(pk=small.pk).update(orders_count=0)
    with transaction.atomic():
        domain.announce(
            domain.DomainEvent("order_cancelled", store.pk, small.pk, key="inbound:worker-1")
        )
    wait_until(
        lambda: not SegmentMembership.objects.filter(segment=segment, customer=small).exists(),
        message="the order event did not re-evaluate the customer",
    )
    assert Segment.objects.get(pk=segment.pk).member_count == 1
