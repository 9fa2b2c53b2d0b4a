"""Execution rows: runs of an experience for a customer, their steps, outgoing emails and the
record of chains stopped at the depth limit.

Uniqueness is the database's job: one run per (experience, triggering event), one step per
(run, node, rotation), one email per step, one chain-limit record per (experience, event), one
rotation counter per (experience, customer).

Runs and steps are partitioned by month (migration 0006; ``experiences/partitions.py`` says how
and why). Their ``month`` is the month of the triggering event's ``occurred_at``: it is fixed when
the event is created and travels in its JSON, so every delivery of an event names the same month
and the unique keys that carry it are as strong as those without. A step copies its run's month.
"""

import datetime as dt

from django.db import models
from django.db.models import Q
from django.utils import timezone

from segments.models import Customer, StoreOwned

from .graph import Experience, ExperienceVersion, Node


def month_of(occurred_at: str | dt.datetime | None) -> dt.date:
    """Return the first day (UTC) of the month an event occurred in; an event without a usable
    time (the simulation's, which never writes runs) falls in the current month."""
    moment = occurred_at
    if isinstance(moment, str):
        try:
            moment = dt.datetime.fromisoformat(moment)
        except ValueError:
            moment = None
    if moment is None:
        moment = timezone.now()
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).date().replace(day=1)


class Run(StoreOwned):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting"
        COMPLETED = "completed", "Completed"
        EXITED = "exited", "Exited"
        HELD_OUT = "held_out", "Held out"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.RUNNING, Status.WAITING)

    experience = models.ForeignKey(Experience, on_delete=models.CASCADE, related_name="runs")
    # Published versions are never deleted (the admin and API offer no way); deleting a store or
    # an experience takes its runs with it.
    version = models.ForeignKey(ExperienceVersion, on_delete=models.CASCADE, related_name="runs")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="runs")
    trigger_event_key = models.CharField(max_length=200)
    trigger_event_name = models.CharField(max_length=64)
    trigger_event = models.JSONField(default=dict, help_text="The DomainEvent that started it.")
    chain_origin = models.CharField(max_length=200)
    depth = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    rotation = models.PositiveIntegerField(default=1, help_text="The customer's nth entry.")
    current_node = models.ForeignKey(
        Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    exit_reason = models.CharField(max_length=200, blank=True, default="")
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    month = models.DateField(help_text="The partition: the month the triggering event occurred.")

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # (The month is the event's, so this is one run per experience and event.)
            models.UniqueConstraint(
                fields=["experience", "trigger_event_key", "month"],
                name="run_unique_experience_event",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["running", "waiting", "completed", "exited", "held_out", "failed"]
                ),
                name="run_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["customer"],
                condition=Q(status__in=["running", "waiting"]),
                name="run_customer_active",
            ),
            models.Index(fields=["experience", "status"], name="run_experience_status"),
            models.Index(
                fields=["updated_at"], condition=Q(status="running"), name="run_running_updated"
            ),
        ]

    def __str__(self):
        return f"Run {self.pk} of {self.experience_id} for {self.customer_id} ({self.status})"

    def save(self, *args, **kwargs):
        if self.month is None:
            self.month = month_of((self.trigger_event or {}).get("occurred_at"))
        super().save(*args, **kwargs)


class RunRotation(models.Model):
    """The latest rotation of a customer in an experience (their nth entry), and when it began.

    One row per pair, unpartitioned: a unique key over the runs themselves cannot span their
    monthly partitions, so the engine bumps this counter (``INSERT ... ON CONFLICT DO UPDATE ...
    RETURNING``, under the customer's row lock) and gives each new run the rotation it returns.
    Re-entry reads it instead of the customer's runs in every month.
    """

    experience = models.ForeignKey(Experience, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    rotation = models.PositiveIntegerField()
    started_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experience", "customer"], name="runrotation_unique_experience_customer"
            )
        ]

    def __str__(self):
        return f"Rotation {self.rotation} of {self.customer_id} in {self.experience_id}"


