"""Concurrent writers of the same memberships: each change is written once, counts stay exact."""

import threading
from decimal import Decimal

from django.db import connection

from segments.actions import add_customers_to_segment, create_segment
from segments.models import Customer, Segment, SegmentHistory, SegmentMembership
from segments.recompute import evaluate_customer
from tests.fixtures.factories import make_customer

from .segment_helpers import dynamic_segment


def _in_threads(count: int, work) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run():
        try:
            barrier.wait()
            work()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def test_concurrent_evaluations_of_one_customer_write_each_entry_once(transactional_db, store):
    # given dynamic segments and a customer who now matches all of them
    customer = make_customer(store, orders_count=0)
    segments = [dynamic_segment(store, f"orders_count >= {n}", name=f"S{n}") for n in (1, 2, 3)]
    Customer.objects.filter(pk=customer.pk).update(orders_count=5, total_spent=Decimal("10"))
    # when four workers evaluate the customer at the same moment, on four connections
    errors = _in_threads(4, lambda: evaluate_customer(store.pk, customer.pk))
    # then each entry is written once, with one history row, and the counts are exact
    assert errors == []
    for segment in segments:
        assert SegmentMembership.objects.filter(segment=segment, customer=customer).count() == 1
        assert SegmentHistory.objects.filter(segment=segment, customer=customer).count() == 1
        assert Segment.objects.get(pk=segment.pk).member_count == 1


def test_concurrent_bulk_adds_of_the_same_customers_count_them_once(transactional_db, store):
    segment = create_segment(store, name="Static")
    ids = [make_customer(store).pk for _ in range(20)]
    errors = _in_threads(4, lambda: add_customers_to_segment(segment, ids, source="api"))
    assert errors == []
    assert SegmentHistory.objects.filter(segment=segment).count() == 20
    assert Segment.objects.get(pk=segment.pk).member_count == 20
