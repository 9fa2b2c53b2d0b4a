"""Monthly partitions of inbound events and the outbox: a redelivery across a month boundary is
still a duplicate, keys and whole outbox months go after their retention, rows out of range move
out of the default partition, and the hot queries read only the months they need."""

import datetime as dt
import json

import pytest
import time_machine
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from ops.queries import failed_events
from segments import domain, outbox, partitions
from segments.ingest import actions
from segments.models import InboundDelivery, InboundEvent, OutboxEvent
from tests.fixtures.payloads import load, post_shopify

pytestmark = pytest.mark.django_db
EVENTS = "segments_inboundevent"
OUTBOX = "segments_outboxevent"


def _month(n: int) -> dt.date:
    return partitions.add_months(partitions.month_start(timezone.now().date()), n)


def _at(month: dt.date, day: int = 1, time: dt.time = dt.time(12)) -> dt.datetime:
    return dt.datetime.combine(month.replace(day=day), time, dt.UTC)


def _partition_of(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def _explain(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(line for (line,) in cursor.fetchall())


def _explain_queryset(queryset) -> str:
    return _explain(*queryset.query.sql_with_params())


def _read(plan: str, table: str) -> set[str]:
    """Return the partitions of ``table`` a plan reads."""
    names = partitions.existing_partitions(table)
    return {name for name in names if f" on {name}" in plan}


def _delivery(store, key: str, n: int = 1) -> tuple[actions.Delivery, dict]:
    payload = load("shopify_orders_create")
    payload["id"] = 9_100_000 + n
    delivery = actions.Delivery(store.id, "shopify", "orders/create", key, json.dumps(payload))
    return delivery, payload


def _outbox_row(store, key: str, created_at: dt.datetime, *, sent: bool) -> OutboxEvent:
    row = OutboxEvent.objects.create(store=store, key=key, event={"key": key})
    OutboxEvent.objects.filter(pk=row.pk).update(
        created_at=created_at, sent_at=created_at if sent else None
    )
    return row


# --- exactly once across months ---------------------------------------------------------------


def test_a_redelivery_across_a_month_boundary_is_still_a_duplicate(store):
    payload = load("shopify_orders_create")
    # given a webhook delivered in the last second of a month
    with time_machine.travel(_at(_month(1), 1, dt.time(0)) - dt.timedelta(seconds=1), tick=False):
        first = post_shopify(Client(), store, "orders/create", payload, event_id="e-edge")
    # when Shopify retries it in the first minute of the next month
    with time_machine.travel(_at(_month(1), 1, dt.time(0, 0, 30)), tick=False):
        again = post_shopify(Client(), store, "orders/create", payload, event_id="e-edge")
    # then the retry is a duplicate: one event, in the first month's partition, one key
    assert (first.status_code, again.status_code) == (202, 200)
    (event,) = InboundEvent.objects.all()
    assert _partition_of(EVENTS, event.pk) == partitions.partition_name(EVENTS, _month(0))
    (key,) = InboundDelivery.objects.all()
    assert (key.event_id, key.received_at, key.dedupe_key) == (
        event.pk,
        event.received_at,
        event.dedupe_key,
    )


def test_dedupe_keys_past_retention_are_deleted_and_recent_ones_kept(store, settings):
    # given a delivery 40 days ago and one today
    with time_machine.travel(timezone.now() - dt.timedelta(days=40)):
        old_id = actions.record_delivery(*_delivery(store, "old", 1))
    recent_id = actions.record_delivery(*_delivery(store, "recent", 2))
    assert old_id and recent_id
    # when the beat task applies a retention of 30 days
    settings.INBOUND_DEDUPE_RETENTION_DAYS = 30
    assert partitions.maintain()["dedupe_keys_deleted"] == 1
    # then the recent key still makes a redelivery a duplicate; the old event itself is kept
    assert actions.record_delivery(*_delivery(store, "recent", 2)) is None
    assert list(InboundDelivery.objects.values_list("dedupe_key", flat=True)) == ["recent"]
    assert InboundEvent.objects.filter(pk=old_id).exists()
    assert partitions.drop_old_dedupe_keys() == 0


def test_events_pending_outside_the_claim_window_are_drained_by_the_sweep(store, settings):
    # given an event received 10 days ago and still pending (a long outage), and one stamped
    # by a web process whose clock is 3 hours ahead
    settings.INGEST_CLAIM_WINDOW_DAYS = 7
    with time_machine.travel(timezone.now() - dt.timedelta(days=10)):
        late = actions.record_delivery(*_delivery(store, "late", 3))
    with time_machine.travel(timezone.now() + dt.timedelta(hours=3)):
        ahead = actions.record_delivery(*_delivery(store, "ahead", 4))
    # when a drain claims, then the sweep runs
    assert actions.process_batch() == 0
    actions.sweep_pending()
    # then the sweep applied both
    statuses = InboundEvent.objects.filter(pk__in=[late, ahead]).values_list("status", flat=True)
    assert list(statuses) == [InboundEvent.Status.PROCESSED] * 2


# --- partitions ahead and the default partition ----------------------------------------------


def test_out_of_range_events_and_outbox_rows_move_out_of_the_default_partition(store):
    # given an event and an outbox row of a month that has no partition
    old_month = _month(-5)
    event = InboundEvent.objects.create(
        store=store, source="shopify", topic="orders/create", dedupe_key="k",
        payload={}, received_at=_at(old_month),
    )  # fmt: skip
    row = _outbox_row(store, "inbound:1", _at(old_month), sent=False)
    assert _partition_of(EVENTS, event.pk) == partitions.default_partition(EVENTS)
    assert _partition_of(OUTBOX, row.pk) == partitions.default_partition(OUTBOX)
    # when that month's partitions are created
    assert partitions.create_month(EVENTS, "received_at", old_month)
    assert partitions.create_month(OUTBOX, "created_at", old_month)
    # then the rows moved into them, and the outbox's has the month's unique key index
    assert _partition_of(EVENTS, event.pk) == partitions.partition_name(EVENTS, old_month)
    name = partitions.partition_name(OUTBOX, old_month)
    assert _partition_of(OUTBOX, row.pk) == name
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [name])
        assert any("UNIQUE" in d and "(key)" in d for (d,) in cursor.fetchall())


def test_an_outbox_key_is_recorded_once_in_its_month(store):
    event = domain.DomainEvent(
        name="customer_updated", store_id=store.id, customer_id=None, key="k"
    )
    with transaction.atomic():
        first = outbox.record([event])
        again = outbox.record([event, event])
    assert len(first) == 1 and again == []
    assert OutboxEvent.objects.filter(key="k").count() == 1


def test_past_outbox_months_are_dropped_whole_once_nothing_is_left_to_send(store):
    # given, in the middle of a month, two past months: one all sent, one with a row unsent
    with time_machine.travel(_at(_month(0), 15)):
        for n in (-2, -1):
            partitions.create_month(OUTBOX, "created_at", _month(n))
        _outbox_row(store, "a", _at(_month(-2), 3), sent=True)
        late = _outbox_row(store, "b", _at(_month(-1), 3), sent=False)
        current = _outbox_row(store, "c", timezone.now(), sent=True)
        with connection.cursor() as cursor:  # as if committed: no foreign key check pending
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # when the cleanup runs
        dropped = partitions.drop_sent_outbox_months()
        # then only the month with nothing unsent is dropped; this month is never dropped
        assert dropped == [partitions.partition_name(OUTBOX, _month(-2))]
        # and once its last row is sent, the other goes too
        OutboxEvent.objects.filter(pk=late.pk).update(sent_at=timezone.now())
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        assert partitions.drop_sent_outbox_months() == [
            partitions.partition_name(OUTBOX, _month(-1))
        ]
        assert list(OutboxEvent.objects.values_list("pk", flat=True)) == [current.pk]
        assert partitions.partition_name(OUTBOX, _month(0)) in partitions.existing_partitions(
            OUTBOX
        )


def _inbound(store, key: str, month: dt.date, status: str) -> InboundEvent:
    return InboundEvent.objects.create(
        store=store, source="shopify", topic="orders/create", dedupe_key=key,
        payload={}, received_at=_at(month, 3), status=status,
    )  # fmt: skip


def test_inbound_months_past_their_retention_are_dropped_unless_an_event_is_open(store, settings):
    # given, mid-month, three months that ended more than 60 days ago: one all applied, one with
    # a failed event (kept for a replay), one with an event still to apply; and a recent month
    settings.INBOUND_EVENT_RETENTION_DAYS = 60
    with time_machine.travel(_at(_month(0), 15)):
        for n in (-5, -4, -3, -1):
            partitions.create_month(EVENTS, "received_at", _month(n))
        done = InboundEvent.Status.PROCESSED
        _inbound(store, "a", _month(-5), done)
        _inbound(store, "b", _month(-5), InboundEvent.Status.IGNORED)
        failed = _inbound(store, "c", _month(-4), InboundEvent.Status.FAILED)
        _inbound(store, "d", _month(-4), done)
        waiting = _inbound(store, "e", _month(-3), InboundEvent.Status.RECEIVED)
        recent = _inbound(store, "f", _month(-1), done)
        with connection.cursor() as cursor:  # as if committed: no foreign key check pending
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # (the check of a month reads its partial indexes of waiting and failed events, never
        # the month's rows: a month at scale holds hundreds of millions)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            name = partitions.partition_name(EVENTS, _month(-4))
            cursor.execute("EXPLAIN " + partitions.HAS_OPEN.format(name=name))
            plan = "\n".join(line for (line,) in cursor.fetchall())
            cursor.execute("SET LOCAL enable_seqscan = on")
        assert "Seq Scan" not in plan and plan.count("Index") >= 2, plan
        # when the partitions' beat task runs
        dropped = partitions.maintain()["inbound_months_dropped"]
        # then only the month whose events were all applied is dropped
        assert dropped == [partitions.partition_name(EVENTS, _month(-5))]
        assert not InboundEvent.objects.filter(dedupe_key__in=["a", "b"]).exists()
        # and once the failed event is replayed and the waiting one applied, theirs go too
        InboundEvent.objects.filter(pk__in=[failed.pk, waiting.pk]).update(status=done)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        assert partitions.drop_old_inbound_months() == [
            partitions.partition_name(EVENTS, _month(-4)),
            partitions.partition_name(EVENTS, _month(-3)),
        ]
        # while a month within the retention stays, whatever its events
        assert list(InboundEvent.objects.values_list("pk", flat=True)) == [recent.pk]
        assert partitions.drop_old_inbound_months(days=0) == []  # 0: kept forever


# --- the hot queries read only the months they need ------------------------------------------


def _claim_plan(now: dt.datetime, window) -> str:
    since, until = actions.claim_bounds(now, window)
    return _explain(
        actions._CLAIM.format(lock="FOR UPDATE SKIP LOCKED"),
        {"now": now, "since": since, "until": until, "limit": 100},
    )


def test_the_workers_claim_reads_only_the_months_of_its_window():
    partitions.create_month(EVENTS, "received_at", _month(-1))
    week = dt.timedelta(days=7)
    this, last = (partitions.partition_name(EVENTS, _month(n)) for n in (0, -1))
    # mid-month, the claim reads this month only
    assert _read(_claim_plan(_at(_month(0), 15), week), EVENTS) == {this}
    # early in a month, this one and the last
    assert _read(_claim_plan(_at(_month(0), 3), week), EVENTS) == {this, last}
    # the sweep's claim reads every month, the default partition included
    assert _read(_claim_plan(_at(_month(0), 15), None), EVENTS) == (
        partitions.existing_partitions(EVENTS)
    )


def test_the_dedupe_insert_reads_no_event_partition(store):
    delivery, _ = _delivery(store, "k")
    plan = _explain(
        actions._INSERT.format(payload="%(payload)s::jsonb"),
        {
            "store": store.id, "source": "shopify", "key": "k", "topic": "orders/create",
            "customer": "", "occurred": None, "now": timezone.now(),
            "payload": delivery.payload_text, "status": "received",
        },
    )  # fmt: skip
    assert "Insert on segments_inbounddelivery" in plan
    assert "Insert on segments_inboundevent" in plan
    assert _read(plan, EVENTS) == set() and "Seq Scan" not in plan


def test_the_failed_events_list_reads_only_recent_months(store):
    for n in (-3, -2, -1):
        partitions.create_month(EVENTS, "received_at", _month(n))
    with time_machine.travel(_at(_month(0), 15)):
        plan = _explain_queryset(failed_events())
    # the last 31 days: this month and the end of the last one
    assert _read(plan, EVENTS) == {partitions.partition_name(EVENTS, _month(n)) for n in (-1, 0)}


def test_a_stores_events_of_a_month_read_that_month_only(store):
    # the admin's list of a store's events, drilled down to a month (date hierarchy)
    partitions.create_month(EVENTS, "received_at", _month(-1))
    rows = InboundEvent.objects.filter(
        store=store, received_at__gte=_at(_month(-1), 1, dt.time(0)),
        received_at__lt=_at(_month(0), 1, dt.time(0)),
    ).order_by("-received_at", "-id")[:100]  # fmt: skip
    assert _read(_explain_queryset(rows), EVENTS) == {partitions.partition_name(EVENTS, _month(-1))}


def test_the_outbox_sweep_reads_no_future_month(store):
    now = timezone.now()
    unsent = (
        OutboxEvent.objects.select_for_update(skip_locked=True)
        .filter(sent_at__isnull=True, created_at__lt=now - dt.timedelta(seconds=30))
        .order_by("created_at", "pk")[:1000]
    )
    read = _read(_explain_queryset(unsent), OUTBOX)
    assert partitions.partition_name(OUTBOX, _month(0)) in read
    assert not read & {partitions.partition_name(OUTBOX, _month(n)) for n in (1, 2, 3)}
