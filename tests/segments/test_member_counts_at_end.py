"""Segment counts written at the end of a batch's transaction (``member_counts_at_end``): exact
counts, and the segment's row left unlocked while the rest of the transaction runs."""

import psycopg
import pytest
from django.db import connection, transaction

from segments.actions import (
    MembershipRequest,
    change_memberships,
    create_segment,
    member_counts_at_end,
)
from segments.models import MembershipSource, Segment
from tests.fixtures.factories import make_customer


def _requests(segment, customers, add=True):
    return [MembershipRequest(segment.pk, c.pk, add, reference=f"test:{c.pk}") for c in customers]


def test_counts_of_many_changes_are_written_once_at_the_end(store):
    # given a static segment and three customers
    segment = create_segment(store, name="Batch")
    customers = [make_customer(store) for _ in range(3)]
    # when a block adds all three, then removes one
    with transaction.atomic(), member_counts_at_end():
        change_memberships(store.pk, _requests(segment, customers), source=MembershipSource.MANUAL)
        segment.refresh_from_db()
        assert segment.member_count == 0  # not yet: written as the block ends
        change_memberships(
            store.pk, _requests(segment, customers[:1], add=False), source=MembershipSource.MANUAL
        )
    # then the count is the members'
    segment.refresh_from_db()
    assert segment.member_count == 2 == segment.memberships.count()


def test_a_savepoint_rolled_back_takes_its_count_with_it(store):
    # given a static segment
    segment = create_segment(store, name="Savepoint")
    kept, undone = make_customer(store), make_customer(store)
    # when one change commits with the block and another is rolled back in a savepoint
    with transaction.atomic(), member_counts_at_end():
        change_memberships(store.pk, _requests(segment, [kept]), source=MembershipSource.MANUAL)
        with pytest.raises(RuntimeError), transaction.atomic():
            change_memberships(
                store.pk, _requests(segment, [undone]), source=MembershipSource.MANUAL
            )
            raise RuntimeError("undo this one")
    # then the count holds only the member that stayed
    segment.refresh_from_db()
    assert segment.memberships.count() == 1
    assert segment.member_count == 1


def test_an_error_in_the_block_writes_no_count(store):
    segment = create_segment(store, name="Error")
    with pytest.raises(RuntimeError), transaction.atomic(), member_counts_at_end():
        change_memberships(
            store.pk, _requests(segment, [make_customer(store)]), source=MembershipSource.MANUAL
        )
        raise RuntimeError("the batch failed")
    segment.refresh_from_db()
    assert segment.member_count == 0 and segment.memberships.count() == 0


def _dsn() -> dict:
    s = connection.settings_dict
    return dict(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s.get("PASSWORD") or None,
        dbname=s["NAME"],
        autocommit=True,
    )


def test_the_segment_row_stays_unlocked_until_the_block_ends(transactional_db, store):
    # given a static segment that a batch adds to
    segment = create_segment(store, name="Hot")
    customer = make_customer(store)
    with psycopg.connect(**_dsn()) as other:
        other.execute("SET lock_timeout = '2s'")
        with transaction.atomic():
            with member_counts_at_end():
                change_memberships(
                    store.pk, _requests(segment, [customer]), source=MembershipSource.MANUAL
                )
                # when another transaction updates the segment's row meanwhile
                # then it does not wait for this one (the row is not locked yet)
                other.execute(
                    f"UPDATE {Segment._meta.db_table} SET description = 'edited' WHERE id = %s",
                    [segment.pk],
                )
            # and once the block has ended, the row is locked until commit
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(
                    f"UPDATE {Segment._meta.db_table} SET description = 'again' WHERE id = %s",
                    [segment.pk],
                )
    segment.refresh_from_db()
    assert segment.member_count == 1 and segment.description == "edited"
