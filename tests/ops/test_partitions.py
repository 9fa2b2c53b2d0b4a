"""Monthly partitions of the membership history: created ahead, rows in their month, hot
windowed queries pruned to the months they ask for; raw payloads emptied after retention."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from segments import partitions
from segments.actions import create_segment
from segments.models import InboundEvent, SegmentHistory
from segments.queries import segment_history

pytestmark = pytest.mark.django_db
TABLE = "segments_segmenthistory"


def _month(n: int) -> dt.date:
    return partitions.add_months(partitions.month_start(timezone.now().date()), n)


def _history(store, segment, customer, at: dt.datetime) -> SegmentHistory:
    row = SegmentHistory.objects.create(
        store=store, segment=segment, customer=customer, action="added", source="rule"
    )
    SegmentHistory.objects.filter(pk=row.pk).update(at=at)
    return row


def _partition_of(row) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [row.pk])
        return cursor.fetchone()[0]


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(line for (line,) in cursor.fetchall())


def test_history_is_partitioned_with_months_ahead():
    names = partitions.existing_partitions(TABLE)
    wanted = {partitions.partition_name(TABLE, _month(n)) for n in range(4)}
    assert wanted <= names and partitions.default_partition(TABLE) in names
    # and the beat task keeps them ahead: a month further is created, once
    created = partitions.ensure_partitions(months_ahead=4)
    assert partitions.partition_name(TABLE, _month(4)) in created
    assert partitions.ensure_partitions(months_ahead=4) == []


def test_a_row_lands_in_its_month_and_an_old_one_moves_out_of_the_default(store, customer):
    segment = create_segment(store, name="Picked")
    now = _history(store, segment, customer, timezone.now())
    assert _partition_of(now) == partitions.partition_name(TABLE, _month(0))
    # given a row of a month that has no partition (history older than the table's partitions)
    old_month = _month(-5)
    old = _history(store, segment, customer, dt.datetime.combine(old_month, dt.time(12), dt.UTC))
    assert _partition_of(old) == partitions.default_partition(TABLE)
    # when that month's partition is created, the row moves into it
    assert partitions.create_month(TABLE, "at", old_month)
    assert _partition_of(old) == partitions.partition_name(TABLE, old_month)
    assert SegmentHistory.objects.filter(customer=customer).count() == 2


def test_the_history_of_a_window_touches_only_its_months(store, customer):
    # given history in this month, last month and the one before
    segment = create_segment(store, name="Picked")
    for n in (-2, -1):
        partitions.create_month(TABLE, "at", _month(n))
    now = timezone.now()
    for days in (0, 35, 65):
        _history(store, segment, customer, now - dt.timedelta(days=days))
    # when the segment page asks for the last 30 days, and the customer page for this month
    window = segment_history(store, segment=segment, since=now - dt.timedelta(days=30))
    month = segment_history(
        store, customer=customer, since=dt.datetime.combine(_month(0), dt.time(0), dt.UTC)
    )
    # then the plans read only the partitions of those days
    recent = {partitions.partition_name(TABLE, _month(n)) for n in (-1, 0)}
    older = partitions.partition_name(TABLE, _month(-2))
    plan = _plan(window)
    assert older not in plan and partitions.default_partition(TABLE) not in plan
    assert any(name in plan for name in recent)
    plan = _plan(month)
    assert partitions.partition_name(TABLE, _month(0)) in plan
    assert partitions.partition_name(TABLE, _month(-1)) not in plan and older not in plan
    assert window.count() == 1 and month.count() == 1


def test_payloads_past_retention_are_emptied_but_failed_ones_kept(store, settings):
    old = timezone.now() - dt.timedelta(days=100)

    def event(n, status, received_at):
        return InboundEvent.objects.create(
            store=store, source="shopify", topic="orders/create", dedupe_key=f"k{n}",
            payload={"id": n}, status=status, received_at=received_at,
        )  # fmt: skip

    applied_old = event(1, "processed", old)
    failed_old = event(2, "failed", old)
    applied_new = event(3, "processed", timezone.now())
    settings.INBOUND_PAYLOAD_RETENTION_DAYS = 90
    assert partitions.drop_old_payloads() == 1
    for row, payload in ((applied_old, {}), (failed_old, {"id": 2}), (applied_new, {"id": 3})):
        row.refresh_from_db()
        assert row.payload == payload
    assert partitions.drop_old_payloads() == 0
