"""API conventions: a valid OpenAPI 3 schema, docs, and JSON errors (never HTML, never a 500)."""

import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from tests.fixtures.factories import make_customer


def test_openapi_schema_is_valid_in_yaml_and_json(client, db):
    as_yaml = client.get("/api/schema/")
    assert as_yaml.status_code == 200
    spec = yaml.safe_load(as_yaml.content)
    validate(spec)
    as_json = client.get("/api/schema/?format=json")
    assert as_json.status_code == 200
    assert json.loads(as_json.content) == spec
    assert "/api/v1/stores/{store_slug}/customers/" in spec["paths"]


def test_api_docs_answer(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


@pytest.mark.parametrize(
    "url",
    ["/api/nope/", "/api/v1/stores/store-a/nothing-here/", "/api/v1/stores/store-a/customers/abc/"],
)
def test_unknown_api_url_answers_json_404(api, viewer, url):
    response = api(viewer).get(url)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()


def test_wrong_method_answers_json_405(api, owner):
    response = api(owner).delete("/api/v1/stores/")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "DELETE" not allowed.'}
    response = api(owner).put("/api/v1/stores/store-a/orders/", {}, format="json")
    assert response.status_code == 405
    assert "detail" in response.json()


@pytest.mark.parametrize(
    "path, params, field",
    [
        ("customers", {"orders_count_min": "abc"}, "orders_count_min"),
        ("customers", {"orders_count_max": "1e999"}, "orders_count_max"),
        ("customers", {"created_after": "yesterday"}, "created_after"),
        ("customers", {"last_order_before": "2026-13-45"}, "last_order_before"),
        ("customers", {"accepts_marketing": "perhaps"}, "accepts_marketing"),
        ("orders", {"total_min": "lots"}, "total_min"),
        ("orders", {"processed_after": "2026-02-30T10:00"}, "processed_after"),
        ("orders", {"customer": "x"}, "customer"),
        ("orders", {"type": "weekly"}, "type"),
        ("orders", {"is_subscription": "maybe"}, "is_subscription"),
        ("subscriptions", {"status": "sleeping"}, "status"),
        ("subscriptions", {"next_charge_before": "soon"}, "next_charge_before"),
        ("upcoming-orders", {"scheduled_after": "2026-02-30"}, "scheduled_after"),
    ],
)
def test_bad_filter_values_answer_400_naming_the_filter(api, viewer, customer, path, params, field):
    response = api(viewer).get(f"/api/v1/stores/store-a/{path}/", params)
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()


def test_bad_page_answers_json_404(api, viewer, store):
    make_customer(store)
    response = api(viewer).get("/api/v1/stores/store-a/customers/", {"page": "abc"})
    assert response.status_code == 404
    assert "detail" in response.json()


def _filter_params():
    """Every (route prefix, filter name) of every filterable list on the store router."""
    from config.urls import store_router

    return sorted(
        (prefix, name)
        for prefix, viewset, _basename in store_router.registry
        if getattr(viewset, "filterset_class", None)
        for name in viewset.filterset_class.base_filters
    )


FILTER_PARAMS = _filter_params()
FILTER_VALUES = st.one_of(
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat()),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(param=st.sampled_from(FILTER_PARAMS), value=FILTER_VALUES)
def test_any_filter_value_answers_200_or_400_never_500(api, viewer, customer, param, value):
    prefix, name = param
    response = api(viewer).get(f"/api/v1/stores/store-a/{prefix}/", {name: value})
    assert response.status_code in (200, 400), (name, value, response.content[:300])
    if response.status_code == 400:
        assert name in response.json()
