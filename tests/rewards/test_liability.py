"""The store's outstanding liability: its checkpoint plus the entries after it always equals the
plain sum of its entries, as entries arrive and when some are deleted."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rewards.actions import adjust_credit, advance_checkpoints, grant_reward
from rewards.models import LiabilityCheckpoint
from rewards.queries import balance_of, full_liability, outstanding_liability
from tests.fixtures.factories import make_customer

pytestmark = pytest.mark.django_db

LATER = dt.timedelta(hours=2)


def test_checkpoint_plus_tail_is_the_sum_of_the_entries(store, other_store):
    alice, bob = make_customer(store), make_customer(store)
    grant_reward(store=store, customer=alice, source_key="a", kind="credit", amount=10)
    grant_reward(store=store, customer=bob, source_key="b", kind="credit", amount=5)
    stranger = make_customer(other_store)
    grant_reward(store=other_store, customer=stranger, source_key="c", kind="credit", amount=99)
    # a checkpoint over what exists, then more entries after it
    assert advance_checkpoints(cutoff=timezone.now() + LATER) == 2
    assert LiabilityCheckpoint.objects.get(store=store).total == Decimal("15.00")
    adjust_credit(alice, amount=Decimal("-4"), reason="x")
    grant_reward(store=store, customer=bob, source_key="d", kind="credit", amount=1)
    with CaptureQueriesContext(connection) as queries:
        liability = outstanding_liability(store)
    assert len(queries.captured_queries) == 1
    assert liability == full_liability(store) == Decimal("12.00")
    # advancing again adds only the new entries
    advance_checkpoints(cutoff=timezone.now() + LATER)
    assert LiabilityCheckpoint.objects.get(store=store).total == Decimal("12.00")
    assert outstanding_liability(other_store) == Decimal("99.00")


def test_recent_entries_stay_out_of_the_checkpoint(store, customer):
    grant_reward(store=store, customer=customer, source_key="a", kind="credit", amount=3)
    advance_checkpoints()  # the entry is younger than the safety margin
    assert not LiabilityCheckpoint.objects.exists()
    assert outstanding_liability(store) == Decimal("3.00")


def test_deleting_a_customer_drops_the_checkpoint(store):
    alice, bob = make_customer(store), make_customer(store)
    grant_reward(store=store, customer=alice, source_key="a", kind="credit", amount=10)
    grant_reward(store=store, customer=bob, source_key="b", kind="credit", amount=5)
    advance_checkpoints(cutoff=timezone.now() + LATER)
    from rewards.models import CreditEntry, RewardGrant

    CreditEntry.objects.filter(customer=alice).delete()
    RewardGrant.objects.filter(customer=alice).delete()
    alice.delete()
    assert not LiabilityCheckpoint.objects.exists()
    assert outstanding_liability(store) == Decimal("5.00") == balance_of(bob)
