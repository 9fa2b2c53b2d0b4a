"""The ledger under random sequences of grants, spends, expiries, revocations and adjustments:
the balance is the sum of the entries, never below zero, and spends draw the soonest-expiring
lot first. A plain Python model of the lots says what must happen."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards.actions import (
    RewardError,
    adjust_credit,
    grant_reward,
    revoke_grant,
    spend_on_order,
    sweep_expired,
)
from rewards.models import CreditEntry, RewardGrant
from rewards.queries import balance_of
from tests.fixtures.factories import make_customer, make_order

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
cents = st.integers(min_value=1, max_value=10_000).map(lambda c: Decimal(c) / 100)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), cents, st.one_of(st.none(), st.integers(1, 60))),
        st.tuples(st.just("spend"), cents),
        st.tuples(st.just("advance"), st.integers(1, 40)),
        st.tuples(st.just("revoke"), st.integers(0, 20)),
        st.tuples(st.just("adjust"), cents, st.booleans()),
    ),
    max_size=14,
)


def _expected_draws(lots: dict, wanted: Decimal, now) -> dict[int, Decimal]:
    open_lots = sorted(
        (pk for pk, lot in lots.items() if lot["left"] > 0 and _alive(lot, now)),
        key=lambda pk: (lots[pk]["expires"] is None, lots[pk]["expires"] or START, pk),
    )
    draws = {}
    for pk in open_lots:
        if wanted <= 0:
            break
        take = min(lots[pk]["left"], wanted)
        draws[pk] = take
        wanted -= take
    return draws


def _alive(lot, now) -> bool:
    return lot["expires"] is None or lot["expires"] > now


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_balance_is_the_sum_never_negative_and_soonest_expiring_is_spent_first(store, ops):
    with transaction.atomic():
        customer = make_customer(store)
        now = START
        lots: dict[int, dict] = {}
        for n, op in enumerate(ops):
            if op[0] == "grant":
                _, amount, days = op
                lot = grant_reward(
                    store=store, customer=customer, source_key=f"p{n}", kind="credit",
                    amount=amount, expires_in_days=days, now=now,
                )  # fmt: skip
                lots[lot.pk] = {"expires": lot.expires_at, "left": amount}
            elif op[0] == "spend":
                order = make_order(customer, type="recurring", total=op[1])
                expected = _expected_draws(lots, op[1], now)
                spent = spend_on_order(order, now=now)
                actual = {e.grant_id: -e.amount for e in CreditEntry.objects.filter(order=order)}
                assert actual == expected
                assert spent == sum(expected.values(), Decimal(0))
                for pk, take in expected.items():
                    lots[pk]["left"] -= take
            elif op[0] == "advance":
                now += dt.timedelta(days=op[1])
                sweep_expired(now=now)
                for lot in lots.values():
                    if not _alive(lot, now):
                        lot["left"] = Decimal(0)
            elif op[0] == "revoke":
                candidates = sorted(pk for pk, lot in lots.items() if lot["left"] > 0)
                if candidates:
                    pk = candidates[op[1] % len(candidates)]
                    revoke_grant(RewardGrant.objects.get(pk=pk), reason="test", now=now)
                    lots[pk]["left"] = Decimal(0)
            else:
                _, amount, positive = op
                if positive:
                    adjust_credit(customer, amount=amount, reason="test", now=now)
                    lot = RewardGrant.objects.filter(customer=customer).latest("pk")
                    lots[lot.pk] = {"expires": None, "left": amount}
                else:
                    expected = _expected_draws(lots, amount, now)
                    available = sum(
                        (lot["left"] for lot in lots.values() if _alive(lot, now)), Decimal(0)
                    )
                    if amount > available:
                        with pytest.raises(RewardError):
                            adjust_credit(customer, amount=-amount, reason="test", now=now)
                    else:
                        adjust_credit(customer, amount=-amount, reason="test", now=now)
                        for pk, take in expected.items():
                            lots[pk]["left"] -= take
            # then, after every step
            balance = balance_of(customer)
            assert balance >= 0
            assert balance == sum((lot["left"] for lot in lots.values()), Decimal(0))
            per_lot = dict(
                CreditEntry.objects.filter(customer=customer)
                .values_list("grant_id")
                .annotate(left=Sum("amount"))
            )
            assert {pk: left for pk, left in per_lot.items() if left} == {
                pk: lot["left"] for pk, lot in lots.items() if lot["left"]
            }
            assert all(left >= 0 for left in per_lot.values())
        transaction.set_rollback(True)