class RunInFlight(models.Model):
    """A run still running or waiting: its id, customer and month, kept by the database.

    Statement-level triggers on ``experiences_run`` (migration 0007) add a row when a run is
    inserted or updated into an active status and remove it when it leaves one or is deleted, in
    the statement's own transaction. "Has this customer a run in flight, and in which months?"
    then reads one small unpartitioned index instead of the partial index of every month's
    partition; the runs themselves are read from the months it names.
    """

    run_id = models.BigIntegerField(primary_key=True)
    customer_id = models.BigIntegerField(db_index=True)
    month = models.DateField()

    def __str__(self):
        return f"Run {self.run_id} of {self.customer_id} in flight ({self.month:%Y-%m})"


class RunStep(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # The database's foreign key names the run's whole key, (run_id, month): migration 0006.
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="steps", db_constraint=False
    )
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="steps")
    rotation = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices)
    attempt = models.PositiveSmallIntegerField(default=1)
    scheduled_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField(null=True, blank=True, help_text="When a waiting step resumes.")
    wait_for = models.CharField(
        max_length=64, blank=True, default="", help_text="Event name a waiting step resumes on."
    )
    branch = models.CharField(max_length=64, blank=True, default="")
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    finished_at = models.DateTimeField(null=True, blank=True)
    month = models.DateField(help_text="The partition: its run's month, copied.")

    class Meta:
        ordering = ["run", "id"]
        constraints = [
            # (A run has one month, so this is one step per run, node and rotation.)
            models.UniqueConstraint(
                fields=["run", "node", "rotation", "month"],
                name="runstep_unique_run_node_rotation",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["waiting", "done", "failed", "cancelled"]),
                name="runstep_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(status="waiting"), name="runstep_waiting_due"
            ),
        ]

    def __str__(self):
        return f"Step {self.node_id} of run {self.run_id} ({self.status})"

    def save(self, *args, **kwargs):
        if self.month is None:
            self.month = self.run.month
        super().save(*args, **kwargs)


class EmailDelivery(StoreOwned):
    """An email written by a notification step in the step's own transaction (an outbox row).

    Delivery claims the row (pending -> sending, committed) before talking to the mail backend and
    marks it sent afterwards: a redelivered task or an overlapping sweep finds it claimed and never
    sends twice. A worker killed between claim and send leaves it ``sending``; the sweep marks it
    ``uncertain`` for a human rather than risk a duplicate (at most once).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        UNCERTAIN = "uncertain", "Uncertain (worker lost while sending)"

    # The database's foreign key names the step's whole key, (step_id, step_month): migration
    # 0006; the step stays unique here (this table is not partitioned).
    step = models.OneToOneField(
        RunStep, on_delete=models.CASCADE, related_name="email", db_constraint=False
    )
    step_month = models.DateField()
    to = models.EmailField(max_length=254)
    subject = models.CharField(max_length=255)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "email deliveries"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sending", "sent", "failed", "uncertain"]),
                name="emaildelivery_status_valid",
            )
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="emaildelivery_open",
            )
        ]

    def __str__(self):
        return f"{self.subject} to {self.to} ({self.status})"

    def save(self, *args, **kwargs):
        if self.step_month is None:
            self.step_month = self.step.month
        super().save(*args, **kwargs)


class ChainLimitHit(StoreOwned):
    """A run that did not start because its event came too deep in a chain of experiences."""

    experience = models.ForeignKey(
        Experience, on_delete=models.CASCADE, related_name="chain_limit_hits"
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    event_key = models.CharField(max_length=200)
    event_name = models.CharField(max_length=64)
    chain_origin = models.CharField(max_length=200)
    depth = models.PositiveSmallIntegerField()
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["experience", "event_key"], name="chainlimithit_unique_experience_event"
            )
        ]

    def __str__(self):
        return f"Depth {self.depth} stopped {self.experience_id} ({self.event_key})"
