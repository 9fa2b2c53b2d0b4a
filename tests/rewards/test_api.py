"""The rewards API: incentives, grants with revoke/extend, credit with idempotent adjustments,
the summary and the caps; bad input is a 400 naming the field; Rewards must be enabled."""

from decimal import Decimal

import pytest

from rewards.actions import grant_reward
from rewards.models import CreditEntry, IdempotencyRecord, Incentive, RewardGrant
from rewards.queries import balance_of
from tests.fixtures.factories import make_customer, make_store, make_user

pytestmark = pytest.mark.django_db

BASE = "/api/v1/stores/store-a"


def _credit(store, customer, key="s", amount="10.00", **kwargs):
    return grant_reward(
        store=store, customer=customer, source_key=key, kind="credit", amount=Decimal(amount),
        **kwargs,
    )  # fmt: skip


def test_editor_creates_reads_updates_and_deactivates_an_incentive(api, editor, store):
    client = api(editor)
    created = client.post(
        f"{BASE}/incentives/",
        {"name": "Mug", "kind": "free_gift", "params": {"product_id": "9", "title": "Mug"}},
        format="json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["params"]["quantity"] == 1
    changed = client.patch(f"{BASE}/incentives/{pk}/", {"name": "Big mug"}, format="json")
    assert changed.status_code == 200 and changed.json()["name"] == "Big mug"
    off = client.post(f"{BASE}/incentives/{pk}/deactivate/")
    assert off.status_code == 200 and off.json()["active"] is False
    assert client.get(f"{BASE}/incentives/{pk}/").json()["active"] is False
    assert Incentive.objects.get(pk=pk).name == "Big mug"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "kind": "credit", "params": {"amount": "-5"}}, "params.amount"),
        (
            {
                "name": "x",
                "kind": "discount",
                "params": {"discount_type": "percent", "value": "120"},
            },
            "params.value",
        ),
        ({"name": "x", "kind": "free_gift", "params": {"title": "Mug"}}, "params.product_id"),
        ({"name": "x", "kind": "free_gift", "params": "mug"}, "params"),
        ({"name": "x", "kind": "points", "params": {}}, "kind"),
        ({"name": "", "kind": "credit", "params": {"amount": "1"}}, "name"),
        (
            {"name": "x", "kind": "credit", "params": {"amount": "1"}, "expires_in_days": 0},
            "expires_in_days",
        ),
    ],
)
def test_bad_incentive_is_a_400_naming_the_field(api, editor, store, body, field):
    response = api(editor).post(f"{BASE}/incentives/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Incentive.objects.exists()


def test_grants_list_filters_and_rows(api, viewer, store, django_assert_max_num_queries):
    alice, bob = make_customer(store), make_customer(store)
    for n in range(5):
        _credit(store, alice, key=f"a{n}", experience_id=3)
    _credit(store, bob, key="b")
    client = api(viewer)
    with django_assert_max_num_queries(8):
        rows = client.get(f"{BASE}/grants/", {"customer": alice.pk}).json()["results"]
    assert len(rows) == 5
    assert set(rows[0]) >= {
        "id", "customer", "incentive", "kind", "amount", "currency", "item", "status",
        "reason", "experience", "run", "created_at", "expires_at",
    }  # fmt: skip
    assert client.get(f"{BASE}/grants/", {"experience": 3}).json()["count"] == 5
    assert client.get(f"{BASE}/grants/", {"kind": "discount"}).json()["count"] == 0
    assert client.get(f"{BASE}/grants/", {"status": "issued"}).json()["count"] == 6


@pytest.mark.parametrize(
    "params, field",
    [({"status": "lost"}, "status"), ({"kind": "x"}, "kind"), ({"customer": "me"}, "customer")],
)
def test_bad_grant_filters_are_400s(api, viewer, store, params, field):
    response = api(viewer).get(f"{BASE}/grants/", params)
    assert response.status_code == 400 and field in response.json()


def test_revoke_and_extend_need_a_reason(api, editor, store, customer):
    grant = _credit(store, customer, expires_in_days=10)
    client = api(editor)
    assert "reason" in client.post(f"{BASE}/grants/{grant.pk}/revoke/", {}, format="json").json()
    assert (
        "reason"
        in client.post(f"{BASE}/grants/{grant.pk}/extend/", {"days": 5}, format="json").json()
    )
    bad = client.post(f"{BASE}/grants/{grant.pk}/extend/", {"reason": "x"}, format="json")
    assert bad.status_code == 400 and "expires_at" in bad.json()
    extended = client.post(
        f"{BASE}/grants/{grant.pk}/extend/", {"reason": "Goodwill", "days": 5}, format="json"
    )
    assert extended.status_code == 200
    assert RewardGrant.objects.get(pk=grant.pk).expires_at == grant.expires_at + __import__(
        "datetime"
    ).timedelta(days=5)
    revoked = client.post(f"{BASE}/grants/{grant.pk}/revoke/", {"reason": "Fraud"}, format="json")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert balance_of(customer) == Decimal("0.00")
    again = client.post(f"{BASE}/grants/{grant.pk}/revoke/", {"reason": "x"}, format="json")
    assert again.status_code == 400 and "status" in again.json()


def test_credit_shows_the_balance_and_entries(api, viewer, store, customer):
    _credit(store, customer, amount="12.50")
    body = api(viewer).get(f"{BASE}/customers/{customer.pk}/credit/").json()
    assert body["balance"] == "12.50" and body["currency"] == "USD"
    assert [(e["kind"], e["amount"]) for e in body["entries"]] == [("grant", "12.50")]


def test_adjustment_records_the_user_and_reason(api, editor, store, customer):
    response = api(editor).post(
        f"{BASE}/customers/{customer.pk}/credit/adjust/",
        {"amount": "5.00", "reason": "Late delivery"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["balance"] == "5.00"
    entry = CreditEntry.objects.get(kind="adjustment")
    assert (entry.acting_user, entry.reason) == (editor, "Late delivery")


def test_adjustment_below_zero_is_a_400(api, editor, store, customer):
    _credit(store, customer, amount="3.00")
    response = api(editor).post(
        f"{BASE}/customers/{customer.pk}/credit/adjust/",
        {"amount": "-5.00", "reason": "Oops"},
        format="json",
    )
    assert response.status_code == 400 and "amount" in response.json()
    assert balance_of(customer) == Decimal("3.00")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"amount": "5"}, "reason"),
        ({"amount": "lots", "reason": "x"}, "amount"),
        ({"amount": "0", "reason": "x"}, "amount"),
        ({"amount": "1e999", "reason": "x"}, "amount"),
    ],
)
def test_bad_adjustments_are_400s(api, editor, store, customer, body, field):
    response = api(editor).post(
        f"{BASE}/customers/{customer.pk}/credit/adjust/", body, format="json"
    )
    assert response.status_code == 400 and field in response.json()
    assert not CreditEntry.objects.exists()


