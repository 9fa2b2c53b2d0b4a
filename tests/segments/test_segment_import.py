"""CSV import into a static segment: matching by email, the report, bad rows, resuming."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments import csv_import
from segments.actions import SegmentError, create_segment
from segments.csv_import import import_report_rows, run_import, start_import
from segments.models import JobStatus, SegmentHistory, SegmentImport, SegmentMembership
from tests.fixtures.factories import make_customer


@pytest.fixture
def segment(store):
    return create_segment(store, name="Test Customers")


def test_import_applies_valid_rows_and_reports_the_rest_with_line_numbers(store, segment):
    # given customers, one already a member, and a CSV with good, unknown and invalid rows
    ann = make_customer(store, email="ann@example.com")
    make_customer(store, email="Bob@Example.com")
    SegmentMembership.objects.create(store=store, segment=segment, customer=ann, source="manual")
    content = (
        "first_name,Email\n"
        "Ann,ANN@example.com\n"  # line 2: already a member
        "Bob,bob@example.com\n"  # line 3: added (case-insensitive)
        "Ghost,ghost@example.com\n"  # line 4: unknown
        "Bad,not-an-email\n"  # line 5: invalid
        "\n"
        "Empty,\n"  # line 7: invalid
        "Bob again,bob@example.com\n"  # line 8: already a member (added above)
    )
    # when it is imported
    segment_import = start_import(segment, content=content.encode(), filename="members.csv")
    result = run_import(segment_import.pk)
    # then the valid rows are applied and the report counts every outcome
    assert result.status == JobStatus.DONE
    assert (result.added, result.already_members, result.unknown, result.invalid) == (1, 2, 1, 2)
    problems = list(result.problems.values_list("line", "outcome"))
    assert problems == [(4, "unknown"), (5, "invalid"), (7, "invalid")]
    assert SegmentHistory.objects.filter(segment=segment, source="csv").count() == 1
    rows = list(import_report_rows(result))
    assert ["added", "1"] in rows and ["4", "ghost@example.com", "unknown"] == rows[-3][:3]
    # and running it again changes nothing
    assert run_import(segment_import.pk).added == 1


def test_import_without_an_email_column_is_refused_at_once(segment):
    with pytest.raises(SegmentError, match="Line 1: the CSV needs an 'email' column"):
        start_import(segment, content=b"name,phone\nAnn,1\n")
    assert not SegmentImport.objects.exists()


def test_import_of_a_non_utf8_file_is_refused(segment):
    with pytest.raises(SegmentError, match="not UTF-8"):
        start_import(segment, content="email\nzoë@example.com\n".encode("latin-1"))


def test_import_into_a_dynamic_segment_is_refused(store):
    from .segment_helpers import dynamic_segment

    segment = dynamic_segment(store, "orders_count >= 1")
    with pytest.raises(SegmentError, match="dynamic"):
        start_import(segment, content=b"email\na@b.com\n")


def test_a_redelivered_import_resumes_after_the_last_batch(store, segment, monkeypatch):
    # given an import whose worker died after its first batch committed
    monkeypatch.setattr(csv_import, "BATCH_SIZE", 2)
    for n in range(5):
        make_customer(store, email=f"c{n}@example.com")
    content = "email\n" + "".join(f"c{n}@example.com\n" for n in range(5))
    segment_import = start_import(segment, content=content)
    batch = csv_import._apply_batch
    calls = []

    def die_on_second(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("worker lost")
        return batch(*args)

    monkeypatch.setattr(csv_import, "_apply_batch", die_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_import(segment_import.pk)
    monkeypatch.setattr(csv_import, "_apply_batch", batch)
    # when the task is delivered again, then it resumes and counts every row once
    result = run_import(segment_import.pk)
    assert (result.status, result.added, result.already_members, result.rows_done) == (
        "done",
        5,
        0,
        5,
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_no_file_content_crashes_the_import(segment, raw):
    try:
        segment_import = start_import(segment, content=b"email\n" + raw)
    except SegmentError:
        return
    result = run_import(segment_import.pk)
    assert result.status == JobStatus.DONE
    assert (
        result.added + result.already_members + result.unknown + result.invalid == result.rows_done
    )


def test_a_stuck_import_is_queued_again_and_resumes(store, segment):
    from datetime import timedelta

    from django.utils import timezone

    from segments.csv_import import requeue_stuck_imports

    make_customer(store, email="a@example.com")
    segment_import = start_import(segment, content="email\na@example.com\n")
    SegmentImport.objects.filter(pk=segment_import.pk).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    assert requeue_stuck_imports(timezone.now() - timedelta(minutes=10)) == [segment_import.pk]
    # and it is not queued again while its fresh heartbeat is recent
    assert requeue_stuck_imports(timezone.now() - timedelta(minutes=10)) == []
    assert run_import(segment_import.pk).added == 1
