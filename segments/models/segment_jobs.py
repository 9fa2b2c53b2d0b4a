"""Background work on segments that staff and merchants watch: recomputes and CSV imports.

Each run is a row so its progress (status, rows done, started, finished, error) can be shown
while it runs, and a periodic sweep can find the ones that stopped moving.
"""

from django.conf import settings
from django.db import models

from .segmentation import Segment
from .tenancy import StoreOwned


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    SUPERSEDED = "superseded", "Superseded by a newer rule"


class BackgroundJob(StoreOwned):
    """What every watched background job has: its status, error and when it moved."""

    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in {JobStatus.DONE, JobStatus.FAILED, JobStatus.SUPERSEDED}


class SegmentCalculation(BackgroundJob):
    """One full recompute of a dynamic segment for one version of its rule."""

    class Trigger(models.TextChoices):
        EDIT = "edit", "Rule edited"
        MANUAL = "manual", "Recompute now"
        PERIODIC = "periodic", "Periodic safety net"
        SWEEP = "sweep", "Restarted by the stuck sweep"

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="calculations")
    version = models.PositiveIntegerField(help_text="The rule version this run computes.")
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    rows_total = models.PositiveBigIntegerField(default=0)
    rows_done = models.PositiveBigIntegerField(default=0)
    added = models.PositiveBigIntegerField(default=0)
    removed = models.PositiveBigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    # The last customer id whose range is committed: a redelivered run resumes after it.
    resume_after_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values),
                name="segmentcalculation_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="calc_status_heartbeat")]

    def __str__(self):
        return f"Calculation {self.pk} of {self.segment_id} v{self.version} ({self.status})"


class SegmentImport(BackgroundJob):
    """A CSV of emails added to a static segment in the background, with its report."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="imports")
    filename = models.CharField(max_length=255, blank=True, default="")
    content = models.TextField(help_text="The uploaded CSV, kept until the import finished.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    already_members = models.PositiveIntegerField(default=0)
    unknown = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values),
                name="segmentimport_status_valid",
            ),
        ]

    def __str__(self):
        return f"Import {self.pk} into {self.segment_id} ({self.status})"

    @property
    def percent(self) -> int:
        if not self.rows_total:
            return 100 if self.status == JobStatus.DONE else 0
        return min(100, round(100 * self.rows_done / self.rows_total))


class SegmentImportProblem(models.Model):
    """A row of an import that was not applied: an unknown email or an invalid row."""

    class Outcome(models.TextChoices):
        UNKNOWN = "unknown", "Unknown email"
        INVALID = "invalid", "Invalid row"

    segment_import = models.ForeignKey(
        SegmentImport, on_delete=models.CASCADE, related_name="problems"
    )
    line = models.PositiveIntegerField()
    email = models.CharField(max_length=320, blank=True, default="")
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    message = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["segment_import", "line"]
        constraints = [
            models.UniqueConstraint(
                fields=["segment_import", "line"], name="segmentimportproblem_unique_line"
            )
        ]

    def __str__(self):
        return f"line {self.line}: {self.outcome}"
