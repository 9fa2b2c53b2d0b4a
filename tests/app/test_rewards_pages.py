"""The merchant app's rewards pages: the customer page's Rewards section (balance, entries, grants,
offers; editors adjust credit, revoke and extend), incentives with a form per kind, the grant
ledger with filters, the overview and the caps. Viewers read, editors write, owners set caps;
bad input is a field error and writes nothing."""

from decimal import Decimal

import pytest

from rewards import actions
from rewards.models import CreditEntry, Incentive, RewardGrant, RewardPolicy
from rewards.queries import balance_of
from tests.fixtures import factories as f


def _credit(store, customer, key, amount="10.00", **kwargs):
    return actions.grant_reward(
        store=store, customer=customer, source_key=key, kind="credit", amount=Decimal(amount),
        **kwargs,
    )  # fmt: skip


def _gift(store, name="Free mug"):
    return actions.create_incentive(
        store, name=name, kind="free_gift", params={"product_id": "77", "title": "Mug"}
    )


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


# --- the customer page -------------------------------------------------------------------


def test_customer_page_shows_balance_entries_grants_and_offers(login, store, viewer, customer):
    _credit(store, customer, "a", "12.50", experience_id=None)
    actions.grant_reward(
        store=store, customer=customer, source_key="g", kind="free_gift", incentive=_gift(store)
    )
    offer = actions.create_incentive(
        store, name="Grinder", kind="cross_sell",
        params={"product_id": "8", "title": "Grinder", "price": "40.00"},
    )  # fmt: skip
    actions.grant_reward(
        store=store, customer=customer, source_key="o", kind="cross_sell", incentive=offer
    )
    page = login(viewer).get(f"/app/customers/{customer.pk}/").content.decode()
    assert "No rewards yet" not in page
    assert 'data-testid="credit-balance">12.50 USD<' in page
    assert "Free mug" in page and "Store credit" in page and "Issued" in page
    assert "Grinder at 40.00 USD" in page and "waiting for an answer until" in page
    # a viewer reads only
    assert "Adjust credit" not in page and "Revoke" not in page and "Extend" not in page


def test_customer_section_reads_a_constant_number_of_queries(
    login, store, viewer, customer, django_assert_max_num_queries
):
    client = login(viewer)
    for i in range(3):
        _credit(store, customer, f"a{i}", experience_id=1000 + i)
    client.get(f"/app/customers/{customer.pk}/")
    with django_assert_max_num_queries(16) as few:
        client.get(f"/app/customers/{customer.pk}/")
    for i in range(3, 25):
        _credit(store, customer, f"a{i}", experience_id=1000 + i)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(f"/app/customers/{customer.pk}/")
    assert page.content.count(b"badge-grant-issued") == 20


def test_editor_adjusts_credit_once_even_when_the_form_is_sent_twice(
    login, store, editor, customer
):
    client = login(editor)
    page = client.get(f"/app/customers/{customer.pk}/").content.decode()
    assert 'aria-label="Credit adjustment"' in page and "Revoke" not in page
    form = {"amount": "5.00", "reason": "Late delivery", "key": "form-key-1"}
    first = client.post(f"/app/customers/{customer.pk}/credit/adjust/", form)
    again = client.post(f"/app/customers/{customer.pk}/credit/adjust/", form)
    assert first.status_code == again.status_code == 302
    assert balance_of(customer) == Decimal("5.00")
    entry = CreditEntry.objects.get(customer=customer)
    assert entry.reason == "Late delivery" and entry.acting_user == editor
    page = client.get(f"/app/customers/{customer.pk}/").content.decode()
    assert "Credit adjusted by 5.00 USD; the balance is 5.00 USD." in page


@pytest.mark.parametrize(
    "form, message",
    [
        ({"amount": "-1.00", "reason": "x"}, "The balance is 0.00 USD; it cannot go below zero."),
        ({"amount": "abc", "reason": "x"}, "Enter a number."),
        ({"amount": "0", "reason": "x"}, "An adjustment cannot be zero."),
        ({"amount": "5", "reason": ""}, "This field is required."),
        ({"amount": "5", "reason": "x", "expires_in_days": "0"}, "greater than or equal to 1"),
    ],
)
def test_bad_adjustment_is_a_field_error_and_writes_nothing(
    login, store, editor, customer, form, message
):
    page = login(editor).post(f"/app/customers/{customer.pk}/credit/adjust/", {**form, "key": "k1"})
    assert page.status_code == 400
    assert message in page.content.decode()
    assert not CreditEntry.objects.filter(customer=customer).exists()
    # the corrected form gets a fresh key, so it is a new request (not a conflict)
    assert 'name="key" value="k1"' not in page.content.decode()


