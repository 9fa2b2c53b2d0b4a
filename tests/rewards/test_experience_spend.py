"""``ExperienceSpend``: what each experience has given, kept by the database's triggers, always
equal to the sum of its grants that were not skipped, whatever writes the grants."""

from decimal import Decimal

from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards.actions import GrantRequest, grant_rewards, revoke_grant
from rewards.models import CreditEntry, ExperienceSpend, RewardGrant
from tests.fixtures.factories import make_customer, make_store


def _spent(store=None) -> dict[int, Decimal]:
    rows = ExperienceSpend.objects.all()
    if store is not None:
        ids = RewardGrant.objects.filter(store=store).values("experience_id")
        rows = rows.filter(experience_id__in=ids)
    return {e: s for e, s in rows.values_list("experience_id", "spent") if s != 0}


def _summed(store=None) -> dict[int, Decimal]:
    grants = RewardGrant.objects.all() if store is None else RewardGrant.objects.filter(store=store)
    rows = (
        grants.exclude(status=RewardGrant.Status.SKIPPED)
        .exclude(experience_id=None)
        .values("experience_id")
        .annotate(total=Sum("amount"))
    )
    return {r["experience_id"]: r["total"] for r in rows if r["total"] != 0}


def test_spend_follows_grants_skips_revokes_and_deleted_customers(store):
    # given three customers given credit by two experiences, one grant skipped by the budget
    alice, bob, carol = (make_customer(store) for _ in range(3))
    requests = [
        GrantRequest(store=store, customer=c, source_key=f"s{i}", kind="credit",
                     amount=Decimal(amount), experience_id=exp, budget=Decimal("10.00"))
        for i, (c, amount, exp) in enumerate(
            [(alice, "6.00", 1), (bob, "6.00", 1), (carol, "2.50", 1), (alice, "3.00", 2)]
        )
    ]  # fmt: skip
    granted = grant_rewards(requests)
    assert [g.status for g in granted] == ["issued", "skipped", "issued", "issued"]
    # then the spend is what was given, the skipped grant not counted
    assert _spent() == {1: Decimal("8.50"), 2: Decimal("3.00")}

    # when a grant is revoked (it was given: it stays spent), a customer with only a skipped
    # grant is deleted, a grant's amount is corrected in bulk and another's rows are deleted
    revoke_grant(granted[2], reason="test")
    bob.delete()
    RewardGrant.objects.filter(pk=granted[3].pk).update(amount=Decimal("4.00"))
    CreditEntry.objects.filter(grant=granted[0])._raw_delete("default")
    RewardGrant.objects.filter(pk=granted[0].pk)._raw_delete("default")

    # then the spend still equals the sum of the grants that remain
    assert _spent() == _summed() == {1: Decimal("2.50"), 2: Decimal("4.00")}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.decimals("0.01", "9.99", places=2), st.booleans()),
        min_size=1,
        max_size=12,
    )
)
def test_spend_equals_the_sum_of_grants_after_any_batches(db, grants):
    # given any batches of grants across experiences, some with a budget that skips them
    store = make_store()
    customer = make_customer(store)
    for i, (n, amount, budgeted) in enumerate(grants):
        experience = store.pk * 10 + n  # experiences of this example only
        grant_rewards(
            [
                GrantRequest(
                    store=store, customer=customer, source_key=f"k{i}", kind="credit",
                    amount=amount, experience_id=experience,
                    budget=Decimal("15.00") if budgeted else None,
                )
            ]
        )  # fmt: skip
    # then the running total is the sum of what was given
    assert _spent(store) == _summed(store)
