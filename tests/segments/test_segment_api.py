"""The segments API: CRUD, members, validate, preview, recompute, history; roles and tenancy."""

from decimal import Decimal

import pytest

from segments.actions import create_segment
from segments.models import Segment, SegmentCalculation, SegmentHistory
from segments.usage import register_segment_usage_check, unregister_segment_usage_check
from tests.fixtures.factories import make_customer

from .segment_helpers import dynamic_segment, member_emails

BASE = "/api/v1/stores/store-a/segments/"


@pytest.fixture
def static_segment(store):
    return create_segment(store, name="Test Customers")


def test_editor_creates_a_dynamic_segment_and_its_recompute_is_queued(api, editor, store):
    response = api(editor).post(
        BASE,
        {"name": "Top Customers", "kind": "dynamic", "rule": "orders_count >= 3"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("name", "kind", "rule", "member_count", "status")} == {
        "name": "Top Customers",
        "kind": "dynamic",
        "rule": "orders_count >= 3",
        "member_count": 0,
        "status": "queued",
    }
    assert "last_calculated_at" in body and "description" in body
    assert SegmentCalculation.objects.filter(segment_id=body["id"], status="queued").exists()


def test_a_bad_rule_is_refused_with_its_position(api, editor, store):
    response = api(editor).post(
        BASE, {"name": "X", "kind": "dynamic", "rule": "order_count > 3"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "rule": ["line 1, col 1: unknown field 'order_count'; did you mean 'orders_count'?"]
    }
    assert not Segment.objects.exists()


def test_duplicate_name_is_refused_case_insensitively(api, editor, static_segment):
    response = api(editor).post(BASE, {"name": "test customers"}, format="json")
    assert response.status_code == 409  # a conflict with an existing segment
    assert "already exists" in response.json()["detail"]


def test_rule_edit_bumps_the_version(api, editor, store):
    segment = dynamic_segment(store, "orders_count >= 3", name="Top")
    response = api(editor).patch(
        f"{BASE}{segment.pk}/", {"rule": "orders_count >= 5"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["version"] == 2 and response.json()["status"] == "queued"


def test_viewer_reads_but_cannot_write(api, viewer, static_segment):
    client = api(viewer)
    assert client.get(BASE).status_code == 200
    assert client.post(BASE, {"name": "New"}, format="json").status_code == 403
    members = f"{BASE}{static_segment.pk}/members/"
    assert client.post(members, {"emails": ["a@b.com"]}, format="json").status_code == 403
    assert client.post(f"{BASE}validate/", {"rule": "orders_count > 1"}, format="json").json() == {
        "valid": True
    }


def test_another_stores_segment_answers_404(api, other_owner, static_segment):
    client = api(other_owner)
    assert client.get(f"{BASE}{static_segment.pk}/").status_code == 404
    assert client.get("/api/v1/stores/store-b/segments/").json()["results"] == []
    url = f"/api/v1/stores/store-b/segments/{static_segment.pk}/members/"
    assert client.get(url).status_code == 404
    assert (
        client.post(f"/api/v1/stores/store-b/segments/{static_segment.pk}/recompute/").status_code
        == 404
    )


def test_members_are_added_and_removed_by_email_with_a_report(api, editor, store, static_segment):
    make_customer(store, email="Ann@Example.com")
    make_customer(store, email="bob@example.com")
    client = api(editor)
    url = f"{BASE}{static_segment.pk}/members/"
    response = client.post(url, {"emails": ["ann@example.com", "ghost@example.com"]}, format="json")
    assert response.json() == {
        "added": ["ann@example.com"],
        "already_members": [],
        "unknown": ["ghost@example.com"],
    }
    again = client.post(url, {"emails": ["ANN@example.com", "bob@example.com"]}, format="json")
    assert again.json() == {
        "added": ["bob@example.com"],
        "already_members": ["ann@example.com"],
        "unknown": [],
    }
    listed = client.get(url, {"email": "ann"}).json()
    assert [m["email"] for m in listed["results"]] == ["Ann@Example.com"]
    removed = client.delete(url, {"emails": ["bob@example.com"]}, format="json")
    assert removed.json() == {"removed": ["bob@example.com"], "not_members": [], "unknown": []}
    static_segment.refresh_from_db()
    assert static_segment.member_count == 1
    assert SegmentHistory.objects.filter(segment=static_segment, source="api").count() == 3


def test_members_by_customer_id_ignore_other_stores_customers(
    api, editor, store, other_store, static_segment
):
    mine, foreign = make_customer(store), make_customer(other_store)
    url = f"{BASE}{static_segment.pk}/members/"
    response = api(editor).post(url, {"customer_ids": [mine.pk, foreign.pk]}, format="json")
    assert response.json() == {"added": [mine.pk], "already_members": [], "unknown": [foreign.pk]}


def test_members_body_must_name_emails_or_ids(api, editor, static_segment):
    url = f"{BASE}{static_segment.pk}/members/"
    assert api(editor).post(url, {}, format="json").status_code == 400
    assert api(editor).post(url, {"emails": "x"}, format="json").status_code == 400


def test_dynamic_members_cannot_be_changed_by_hand(api, editor, store):
    segment = dynamic_segment(store, "orders_count >= 3")
    url = f"{BASE}{segment.pk}/members/"
    response = api(editor).post(url, {"emails": ["a@b.com"]}, format="json")
    assert response.status_code == 400 and "follow its rule" in response.json()["detail"]


def test_validate_answers_errors_with_line_and_column(api, viewer, store):
    response = api(viewer).post(
        f"{BASE}validate/", {"rule": "orders_count >= 3 AND"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["valid"] is False
    assert body["errors"][0]["line"] == 1 and body["errors"][0]["column"] == 22


def test_preview_counts_and_samples_without_saving(api, viewer, store):
    make_customer(store, email="big@x.com", total_spent=Decimal("500"))
    make_customer(store, email="small@x.com", total_spent=Decimal("5"))
    response = api(viewer).post(f"{BASE}preview/", {"rule": "total_spent > 100"}, format="json")
    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert [c["email"] for c in response.json()["sample"]] == ["big@x.com"]
    assert not Segment.objects.exists()
    bad = api(viewer).post(f"{BASE}preview/", {"rule": "total_spent >"}, format="json")
    assert bad.status_code == 400


def test_recompute_answers_202_with_a_status_url(api, editor, store):
    segment = dynamic_segment(store, "orders_count >= 3")
    response = api(editor).post(f"{BASE}{segment.pk}/recompute/")
    assert response.status_code == 202
    status_url = response.json()["status_url"]
    status = api(editor).get(status_url)
    assert status.status_code == 200
    assert status.json()["status"] == "queued" and status.json()["segment"] == segment.pk


def test_recompute_of_a_static_segment_is_refused(api, editor, static_segment):
    response = api(editor).post(f"{BASE}{static_segment.pk}/recompute/")
    assert response.status_code == 409  # the segment's kind conflicts with the request
    assert "Only dynamic segments" in response.json()["detail"]


def test_history_is_paginated(api, viewer, store):
    make_customer(store, orders_count=5)
    segment = dynamic_segment(store, "orders_count >= 3")
    body = api(viewer).get(f"{BASE}{segment.pk}/history/").json()
    assert body["count"] == 1 and body["results"][0]["action"] == "added"


def test_delete_of_a_used_segment_is_refused_with_its_users(api, editor, store, static_segment):
    def live_experiences(segment):
        return ["Experience 'Win-back' (live)"] if segment.pk == static_segment.pk else []

    register_segment_usage_check(live_experiences)
    try:
        response = api(editor).delete(f"{BASE}{static_segment.pk}/")
    finally:
        unregister_segment_usage_check(live_experiences)
    assert response.status_code == 409
    assert response.json()["used_by"] == ["Experience 'Win-back' (live)"]
    assert api(editor).delete(f"{BASE}{static_segment.pk}/").status_code == 204


def test_a_segment_referenced_by_another_rule_cannot_be_deleted_or_make_a_cycle(api, editor, store):
    base = dynamic_segment(store, "orders_count >= 3", name="Base")
    dynamic_segment(store, "segment = 'Base'", name="Derived")
    assert api(editor).delete(f"{BASE}{base.pk}/").status_code == 409
    response = api(editor).patch(
        f"{BASE}{base.pk}/", {"rule": "segment = 'derived'"}, format="json"
    )
    assert response.status_code == 400
    assert "cycle" in response.json()["rule"][0]
    assert member_emails(base) == set()


def test_schema_describes_the_segment_endpoints(api, viewer):
    schema = api(viewer).get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "/api/v1/stores/{store_slug}/segments/{id}/members/" in paths
    members = paths["/api/v1/stores/{store_slug}/segments/{id}/members/"]
    assert set(members) >= {"get", "post", "delete"}
    assert "RuleValidation" in schema["components"]["schemas"]


def test_emails_with_nul_characters_are_reported_unknown_not_a_500(api, editor, static_segment):
    url = f"{BASE}{static_segment.pk}/members/"
    response = api(editor).post(url, {"emails": ["a\x00@b.com"]}, format="json")
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["added"] == []


def test_deleting_a_segment_removes_its_members_and_history(api, editor, store):
    make_customer(store, orders_count=5)
    segment = dynamic_segment(store, "orders_count >= 3")
    assert api(editor).delete(f"{BASE}{segment.pk}/").status_code == 204
    assert not SegmentHistory.objects.filter(segment_id=segment.pk).exists()
    assert not Segment.objects.filter(pk=segment.pk).exists()


def test_history_filters_by_action_and_email(api, viewer, store):
    customer = make_customer(store, email="Who@Example.com", orders_count=5)
    segment = dynamic_segment(store, "orders_count >= 3")
    client = api(viewer)
    url = f"{BASE}{segment.pk}/history/"
    assert client.get(url, {"action": "removed"}).json()["count"] == 0
    rows = client.get(url, {"email": "who@example.com"}).json()["results"]
    assert [r["customer_id"] for r in rows] == [customer.pk]
    assert client.get(url, {"action": "nonsense"}).status_code == 400


def test_a_segment_named_by_another_rule_cannot_be_renamed(api, editor, store):
    base = dynamic_segment(store, "orders_count >= 3", name="Base")
    dynamic_segment(store, "segment = 'Base'", name="Derived")
    response = api(editor).patch(f"{BASE}{base.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 400
    assert "Derived" in response.json()["detail"]


def test_every_segment_endpoint_hides_another_stores_segment(api, other_owner, store):
    # given a segment of store A with a calculation, and the owner of store B
    segment = dynamic_segment(store, "orders_count >= 1")
    calculation = SegmentCalculation.objects.get(segment=segment)
    client = api(other_owner)
    own = "/api/v1/stores/store-b/"
    # when B asks for A's objects through B's store, or through A's store, then 404
    for url in [
        f"{own}segments/{segment.pk}/",
        f"{own}segments/{segment.pk}/history/",
        f"{own}segments/{segment.pk}/members/",
        f"{own}segment-calculations/{calculation.pk}/",
        f"{BASE}{segment.pk}/",
        f"{BASE}",
        "/api/v1/stores/store-a/segment-calculations/",
    ]:
        assert client.get(url).status_code == 404, url
    assert (
        client.patch(f"{own}segments/{segment.pk}/", {"name": "x"}, format="json").status_code
        == 404
    )
    assert client.delete(f"{own}segments/{segment.pk}/").status_code == 404
    assert (
        client.post(f"{BASE}preview/", {"rule": "orders_count > 0"}, format="json").status_code
        == 404
    )
    assert client.get(f"{own}segment-calculations/").json()["results"] == []