def test_editor_revokes_and_extends_a_grant_with_a_reason(login, store, editor, customer):
    grant = _credit(store, customer, "a", "8.00", expires_in_days=10)
    client = login(editor)
    page = client.get(f"/app/customers/{customer.pk}/").content.decode()
    assert f"/app/rewards/grants/{grant.pk}/revoke/" in page
    assert client.post(f"/app/rewards/grants/{grant.pk}/extend/", {"days": "5"}).status_code == 400
    before = grant.expires_at
    answer = client.post(
        f"/app/rewards/grants/{grant.pk}/extend/", {"days": "5", "reason": "Asked nicely"}
    )
    assert answer.headers["Location"] == f"/app/customers/{customer.pk}/"
    grant.refresh_from_db()
    assert (grant.expires_at - before).days == 5
    answer = client.post(
        f"/app/rewards/grants/{grant.pk}/revoke/",
        {"reason": "Fraud", "next": "/app/rewards/grants/"},
    )
    assert answer.headers["Location"] == "/app/rewards/grants/"
    grant.refresh_from_db()
    assert grant.status == "revoked" and balance_of(customer) == 0
    # revoking again is refused with the reason, not a 500
    page = client.post(f"/app/rewards/grants/{grant.pk}/revoke/", {"reason": "again"})
    assert page.status_code == 400 and b"Only an issued or applied grant" in page.content


def test_viewer_cannot_adjust_revoke_or_extend(login, store, viewer, customer):
    grant = _credit(store, customer, "a")
    client = login(viewer)
    body = {"amount": "5", "reason": "x", "key": "k", "days": "3"}
    assert client.post(f"/app/customers/{customer.pk}/credit/adjust/", body).status_code == 403
    assert client.post(f"/app/rewards/grants/{grant.pk}/revoke/", body).status_code == 403
    assert client.post(f"/app/rewards/grants/{grant.pk}/extend/", body).status_code == 403
    assert balance_of(customer) == Decimal("10.00")


def test_without_rewards_the_section_says_so_and_the_pages_are_clear(
    login, store, editor, customer
):
    store.rewards_enabled = False
    store.save()
    client = login(editor)
    page = client.get(f"/app/customers/{customer.pk}/").content.decode()
    assert "Rewards are not enabled for Store A." in page
    assert 'href="/app/rewards/"' not in page  # no nav entry
    for url in ["/app/rewards/", "/app/rewards/incentives/", "/app/rewards/grants/"]:
        answer = client.get(url)
        assert (
            answer.status_code == 200 and b"Rewards are not enabled for Store A" in answer.content
        )
    answer = client.post(
        f"/app/customers/{customer.pk}/credit/adjust/", {"amount": "5", "reason": "x", "key": "k"}
    )
    assert b"Rewards are not enabled" in answer.content
    assert not CreditEntry.objects.exists()


# --- the Rewards section -----------------------------------------------------------------


def test_overview_shows_liability_and_grants_by_status(login, store, viewer, customer):
    _credit(store, customer, "a", "12.00")
    _credit(store, customer, "b", "3.00")
    page = login(viewer).get("/app/rewards/").content.decode()
    assert 'href="/app/rewards/" aria-current="page">Rewards</a>' in page
    assert 'data-testid="liability">15.00 USD<' in page
    assert (
        '/app/rewards/grants/?status=issued"><span class="badge badge-grant-issued">Issued' in page
    )


