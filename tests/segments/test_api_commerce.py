"""The commerce API: the caller's stores and read-only, filterable commerce data."""

from tests.fixtures.factories import make_customer, make_order, make_subscription


def test_store_list_shows_only_the_callers_stores(api, owner, store, other_store):
    response = api(owner).get("/api/v1/stores/")
    assert response.status_code == 200
    assert [s["slug"] for s in response.json()["results"]] == ["store-a"]
    assert response.json()["results"][0]["role"] == "owner"


def test_customers_are_filtered_by_email_and_orders_count(api, viewer, store):
    make_customer(store, email="Big@Example.com", orders_count=5)
    make_customer(store, email="small@example.com", orders_count=1)
    client = api(viewer)
    by_email = client.get("/api/v1/stores/store-a/customers/", {"email": "big@example.com"})
    assert [c["email"] for c in by_email.json()["results"]] == ["Big@Example.com"]
    by_count = client.get("/api/v1/stores/store-a/customers/", {"orders_count_min": 2})
    assert [c["email"] for c in by_count.json()["results"]] == ["Big@Example.com"]


def test_other_stores_customer_answers_404(api, viewer, store, other_store):
    foreign = make_customer(other_store)
    make_order(foreign)
    make_subscription(foreign)
    client = api(viewer)
    assert client.get(f"/api/v1/stores/store-a/customers/{foreign.id}/").status_code == 404
    assert client.get("/api/v1/stores/store-b/customers/").status_code == 404
    assert client.get("/api/v1/stores/store-b/customers/").json() == {"detail": "Not found."}


def test_anonymous_caller_is_refused(api, store):
    assert api().get("/api/v1/stores/store-a/customers/").status_code in (401, 403)


def test_boolean_filters_take_true_and_false(api, viewer, store):
    make_customer(store, email="yes@example.com", accepts_marketing=True)
    make_customer(store, email="no@example.com", accepts_marketing=False)
    client = api(viewer)
    url = "/api/v1/stores/store-a/customers/"
    consenting = client.get(url, {"accepts_marketing": "true"}).json()["results"]
    refusing = client.get(url, {"accepts_marketing": "false"}).json()["results"]
    assert [c["email"] for c in consenting] == ["yes@example.com"]
    assert [c["email"] for c in refusing] == ["no@example.com"]
