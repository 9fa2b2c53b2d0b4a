"""What a sender can put in a request gets a 4xx saying what and where, never a 500 and never a
half-written change: NUL characters, lone surrogates, huge numbers, deep JSON, unknown fields,
wrong types, bad dates, oversized bodies."""

import json

import pytest
from django.test import override_settings

from experiences.models import Experience
from segments.models import Segment

BASE = "/api/v1/stores/store-a"


def _post_raw(api, user, url, raw: str):
    return api(user).generic("POST", url, raw.encode("utf-8", "surrogatepass"), "application/json")


@pytest.mark.parametrize(
    "raw, where",
    [
        ('{"name": "a\\u0000b"}', "body.name"),
        ('{"name": "ok", "description": "\\ud800"}', "body.description"),
        ('{"name": "ok", "description": 1e999}', "body.description"),
        ('{"name": "ok", "description": 123456789012345678901234567890}', "body.description"),
        ('{"name": "ok", "d": ' + "[" * 40 + "]" * 40 + "}", "nested deeper"),
        ('{"name": "ok", "d": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeper"),
        ('{"na\\u0000me": "ok"}', "(a key)"),
    ],
)
def test_unstorable_json_is_refused_with_400_saying_where(api, editor, raw, where):
    # when a segment is created with something PostgreSQL or the renderer cannot take
    response = _post_raw(api, editor, f"{BASE}/segments/", raw)
    # then 400 names the place, and nothing is written
    assert response.status_code == 400, response.content[:300]
    assert where in response.json()["detail"]
    assert not Segment.objects.exists()


def test_unknown_fields_and_wrong_types_are_refused_field_by_field(api, editor):
    response = api(editor).post(
        f"{BASE}/experiences/",
        {"name": 5, "kind": "reward_strategy", "colour": "red", "holdout_percent": "10"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "colour": ["Unknown field."],
        "name": ["Must be a text."],
        "holdout_percent": ["Must be a whole number."],
    }
    assert not Experience.objects.exists()


def test_unknown_fields_in_a_nested_graph_node_are_refused(api, editor, store):
    experience = Experience.objects.create(store=store, name="X", kind="reward_strategy")
    body = {"revision": 0, "nodes": [{"key": "t", "type": "trigger", "extra": 1}], "edges": []}
    response = api(editor).put(f"{BASE}/experiences/{experience.pk}/draft/", body, format="json")
    assert response.status_code == 400
    assert response.json()["nodes"] == {"0": {"extra": ["Unknown field."]}}


@override_settings(API_MAX_BODY_BYTES=1000)
def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(api, editor):
    response = api(editor).post(f"{BASE}/segments/", {"name": "x" * 2000}, format="json")
    assert response.status_code == 413
    assert "over 1000 bytes" in response.json()["detail"]
    assert not Segment.objects.exists()


@pytest.mark.parametrize(
    "params, field",
    [
        ({"email": "a\x00b"}, "email"),
        ({"created_after": "2026-02-30T00:00"}, "created_after"),
        ({"created_after": "9999-12-31T23:59:59-23:59"}, "created_after"),
        ({"created_after": ""}, "created_after"),
        ({"orders_count_min": "1.5"}, "orders_count_min"),
        ({"accepts_marketing": ""}, "accepts_marketing"),
    ],
)
def test_bad_query_parameters_answer_400_naming_them(api, viewer, params, field):
    response = api(viewer).get(f"{BASE}/customers/", params)
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()


def test_any_offset_in_a_date_filter_is_compared_in_utc(api, viewer, customer):
    # PostgreSQL refuses offsets past 15:59; ISO 8601 allows up to 23:59
    response = api(viewer).get(f"{BASE}/customers/", {"created_after": "2000-01-01T00:00-22:22"})
    assert response.status_code == 200
    assert [c["email"] for c in response.json()["results"]] == [customer.email]


def test_an_empty_page_number_is_a_missing_page(api, viewer, customer):
    response = api(viewer).get(f"{BASE}/customers/", {"page": ""})
    assert response.status_code == 404 and response.json() == {"detail": "Invalid page."}


def test_the_schema_documents_error_answers_with_their_bodies(client, db):
    spec = json.loads(client.get("/api/schema/?format=json").content)
    operation = spec["paths"]["/api/v1/stores/{store_slug}/segments/"]["post"]
    assert {"400", "401", "403", "404", "409", "413"} <= set(operation["responses"])
    error = operation["responses"]["404"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
    assert spec["components"]["schemas"]["Error"]["required"] == ["detail"]
    request = spec["components"]["schemas"]["SegmentRequest"]
    assert request["additionalProperties"] is False
