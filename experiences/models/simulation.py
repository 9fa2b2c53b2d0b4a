"""Simulations: a version replayed against the store's history with effects only recorded.

A simulation's own row is the only thing it writes: its status and progress while it runs, its
result (JSON, written once at the end in the same statement that marks it done). Nothing of the
live engine (runs, steps, grants, memberships, emails) is ever written for it.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from segments.models import StoreOwned

from .graph import Experience, ExperienceVersion

MIN_DAYS, MAX_DAYS = 7, 365


class Simulation(StoreOwned):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.DONE, Status.FAILED, Status.CANCELLED)

    experience = models.ForeignKey(Experience, on_delete=models.CASCADE, related_name="simulations")
    # The version replayed (a draft may change later: ``version_revision`` says which edit).
    version = models.ForeignKey(
        ExperienceVersion, on_delete=models.SET_NULL, null=True, related_name="simulations"
    )
    version_number = models.PositiveIntegerField()
    version_revision = models.PositiveIntegerField(default=1)
    days = models.PositiveSmallIntegerField()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed", "cancelled"]),
                name="simulation_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(days__gte=MIN_DAYS) & Q(days__lte=MAX_DAYS),
                name="simulation_days_range",
            ),
            models.CheckConstraint(
                condition=Q(status="done") | Q(result__isnull=True),
                name="simulation_result_only_when_done",
            ),
        ]
        indexes = [models.Index(fields=["experience", "-created_at"], name="simulation_recent")]

    def __str__(self):
        return (
            f"Simulation {self.pk} of {self.experience_id} v{self.version_number} ({self.status})"
        )