@pytest.mark.parametrize(
    "kind, form, params",
    [
        ("credit", {"amount_type": "fixed", "amount": "5.00"}, {"amount_type": "fixed"}),
        ("discount", {"discount_type": "percent", "value": "10"}, {"value": "10"}),
        ("free_gift", {"product_id": "p1", "title": "Mug", "quantity": "2"}, {"quantity": 2}),
        (
            "cross_sell",
            {"product_id": "p2", "title": "Grinder", "quantity": "1", "price": "40",
             "discount_type": "fixed", "discount_value": "5"},
            {"price": "40", "discount_value": "5"},
        ),
    ],
)  # fmt: skip
def test_editor_creates_an_incentive_of_each_kind(login, store, editor, kind, form, params):
    client = login(editor)
    page = client.get(f"/app/rewards/incentives/new/?kind={kind}")
    assert page.status_code == 200 and f'data-kind="{kind}"'.encode() in page.content
    answer = client.post("/app/rewards/incentives/new/", {"kind": kind, "name": "It", **form})
    assert answer.status_code == 302, answer.content.decode()
    incentive = Incentive.objects.get(store=store, name="It")
    assert incentive.kind == kind and params.items() <= incentive.params.items()


@pytest.mark.parametrize(
    "kind, form, field, message",
    [
        ("discount", {"discount_type": "percent", "value": "150"}, "value", "at most 100"),
        ("credit", {"amount_type": "fixed", "amount": "-3"}, "amount", "greater than or equal"),
        ("free_gift", {"title": "Mug", "quantity": "1"}, "product_id", "required"),
        (
            "cross_sell",
            {"product_id": "p", "title": "G", "quantity": "1", "price": "10",
             "discount_type": "fixed", "discount_value": "20"},
            "discount_value", "at most the price",
        ),
        ("nope", {}, None, "Choose one of the kinds below."),
    ],
)  # fmt: skip
def test_bad_incentive_is_a_field_error_and_writes_nothing(
    login, store, editor, kind, form, field, message
):
    page = login(editor).post("/app/rewards/incentives/new/", {"kind": kind, "name": "X", **form})
    assert page.status_code == 400
    html = page.content.decode()
    assert message in html
    if field:
        start = html.index(f'data-field="{field}"')
        assert message in html[start : html.index("</div>", start)]
    assert not Incentive.objects.filter(store=store).exists()


def test_editor_edits_and_deactivates_viewer_only_reads(login, store, editor, viewer):
    gift = _gift(store)
    page = login(viewer).get("/app/rewards/incentives/").content.decode()
    assert "Free mug" in page and "Deactivate" not in page and "Create…" not in page
    page = login(viewer).get(f"/app/rewards/incentives/{gift.pk}/").content.decode()
    assert "disabled" in page and "Save</button>" not in page
    assert (
        login(viewer).post(f"/app/rewards/incentives/{gift.pk}/", {"name": "Y"}).status_code == 403
    )
    assert login(viewer).post(f"/app/rewards/incentives/{gift.pk}/deactivate/").status_code == 403
    client = login(editor)
    answer = client.post(
        f"/app/rewards/incentives/{gift.pk}/",
        {"name": "Bigger mug", "product_id": "78", "title": "Mug XL", "quantity": "1"},
    )
    assert answer.status_code == 302
    gift.refresh_from_db()
    assert gift.name == "Bigger mug" and gift.params["title"] == "Mug XL"
    bad = client.post(f"/app/rewards/incentives/{gift.pk}/", {"name": "", "quantity": "0"})
    assert bad.status_code == 400
    gift.refresh_from_db()
    assert gift.name == "Bigger mug"
    assert client.post(f"/app/rewards/incentives/{gift.pk}/deactivate/").status_code == 302
    gift.refresh_from_db()
    assert gift.active is False
    assert "Deactivated" in client.get("/app/rewards/incentives/").content.decode()
    assert login(viewer).post(f"/app/rewards/incentives/{gift.pk}/activate/").status_code == 403
    assert login(editor).post(f"/app/rewards/incentives/{gift.pk}/activate/").status_code == 302
    gift.refresh_from_db()
    assert gift.active is True


