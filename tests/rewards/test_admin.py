"""The staff surface of rewards: incentives validated like the API, the grant ledger with its
filters, revoke and extend as admin actions (a reason required) that go through the actions,
and the outstanding liability per store matching the ledger."""

from decimal import Decimal

import pytest

from rewards.actions import grant_reward
from rewards.models import CreditEntry, Incentive, RewardGrant
from rewards.queries import balance_of
from tests.fixtures.factories import make_customer

pytestmark = pytest.mark.django_db

GRANTS = "/admin/rewards/rewardgrant/"


def _credit(store, customer, key, amount, days=30):
    return grant_reward(
        store=store,
        customer=customer,
        source_key=key,
        kind="credit",
        amount=Decimal(amount),
        expires_in_days=days,
    )


def test_an_incentive_added_in_the_admin_is_validated_like_the_api(admin_client, store):
    # given a free gift without a product
    bad = {
        "store": store.pk,
        "name": "Gift",
        "kind": "free_gift",
        "params": '{"title": "Mug"}',
        "active": "on",
    }
    # when staff add it, it is refused on the form and nothing is written
    answer = admin_client.post("/admin/rewards/incentive/add/", bad)
    assert answer.status_code == 200 and answer.context["adminform"].form.errors
    assert not Incentive.objects.exists()
    # and with its product it is created through the action (params cleaned)
    good = {**bad, "params": '{"product_id": "77", "title": "Mug", "price": "8"}'}
    answer = admin_client.post("/admin/rewards/incentive/add/", good)
    assert answer.status_code == 302
    incentive = Incentive.objects.get()
    assert incentive.params["product_id"] == "77" and incentive.store == store


def test_the_grant_ledger_filters_by_status_kind_store_and_experience(admin_client, store):
    customer = make_customer(store, email="ledger@example.com")
    grant = _credit(store, customer, "one", "5.00")
    for query in ("", "?status=issued", "?kind=credit", f"?store__id__exact={store.pk}"):
        answer = admin_client.get(GRANTS + query)
        assert answer.status_code == 200, query
        assert "ledger@example.com" in answer.content.decode(), query
    answer = admin_client.get(GRANTS + "?status=revoked")
    assert "ledger@example.com" not in answer.content.decode()
    assert admin_client.get(GRANTS + "?experience=abc").status_code == 200
    assert grant.status == "issued"


def test_revoke_from_the_admin_needs_a_reason_and_closes_the_credit(admin_client, store):
    # given a credit grant of 5.00
    customer = make_customer(store)
    grant = _credit(store, customer, "one", "5.00")
    assert balance_of(customer) == Decimal("5.00")
    action = {"action": "revoke_selected", "_selected_action": [grant.pk]}
    # when staff choose revoke, they are asked for a reason first
    asked = admin_client.post(GRANTS, action)
    assert asked.status_code == 200 and "reason" in asked.content.decode()
    grant.refresh_from_db()
    assert grant.status == "issued"
    # an empty reason changes nothing
    admin_client.post(GRANTS, {**action, "apply": "1", "reason": ""})
    grant.refresh_from_db()
    assert grant.status == "issued"
    # with a reason, the grant is revoked and the credit taken back
    done = admin_client.post(GRANTS, {**action, "apply": "1", "reason": "Goodwill reversed"})
    assert done.status_code == 302
    grant.refresh_from_db()
    assert grant.status == "revoked" and "Goodwill reversed" in grant.reason
    assert balance_of(customer) == Decimal("0.00")


def test_extend_from_the_admin_needs_days_and_moves_the_expiry(admin_client, store):
    customer = make_customer(store)
    grant = _credit(store, customer, "one", "5.00", days=10)
    before = grant.expires_at
    action = {"action": "extend_selected", "_selected_action": [grant.pk], "apply": "1"}
    admin_client.post(GRANTS, {**action, "reason": "Late delivery"})
    grant.refresh_from_db()
    assert grant.expires_at == before
    admin_client.post(GRANTS, {**action, "reason": "Late delivery", "days": "7"})
    grant.refresh_from_db()
    assert (grant.expires_at - before).days == 7


def test_the_ledger_is_read_only_in_the_admin(admin_client, store):
    grant = _credit(store, make_customer(store), "one", "5.00")
    entry = CreditEntry.objects.get(grant=grant)
    answer = admin_client.post(f"{GRANTS}{grant.pk}/change/", {"status": "redeemed"})
    assert answer.status_code == 403
    answer = admin_client.post(f"/admin/rewards/creditentry/{entry.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 403
    assert RewardGrant.objects.get(pk=grant.pk).status == "issued"
    assert CreditEntry.objects.filter(pk=entry.pk).exists()


def test_the_liability_page_shows_each_store_outstanding_and_balances(
    admin_client, store, other_store
):
    # given credit in two stores, part of it taken back by hand
    alice, bob = make_customer(store, email="alice@example.com"), make_customer(other_store)
    _credit(store, alice, "a", "12.50")
    _credit(store, alice, "b", "7.50")
    _credit(other_store, bob, "c", "3.00")
    # when staff open the liability page for the first store
    answer = admin_client.get(f"/admin/rewards/creditentry/liability/?store={store.pk}")
    # then it shows the outstanding per store and Alice's balance, equal to the ledger's sum
    assert answer.status_code == 200
    outstanding = {s.pk: s.outstanding for s in answer.context["stores"]}
    assert outstanding[store.pk] == Decimal("20.00")
    assert outstanding[other_store.pk] == Decimal("3.00")
    balances = list(answer.context["balances"])
    assert [(b["customer__email"], b["balance"]) for b in balances] == [
        ("alice@example.com", balance_of(alice))
    ]
    assert admin_client.get("/admin/rewards/creditentry/liability/?store=x").status_code == 200
