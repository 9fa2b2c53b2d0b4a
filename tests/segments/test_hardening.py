"""Segments hold up: only the unique-membership violation means "already a member", history
outlives a deleted segment, and previews and validation stop at a statement timeout."""

import pytest
from django.db import IntegrityError
from django.test import override_settings

from segments import actions
from segments.models import Customer, MembershipSource, Segment, SegmentHistory, SegmentMembership
from tests.fixtures.factories import make_customer

BASE = "/api/v1/stores/store-a/segments"


def test_adding_an_existing_member_is_a_no_op(store, customer):
    segment = actions.create_segment(store, name="VIP")
    assert actions.add_to_segment(segment, customer, source=MembershipSource.MANUAL) is True
    assert actions.add_to_segment(segment, customer, source=MembershipSource.MANUAL) is False
    assert SegmentHistory.objects.filter(segment=segment).count() == 1


def test_any_other_database_error_propagates_instead_of_passing_as_already_a_member(
    store, customer
):
    # given a membership row the database refuses for another reason (a NOT NULL column)
    segment = actions.create_segment(store, name="VIP")
    # when it is added, then the error propagates and nothing is written
    with pytest.raises(IntegrityError):
        actions.add_to_segment(segment, customer, source=MembershipSource.MANUAL, reference=None)
    assert not SegmentMembership.objects.exists() and not SegmentHistory.objects.exists()


def test_deleting_a_segment_keeps_its_history_with_its_name(api, editor, store, customer):
    # given a segment with an add and a remove in its history
    segment = actions.create_segment(store, name="Spring promo")
    actions.add_to_segment(segment, customer, source=MembershipSource.MANUAL)
    actions.remove_from_segment(segment, customer, source=MembershipSource.MANUAL)
    # when it is deleted through the API
    assert api(editor).delete(f"{BASE}/{segment.pk}/").status_code == 204
    # then the segment and its members are gone, and its history stays, labelled with its name
    assert not Segment.objects.filter(pk=segment.pk).exists()
    kept = SegmentHistory.objects.filter(customer=customer).order_by("id")
    assert [(h.action, h.segment_id, h.segment_name) for h in kept] == [
        ("added", None, "Spring promo"),
        ("removed", None, "Spring promo"),
    ]


@pytest.fixture
def many_customers(store):
    Customer.objects.bulk_create(
        Customer(store=store, email=f"c{i}@example.com", tags=["a", "b"]) for i in range(30_000)
    )


@override_settings(SEGMENT_PREVIEW_TIMEOUT_MS=1)
@pytest.mark.parametrize("endpoint", ["preview", "validate"])
def test_a_rule_too_costly_to_evaluate_answers_400_not_a_stuck_request(
    api, viewer, many_customers, endpoint
):
    rule = "email_domain = 'example.com' AND tags CONTAINS 'b' OR orders_count >= 0"
    response = api(viewer).post(f"{BASE}/{endpoint}/", {"rule": rule}, format="json")
    assert response.status_code == 400, response.content[:300]
    assert "took longer than 0.001 s" in response.json()["errors"][0]["message"]


def test_a_cheap_rule_previews_within_the_limit(api, viewer, store):
    make_customer(store, email="a@example.com", orders_count=4)
    response = api(viewer).post(f"{BASE}/preview/", {"rule": "orders_count > 3"}, format="json")
    assert response.status_code == 200 and response.json()["count"] == 1


def test_calculations_filtered_by_another_stores_segment_answer_like_a_missing_one(
    api, viewer, store, other_store
):
    mine = actions.create_segment(store, name="Mine", kind="dynamic", rule="orders_count > 1")
    theirs = actions.create_segment(
        other_store, name="Theirs", kind="dynamic", rule="orders_count > 1"
    )
    url = "/api/v1/stores/store-a/segment-calculations/"
    assert api(viewer).get(url, {"segment": mine.pk}).json()["count"] == 1
    other = api(viewer).get(url, {"segment": theirs.pk})
    missing = api(viewer).get(url, {"segment": theirs.pk + 1000})
    assert (other.status_code, other.json()) == (missing.status_code, missing.json())
    assert other.json()["count"] == 0
