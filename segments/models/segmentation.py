"""Segments, their members and the history of every membership change."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from .commerce import Customer
from .tenancy import StoreOwned


class MembershipSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    CSV = "csv", "CSV import"
    API = "api", "API"
    RULE = "rule", "Rule"
    EXPERIENCE = "experience", "Experience"


class Segment(StoreOwned):
    class Kind(models.TextChoices):
        STATIC = "static", "Static"
        DYNAMIC = "dynamic", "Dynamic"

    class Status(models.TextChoices):
        IDLE = "idle", "Idle"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.STATIC)
    rule = models.TextField(blank=True, default="")
    member_count = models.PositiveIntegerField(default=0)
    # Calculation state: ``version`` grows with every rule edit; a calculation records the version
    # it computes and gives way to a newer one.
    version = models.PositiveIntegerField(default=1)
    calculated_version = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.IDLE)
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(default=0)
    calculation_started_at = models.DateTimeField(null=True, blank=True)
    calculation_finished_at = models.DateTimeField(null=True, blank=True)
    last_calculated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint("store", Lower("name"), name="segment_unique_store_name_ci"),
            models.CheckConstraint(
                condition=models.Q(kind="static") | ~models.Q(rule=""),
                name="segment_dynamic_has_rule",
            ),
        ]

    def __str__(self):
        return self.name


class SegmentMembership(StoreOwned):
    """One row per (segment, customer): the customer is a member, since when and why."""

    # No single-column indexes: the unique (segment, customer) and the (customer, segment)
    # indexes lead with each of them, and every extra index slows bulk recomputes.
    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="segment_memberships", db_index=False
    )
    source = models.CharField(max_length=12, choices=MembershipSource.choices)
    # What caused it: "user:3", "import:12", "run:881/node:reward-1", "rule:v4".
    reference = models.CharField(max_length=200, blank=True, default="")
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-added_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "customer"], name="segmentmembership_unique_segment_customer"
            )
        ]
        indexes = [models.Index(fields=["customer", "segment"], name="membership_customer_seg")]

    def __str__(self):
        return f"{self.customer_id} in {self.segment_id}"


class SegmentHistory(StoreOwned):
    """Every add and remove, kept forever, with its cause.

    Kept when the segment is deleted: ``segment`` becomes null and ``segment_name`` keeps the
    name it had (``segments.actions.delete_segment``).
    """

    class Action(models.TextChoices):
        ADDED = "added", "Added"
        REMOVED = "removed", "Removed"

    # Indexed through (segment, -at) and (customer, -at) below.
    segment = models.ForeignKey(
        Segment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="history",
        db_index=False,
    )
    segment_name = models.CharField(
        max_length=200, blank=True, db_default="", help_text="The name of a deleted segment."
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="segment_history", db_index=False
    )
    action = models.CharField(max_length=8, choices=Action.choices)
    source = models.CharField(max_length=12, choices=MembershipSource.choices)
    reference = models.CharField(max_length=200, blank=True, default="")
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "segment history"
        indexes = [
            models.Index(fields=["segment", "-at"], name="history_segment_at"),
            models.Index(fields=["customer", "-at"], name="history_customer_at"),
        ]

    def __str__(self):
        return f"{self.customer_id} {self.action} {self.segment_id}"


class PendingAnnouncement(StoreOwned):
    """The outbox of a bulk membership change: the history rows whose entered/left events are
    still to be announced.

    Written in the transaction that writes the history rows; the task that announces them marks
    it sent, and a beat sweep re-queues any left pending (the broker was down at commit). A range
    announced twice is harmless: receivers dedupe on the ``segment-history:<id>`` keys.
    """

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="+")
    reference = models.CharField(max_length=200, blank=True, default="")
    first_history_id = models.BigIntegerField()
    last_history_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(sent_at__isnull=True),
                name="announcement_pending",
            )
        ]

    def __str__(self):
        return f"segment {self.segment_id} history {self.first_history_id}-{self.last_history_id}"
