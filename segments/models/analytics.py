"""Analytics summary rows: what the analytics pages and API read instead of raw orders.

A Celery task (``segments.refresh_analytics``) writes them; ``AnalyticsRefresh`` is the one
status row per store that says what that task is doing, when it last showed signs of life and
where it got to (the watermarks of its incremental refresh), so that a refresh that dies is
found by the beat sweep and restarted in plain view.
"""

from django.db import models

from .segmentation import Segment
from .tenancy import Store, StoreOwned


class AnalyticsRefresh(models.Model):
    class State(models.TextChoices):
        IDLE = "idle", "Never run"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="analytics_refresh")
    state = models.CharField(max_length=10, choices=State.choices, default=State.IDLE)
    full = models.BooleanField(default=False, help_text="The refresh under way recomputes all.")
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True, help_text="Last successful end.")
    last_full_at = models.DateTimeField(null=True, blank=True)
    restarts = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=500, blank=True, default="")
    error = models.TextField(blank=True, default="")
    # Watermarks of the incremental refresh: rows after these ids are what changed since.
    history_id = models.BigIntegerField(default=0)
    order_id = models.BigIntegerField(default=0)
    # The database's clock when the last refresh began: orders and subscriptions whose
    # updated_at is later (less ANALYTICS_CHANGE_OVERLAP_SECONDS) changed since.
    changes_at = models.DateTimeField(null=True, blank=True)
    # The whole store's sums per window ({"30": [customers, orders, revenue, ...]}): the rest of
    # the store is these less a segment's members' sums, so it stays consistent for every segment.
    store_sums = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "analytics refreshes"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["idle", "queued", "running", "done", "failed"]),
                name="analyticsrefresh_state_valid",
            )
        ]

    def __str__(self):
        return f"Analytics of {self.store_id}: {self.state}"


class SegmentDailySize(StoreOwned):
    """A segment's members at the end of one day (store time), with who entered and left."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="daily_sizes")
    date = models.DateField()
    members = models.IntegerField()
    entered = models.PositiveIntegerField(default=0)
    left = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["segment", "date"]
        constraints = [
            models.UniqueConstraint(fields=["segment", "date"], name="segmentdailysize_unique_day")
        ]

    def __str__(self):
        return f"{self.segment_id} on {self.date}: {self.members}"


class SegmentSummary(StoreOwned):
    """A segment's purchasing behaviour (per window) and cohort retention, as last computed."""

    segment = models.OneToOneField(Segment, on_delete=models.CASCADE, related_name="summary")
    # {"30": {"before": {...}, "after": {...}, "rest": {...}}, "60": ..., "90": ...}
    behaviour = models.JSONField(default=dict)
    # [{"cohort": "2026-01", "size": n, "months": [share, ...]}]
    retention = models.JSONField(default=list)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "segment summaries"

    def __str__(self):
        return f"Summary of {self.segment_id} at {self.computed_at}"