def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(
    api, editor, store, customer
):
    client = api(editor)
    url = f"{BASE}/customers/{customer.pk}/credit/adjust/"
    body = {"amount": "4.00", "reason": "Sorry"}
    first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    retry = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json() and retry["Idempotent-Replayed"] == "true"
    assert balance_of(customer) == Decimal("4.00")
    other = client.post(
        url, {"amount": "40.00", "reason": "Sorry"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert other.status_code == 409
    assert balance_of(customer) == Decimal("4.00")
    assert IdempotencyRecord.objects.count() == 1


def test_viewer_cannot_adjust_and_owner_sets_caps(api, viewer, editor, owner, store, customer):
    url = f"{BASE}/customers/{customer.pk}/credit/adjust/"
    assert api(viewer).post(url, {"amount": "1", "reason": "x"}).status_code == 403
    caps = {"max_rewards_per_customer": 3, "max_credit_per_customer": "50.00", "period_days": 30}
    assert api(editor).post(f"{BASE}/reward-policy/", caps, format="json").status_code == 403
    assert api(owner).post(f"{BASE}/reward-policy/", caps, format="json").status_code == 200
    assert api(viewer).get(f"{BASE}/reward-policy/").json() == caps
    bad = api(owner).post(f"{BASE}/reward-policy/", {**caps, "period_days": 0}, format="json")
    assert bad.status_code == 400 and "period_days" in bad.json()


def test_summary_counts_liability_and_grants(api, viewer, store, customer):
    _credit(store, customer, key="a", amount="10.00")
    _credit(store, customer, key="b", amount="2.50")
    elsewhere = make_store(slug="elsewhere")
    _credit(elsewhere, make_customer(elsewhere), key="c", amount="99")
    body = api(viewer).get(f"{BASE}/rewards/summary/").json()
    assert body["outstanding_credit"] == "12.50"
    assert body["grants_by_status"]["issued"] == 2
    assert body["grants_by_kind"]["credit"] == {"count": 2, "amount": "12.50"}


def test_every_rewards_route_is_a_403_without_rewards(api, store, customer):
    store.rewards_enabled = False
    store.save()
    owner = make_user(store, "owner")
    client = api(owner)
    for url in [
        f"{BASE}/incentives/",
        f"{BASE}/grants/",
        f"{BASE}/rewards/summary/",
        f"{BASE}/reward-policy/",
        f"{BASE}/customers/{customer.pk}/credit/",
    ]:
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Rewards are not enabled" in response.json()["detail"]
