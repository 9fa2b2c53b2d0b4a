"""The staff pages for segments: list, members, history, actions, export, import, deletion."""

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from segments.actions import add_to_segment, create_segment
from segments.csv_import import run_import
from segments.models import Segment, SegmentCalculation, SegmentImport
from segments.usage import register_segment_usage_check, unregister_segment_usage_check
from tests.fixtures.factories import make_customer

from .segment_helpers import dynamic_segment


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw-for-tests")
    client.force_login(user)
    return client


@pytest.fixture
def static_segment(store):
    segment = create_segment(store, name="Test Customers")
    for n in range(3):
        add_to_segment(segment, make_customer(store, email=f"m{n}@example.com"), source="manual")
    return segment


def test_segment_list_shows_kind_count_and_status_in_constant_queries(
    staff_client, store, static_segment, django_assert_max_num_queries
):
    for n in range(5):
        create_segment(store, name=f"Static {n}")
    with django_assert_max_num_queries(12):
        response = staff_client.get(reverse("admin:segments_segment_changelist"))
    assert response.status_code == 200
    assert b"Test Customers" in response.content and b"Static" in response.content


def test_member_list_searches_by_email_and_paginates(staff_client, static_segment):
    url = reverse("admin:segments_segment_members", args=[static_segment.pk])
    response = staff_client.get(url, {"q": "m1@"})
    assert response.status_code == 200
    assert b"m1@example.com" in response.content and b"m2@example.com" not in response.content


def test_staff_add_and_remove_members(staff_client, store, static_segment):
    make_customer(store, email="new@example.com")
    url = reverse("admin:segments_segment_members", args=[static_segment.pk])
    response = staff_client.post(url, {"emails": "new@example.com, ghost@example.com"}, follow=True)
    assert b"Added 1" in response.content and b"ghost@example.com" in response.content
    member = static_segment.memberships.get(customer__email="m0@example.com")
    staff_client.post(url, {"remove": [str(member.customer_id)]})
    static_segment.refresh_from_db()
    assert static_segment.member_count == 3


def test_history_pages_per_segment_and_per_customer(staff_client, store, static_segment):
    response = staff_client.get(reverse("admin:segments_segment_history", args=[static_segment.pk]))
    assert response.content.count(b"m0@example.com") == 1
    customer = static_segment.memberships.first().customer
    page = staff_client.get(reverse("admin:segments_segment_customer", args=[customer.pk]))
    assert page.status_code == 200
    assert b"Test Customers" in page.content and b"Manual" in page.content


def test_recompute_now_action_queues_dynamic_segments(staff_client, store):
    segment = dynamic_segment(store, "orders_count >= 1")
    staff_client.post(
        reverse("admin:segments_segment_changelist"),
        {"action": "recompute_now", "_selected_action": [segment.pk]},
    )
    assert SegmentCalculation.objects.filter(segment=segment, trigger="manual").exists()


def test_export_streams_the_members_as_csv(staff_client, static_segment):
    response = staff_client.get(reverse("admin:segments_segment_export", args=[static_segment.pk]))
    assert response.streaming
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("email,")
    assert sorted(line.split(",")[0] for line in lines[1:]) == [
        "m0@example.com",
        "m1@example.com",
        "m2@example.com",
    ]


def test_import_shows_progress_and_a_downloadable_report(staff_client, store, static_segment):
    make_customer(store, email="x@example.com")
    upload = SimpleUploadedFile("m.csv", b"email\nx@example.com\nnope@example.com\nbad\n")
    url = reverse("admin:segments_segment_import", args=[static_segment.pk])
    response = staff_client.post(url, {"file": upload})
    assert response.status_code == 302
    segment_import = SegmentImport.objects.get()
    progress = staff_client.get(response["Location"], HTTP_HX_REQUEST="true")
    assert b'hx-trigger="every 1s"' in progress.content and b"<progress" in progress.content
    run_import(segment_import.pk)
    done = staff_client.get(response["Location"])
    assert b"hx-trigger" not in done.content and b"Download the report" in done.content
    report = staff_client.get(
        reverse("admin:segments_segment_import_report", args=[segment_import.pk])
    )
    text = b"".join(report.streaming_content).decode()
    assert "3,nope@example.com,unknown" in text and "4,bad,invalid" in text


def test_import_of_a_file_without_email_column_shows_the_error(staff_client, static_segment):
    upload = SimpleUploadedFile("m.csv", b"name\nAnn\n")
    url = reverse("admin:segments_segment_import", args=[static_segment.pk])
    response = staff_client.post(url, {"file": upload})
    assert response.status_code == 200 and b"needs an &#x27;email&#x27; column" in response.content


def test_deleting_a_segment_a_live_experience_uses_is_refused(staff_client, static_segment):
    def live(segment):
        return ["Experience 'Welcome' (live)"]

    register_segment_usage_check(live)
    try:
        url = reverse("admin:segments_segment_delete", args=[static_segment.pk])
        page = staff_client.get(url)
        staff_client.post(url, {"post": "yes"})
    finally:
        unregister_segment_usage_check(live)
    assert b"Experience &#x27;Welcome&#x27; (live)" in page.content
    assert Segment.objects.filter(pk=static_segment.pk).exists()


def test_admin_form_refuses_a_bad_rule_with_its_position(staff_client, store):
    response = staff_client.post(
        reverse("admin:segments_segment_add"),
        {"store": store.pk, "name": "Bad", "kind": "dynamic", "rule": "order_count > 1"},
    )
    assert response.status_code == 200
    assert b"did you mean &#x27;orders_count&#x27;?" in response.content
    created = staff_client.post(
        reverse("admin:segments_segment_add"),
        {"store": store.pk, "name": "Good", "kind": "dynamic", "rule": "orders_count > 1"},
    )
    assert created.status_code == 302
    assert SegmentCalculation.objects.filter(segment__name="Good").exists()
