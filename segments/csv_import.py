"""Import members of a static segment from a CSV with an ``email`` column (Recharge's template).

``start_import`` checks the file's shape at once (so a wrong file gets an immediate, clear answer)
and queues the work; ``run_import`` applies it in batches. Each batch commits its members, its
counters and its problem rows together, so a redelivered task resumes after the last batch and
the report stays exact. Valid rows are applied even when other rows are bad.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from .actions import SegmentError, add_customers_to_segment, customers_by_email, enqueue
from .models import JobStatus, MembershipSource, Segment, SegmentImport, SegmentImportProblem

BATCH_SIZE = 5000
_validate_email = EmailValidator()


def check_size(size: int) -> None:
    """Refuse a file over ``SEGMENT_CSV_MAX_BYTES`` (call it before reading an upload)."""
    limit = settings.SEGMENT_CSV_MAX_BYTES
    if size > limit:
        raise SegmentError(f"The file is larger than {limit / (1024 * 1024):g} MB.")


def _decode(content: bytes | str) -> str:
    if isinstance(content, bytes):
        check_size(len(content))
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SegmentError(
                f"The file is not UTF-8 text (byte {exc.start + 1} cannot be read)."
            ) from None
    try:
        content.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SegmentError(
            f"The file has a character that is not text at {exc.start + 1}."
        ) from None
    if "\x00" in content:
        raise SegmentError("The file contains NUL bytes; export it again as a CSV text file.")
    return content.lstrip("\ufeff")


def _email_column(header: list[str]) -> int:
    names = [h.strip().lower() for h in header]
    if "email" not in names:
        raise SegmentError(
            "Line 1: the CSV needs an 'email' column; found "
            + (", ".join(repr(h) for h in header) or "no columns")
            + "."
        )
    return names.index("email")


def start_import(segment: Segment, *, content: bytes | str, filename: str = "", acting_user=None):
    """Check the file and queue its import into the static segment; return the import."""
    if segment.kind != Segment.Kind.STATIC:
        raise SegmentError(
            "Members of a dynamic segment follow its rule; import into a static one."
        )
    text = _decode(content)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise SegmentError(f"Line 1: {exc}") from None
    _email_column(header)
    rows_total = max(0, sum(1 for line in text.splitlines() if line.strip()) - 1)
    with transaction.atomic():
        segment_import = SegmentImport.objects.create(
            store_id=segment.store_id,
            segment=segment,
            filename=filename[:255],
            content=text,
            uploaded_by=acting_user,
            rows_total=rows_total,
        )
        transaction.on_commit(lambda: enqueue("segments.run_import", segment_import.pk))
    return segment_import


def _rows(text: str) -> Iterator[tuple[int, str | None, str]]:
    """Yield (line, email or None, problem) for every data row; bad CSV lines are problems."""
    reader = csv.reader(io.StringIO(text))
    column = _email_column(next(reader, []))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, None, f"unreadable CSV: {exc}"
            continue
        if not any(cell.strip() for cell in row):
            continue
        line = reader.line_num
        if column >= len(row):
            yield line, None, "the row has no email cell"
            continue
        email = row[column].strip()
        if not email:
            yield line, "", "the email is empty"
            continue
        try:
            _validate_email(email)
        except ValidationError:
            yield line, email, f"'{email[:100]}' is not a valid email address"
            continue
        yield line, email, ""


def run_import(import_id: int) -> SegmentImport:
    """Apply the import in batches, resuming after the rows already done."""
    segment_import = SegmentImport.objects.select_related("segment__store", "uploaded_by").get(
        pk=import_id
    )
    if segment_import.status in {JobStatus.DONE, JobStatus.FAILED}:
        return segment_import
    now = timezone.now()
    SegmentImport.objects.filter(pk=import_id).update(
        status=JobStatus.RUNNING, started_at=segment_import.started_at or now, heartbeat_at=now
    )
    skip = segment_import.rows_done
    batch: list[tuple[int, str | None, str]] = []
    seen = 0
    try:
        for item in _rows(segment_import.content):
            seen += 1
            if seen <= skip:
                continue
            batch.append(item)
            if len(batch) >= BATCH_SIZE:
                _apply_batch(segment_import, batch)
                batch = []
        if batch:
            _apply_batch(segment_import, batch)
    except SegmentError as exc:
        SegmentImport.objects.filter(pk=import_id).update(
            status=JobStatus.FAILED, error=str(exc), finished_at=timezone.now()
        )
        segment_import.refresh_from_db()
        return segment_import
    SegmentImport.objects.filter(pk=import_id).update(
        status=JobStatus.DONE, finished_at=timezone.now(), rows_total=F("rows_done"), content=""
    )
    segment_import.refresh_from_db()
    return segment_import


def _apply_batch(segment_import: SegmentImport, batch) -> None:
    segment = segment_import.segment
    problems: list[SegmentImportProblem] = []
    valid = [(line, email) for line, email, problem in batch if not problem]
    for line, email, problem in batch:
        if problem:
            problems.append(
                SegmentImportProblem(
                    segment_import=segment_import,
                    line=line,
                    email=(email or "")[:320],
                    outcome=SegmentImportProblem.Outcome.INVALID,
                    message=problem[:255],
                )
            )
    with transaction.atomic():
        by_email = customers_by_email(segment.store, [email for _line, email in valid])
        for line, email in valid:
            if email.lower() not in by_email:
                problems.append(
                    SegmentImportProblem(
                        segment_import=segment_import,
                        line=line,
                        email=email[:320],
                        outcome=SegmentImportProblem.Outcome.UNKNOWN,
                        message="no customer of this store has this email",
                    )
                )
        result = add_customers_to_segment(
            segment,
            by_email.values(),
            source=MembershipSource.CSV,
            reference=f"import:{segment_import.pk}",
            acting_user=segment_import.uploaded_by,
        )
        matched_rows = sum(1 for _line, email in valid if email.lower() in by_email)
        SegmentImportProblem.objects.bulk_create(problems, ignore_conflicts=True)
        invalid = sum(1 for p in problems if p.outcome == SegmentImportProblem.Outcome.INVALID)
        SegmentImport.objects.filter(pk=segment_import.pk).update(
            rows_done=F("rows_done") + len(batch),
            added=F("added") + len(result.changed),
            already_members=F("already_members") + matched_rows - len(result.changed),
            unknown=F("unknown") + len(problems) - invalid,
            invalid=F("invalid") + invalid,
            heartbeat_at=timezone.now(),
        )


def import_report_rows(segment_import: SegmentImport) -> Iterator[list[str]]:
    """Yield the downloadable report: the totals, then every row that was not applied."""
    yield ["outcome", "count"]
    yield ["added", str(segment_import.added)]
    yield ["already members", str(segment_import.already_members)]
    yield ["unknown emails", str(segment_import.unknown)]
    yield ["invalid rows", str(segment_import.invalid)]
    yield []
    yield ["line", "email", "outcome", "message"]
    problems = segment_import.problems.order_by("line").values_list(
        "line", "email", "outcome", "message"
    )
    for line, email, outcome, message in problems.iterator(chunk_size=2000):
        yield [str(line), email, outcome, message]


def requeue_stuck_imports(older_than) -> list[int]:
    """Queue again the imports that stopped moving (a lost message); they resume where they were."""
    stuck = list(
        SegmentImport.objects.filter(
            status__in=[JobStatus.QUEUED, JobStatus.RUNNING], created_at__lt=older_than
        )
        .filter(models.Q(heartbeat_at__isnull=True) | models.Q(heartbeat_at__lt=older_than))
        .values_list("pk", flat=True)
    )
    SegmentImport.objects.filter(pk__in=stuck).update(heartbeat_at=timezone.now())
    for pk in stuck:
        enqueue("segments.run_import", pk)
    return stuck