def test_ledger_filters_by_status_kind_experience_and_customer(login, store, viewer):
    from experiences.actions import create_experience

    experience = create_experience(store, name="Streak bonus", kind="reward_strategy")
    alice = f.make_customer(store, email="alice@example.com")
    bob = f.make_customer(store, email="bob@example.com")
    _credit(store, alice, "a", experience_id=experience.pk)
    actions.revoke_grant(_credit(store, bob, "b"), reason="test")
    actions.grant_reward(
        store=store, customer=bob, source_key="g", kind="free_gift", incentive=_gift(store)
    )
    client = login(viewer)
    page = client.get("/app/rewards/grants/").content.decode()
    assert page.count("badge-grant-") == 3 and "Streak bonus" in page
    assert client.get("/app/rewards/grants/?status=revoked").content.count(b"badge-grant-") == 1
    assert client.get("/app/rewards/grants/?kind=free_gift").content.count(b"badge-grant-") == 1
    page = client.get(f"/app/rewards/grants/?experience={experience.pk}").content.decode()
    assert page.count("badge-grant-") == 1 and "alice@example.com" in page
    page = client.get(f"/app/rewards/grants/?customer={bob.pk}").content.decode()
    assert page.count("badge-grant-") == 2 and "Grants of" in page
    assert client.get("/app/rewards/grants/?email=ALICE").content.count(b"badge-grant-") == 1
    # bad filters are explained, never a 500
    for query in ["status=nope", "customer=abc", "experience=999999", "kind=x"]:
        answer = client.get(f"/app/rewards/grants/?{query}")
        assert answer.status_code == 400 and b"alert-error" in answer.content, query


def test_ledger_paginates_with_a_constant_number_of_queries(
    login, store, viewer, django_assert_max_num_queries
):
    customer = f.make_customer(store)
    client = login(viewer)
    _credit(store, customer, "k0", "1.00", experience_id=1)
    with django_assert_max_num_queries(12) as few:
        client.get("/app/rewards/grants/?kind=credit")
    for i in range(1, 55):
        _credit(store, customer, f"k{i}", "1.00", experience_id=i + 1)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get("/app/rewards/grants/?kind=credit").content.decode()
    assert page.count("badge-grant-issued") == 50
    assert "Page 1 of 2 · 55 grants" in page and "?kind=credit&amp;page=2" in page
    assert client.get("/app/rewards/grants/?kind=credit&page=2").content.count(b"badge-grant-") == 5


def test_only_owners_set_the_caps(login, store, owner, editor):
    page = login(editor).get("/app/rewards/caps/").content.decode()
    assert "Only the store's owners change the caps." in page and "disabled" in page
    assert login(editor).post("/app/rewards/caps/", {"period_days": "7"}).status_code == 403
    client = login(owner)
    bad = client.post("/app/rewards/caps/", {"period_days": "0", "max_rewards_per_customer": "x"})
    assert bad.status_code == 400 and not RewardPolicy.objects.exists()
    answer = client.post(
        "/app/rewards/caps/",
        {"period_days": "30", "max_rewards_per_customer": "3", "max_credit_per_customer": "50"},
    )
    assert answer.status_code == 302
    policy = RewardPolicy.objects.get(store=store)
    assert policy.max_rewards_per_customer == 3 and policy.max_credit_per_customer == 50


def test_a_grant_page_of_another_kind_of_grant_is_found_only_in_the_store(
    login, store, other_store, editor
):
    grant = _credit(other_store, f.make_customer(other_store), "x")
    assert login(editor).get(f"/app/rewards/grants/{grant.pk}/revoke/").status_code == 404
    assert RewardGrant.objects.get(pk=grant.pk).status == "issued"


def test_incentives_list_reads_a_constant_number_of_queries(
    login, store, viewer, django_assert_max_num_queries
):
    client = login(viewer)
    _gift(store, "Gift 0")
    with django_assert_max_num_queries(10) as few:
        client.get("/app/rewards/incentives/")
    for i in range(1, 55):
        _gift(store, f"Gift {i:02d}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get("/app/rewards/incentives/").content.decode()
    assert page.count('<td><a href="/app/rewards/incentives/') == 50
    assert "Page 1 of 2" in page and "Gift 54" not in page
    assert "Gift 54" in client.get("/app/rewards/incentives/?page=2").content.decode()


def test_switching_kind_keeps_what_was_typed(login, store, editor):
    # given a merchant who typed a name and an expiry, then switches the kind to a free gift
    client = login(editor)

    page = client.get(
        "/app/rewards/incentives/new/",
        {"kind": "free_gift", "name": "Birthday mug", "expires_in_days": "30", "amount": "5"},
    ).content.decode()

    # then the free-gift form keeps them (the credit-only amount is simply not shown)
    assert 'data-kind="free_gift"' in page
    assert 'value="Birthday mug"' in page and 'value="30"' in page
    assert "errorlist" not in page and "is required" not in page
