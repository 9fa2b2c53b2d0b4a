"""Webhook deliveries as they arrived (the transactional outbox of event processing), and the
streak Recharge reports for a customer."""

from django.db import models
from django.utils import timezone

from .commerce import Customer
from .tenancy import StoreOwned


class InboundEvent(StoreOwned):
    """One delivery of a Shopify or Recharge webhook, stored before it is acknowledged.

    The request writes the row and answers; a worker applies it later. A row left ``received``
    is picked up by the sweep, so a broker outage never loses an event. The table is partitioned
    by month of ``received_at`` (primary key ``(id, received_at)`` in SQL); what makes a
    redelivery count once is its ``InboundDelivery``, written in the same statement.
    """

    class Source(models.TextChoices):
        SHOPIFY = "shopify", "Shopify"
        RECHARGE = "recharge", "Recharge"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    source = models.CharField(max_length=10, choices=Source.choices)
    topic = models.CharField(max_length=64)
    dedupe_key = models.CharField(max_length=255)
    # Who the event is about (an email, or "<source>:<customer id>"): the per-customer lock key.
    customer_key = models.CharField(max_length=300, blank=True, default="")
    # The source's own time of the change (object updated_at, X-Shopify-Triggered-At).
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["received", "processed", "ignored", "failed"]),
                name="inboundevent_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["received_at", "id"],
                name="inboundevent_pending",
                condition=models.Q(status="received"),
            ),
            models.Index(fields=["store", "status", "-received_at"], name="inboundevent_store"),
            # Failed events are few: the operations page's newest ones, and whether an old month
            # still holds one (``partitions.drop_old_inbound_months``), read this, not a month.
            models.Index(
                fields=["-received_at", "-id"],
                name="inboundevent_failed",
                condition=models.Q(status="failed"),
            ),
        ]

    def __str__(self):
        return f"{self.source} {self.topic} #{self.pk} ({self.status})"


class InboundDelivery(StoreOwned):
    """The exactly-once key of a webhook delivery: the sender's id for it, once per store and
    source, and the event it created.

    Kept apart from the monthly partitions of ``InboundEvent`` (a unique key there would have to
    carry the month, and a redelivery across a month boundary would count twice). Written in the
    request's one statement with the event; rows past ``INBOUND_DEDUPE_RETENTION_DAYS``, far
    beyond the platforms' retry windows, are deleted by ``scheduled.maintain_partitions``.
    """

    source = models.CharField(max_length=10, choices=InboundEvent.Source.choices)
    dedupe_key = models.CharField(max_length=255)
    # The event's id and partition key (no foreign key: the event's SQL key is both).
    event_id = models.BigIntegerField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "source", "dedupe_key"], name="inbounddelivery_unique_dedupe"
            ),
        ]
        indexes = [models.Index(fields=["received_at"], name="inbounddelivery_received")]

    def __str__(self):
        return f"{self.source} {self.dedupe_key} -> #{self.event_id}"


class ReportedStreak(StoreOwned):
    """The charge streak Recharge last reported for a customer, and when.

    The customer's ``streak`` figure starts from it and adds the subscription orders seen since.
    """

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="reported_streak"
    )
    value = models.PositiveIntegerField()
    reported_at = models.DateTimeField()

    def __str__(self):
        return f"{self.customer_id}: {self.value} at {self.reported_at}"


class OutboxEvent(StoreOwned):
    """A domain event written in the transaction whose effects it announces, until the receivers
    have taken it (the transactional outbox of ``segments.domain``).

    Delivered right after commit; a beat sweep delivers the rows left unsent (the broker was
    down), and deletes sent rows after a day. Partitioned by month of ``created_at``; its key is
    the event's own, unique within each month's partition (``segments.partitions`` says why that
    keeps an event recorded once); receivers dedupe a second delivery on the same key.
    """

    key = models.CharField(max_length=200)
    event = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(sent_at__isnull=True),
                name="outbox_unsent",
            ),
            models.Index(fields=["sent_at"], name="outbox_sent_at"),
        ]

    def __str__(self):
        return self.key


class QueuedTask(models.Model):
    """A task handed to the broker whose work lives nowhere else, kept until it has run.

    The broker may forget its queues (a Redis restart without persistence, a flush): work that is
    only a message would be lost. Senders write a row, then send the task with the row's id as
    its task id; the worker deletes the row when the task has run (``segments.task_journal``),
    and a beat sweep sends again the rows left behind. The tasks are idempotent, so a second
    delivery (the original was only slow) redoes nothing.
    """

    name = models.CharField(max_length=100)
    args = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(default=timezone.now)
    sends = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [models.Index(fields=["queued_at"], name="queuedtask_queued_at")]

    def __str__(self):
        return f"{self.name} #{self.pk} (sent {self.sends}x)"
