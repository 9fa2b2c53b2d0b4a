"""Rewards: incentives (what a store gives), the grant ledger (what each customer got from which
run step), store credit as append-only entries, cross-sell offers, per-store caps and the
idempotency records of manual credit adjustments.

Uniqueness is the database's job: one grant per run step (``source_key``), one credit entry per
cause (``key``), one offer per grant, one idempotency record per (store, key). ``rewards`` never
imports ``experiences``: a grant names its experience, run and step by id only.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from segments.models import Customer, Order, StoreOwned, UpcomingOrder

ZERO = Decimal("0.00")


class RewardKind(models.TextChoices):
    CREDIT = "credit", "Store credit"
    DISCOUNT = "discount", "Discount on the next order"
    FREE_GIFT = "free_gift", "Free gift"
    CROSS_SELL = "cross_sell", "Cross-sell offer"


class Incentive(StoreOwned):
    """A reusable definition of what a store gives; ``params`` is validated per kind."""

    Kind = RewardKind

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=RewardKind.choices)
    # credit: {"amount_type": "fixed"|"percent", "amount": "5.00"}
    # discount: {"discount_type": "percent"|"fixed", "value": "10"}
    # free_gift: {"product_id", "variant_id", "sku", "title", "quantity"}
    # cross_sell: {"product_id", "variant_id", "sku", "title", "price", "quantity",
    #              "discount_type": "percent"|"fixed"|null, "discount_value"}
    params = models.JSONField(default=dict, blank=True)
    expires_in_days = models.PositiveIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["credit", "discount", "free_gift", "cross_sell"]),
                name="incentive_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(expires_in_days__isnull=True) | Q(expires_in_days__gte=1),
                name="incentive_expiry_positive",
            ),
        ]

    def __str__(self):
        return self.name


class RewardGrant(StoreOwned):
    """One reward given to one customer, by one run step (or one other unique source)."""

    Kind = RewardKind

    class Status(models.TextChoices):
        ISSUED = "issued", "Issued"
        APPLIED = "applied", "Applied to the upcoming order"
        REDEEMED = "redeemed", "Redeemed"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"
        SKIPPED = "skipped", "Skipped"

    OPEN = (Status.ISSUED, Status.APPLIED)

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="reward_grants")
    incentive = models.ForeignKey(
        Incentive, on_delete=models.PROTECT, null=True, blank=True, related_name="grants"
    )
    kind = models.CharField(max_length=16, choices=RewardKind.choices)
    # e.g. "step:123" for a run step: the one grant that step may ever make.
    source_key = models.CharField(max_length=200)
    experience_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    run_id = models.BigIntegerField(null=True, blank=True)
    step_id = models.BigIntegerField(null=True, blank=True)
    # The credit amount, or the value given (the discount off, the gift's list price).
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    currency = models.CharField(max_length=3)
    # What was added to an order: product_id, variant_id, sku, title, quantity, price, discount.
    item = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ISSUED)
    reason = models.CharField(max_length=500, blank=True, default="")
    upcoming_order = models.ForeignKey(
        UpcomingOrder, on_delete=models.SET_NULL, null=True, blank=True, related_name="grants"
    )
    redeemed_order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "source_key"], name="rewardgrant_unique_source"
            ),
            models.UniqueConstraint(
                fields=["step_id"],
                condition=Q(step_id__isnull=False),
                name="rewardgrant_one_per_step",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["credit", "discount", "free_gift", "cross_sell"]),
                name="rewardgrant_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["issued", "applied", "redeemed", "expired", "revoked", "skipped"]
                ),
                name="rewardgrant_status_valid",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="rewardgrant_amount_gte_0"),
            models.CheckConstraint(
                condition=~Q(status="skipped") | ~Q(reason=""),
                name="rewardgrant_skipped_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["store", "status", "kind"], name="rewardgrant_store_status"),
            models.Index(fields=["customer", "created_at"], name="rewardgrant_customer_created"),
            models.Index(
                fields=["expires_at"],
                condition=Q(status__in=["issued", "applied"], expires_at__isnull=False),
                name="rewardgrant_open_expiry",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.customer_id} ({self.status})"


class CreditEntry(StoreOwned):
    """One movement of store credit; a balance is the sum of a customer's entries.

    Rows are appended, never edited. A grant entry opens a credit lot (``grant``); spends,
    expiries and revocations draw from a lot and name it, so what is left of each lot is a sum too.
    """

    class Kind(models.TextChoices):
        GRANT = "grant", "Grant"
        SPEND = "spend", "Spent on an order"
        EXPIRY = "expiry", "Expired"
        REVOCATION = "revocation", "Revoked"
        ADJUSTMENT = "adjustment", "Manual adjustment"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="credit_entries")
    grant = models.ForeignKey(
        RewardGrant, on_delete=models.PROTECT, null=True, blank=True, related_name="credit_entries"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2)  # signed
    currency = models.CharField(max_length=3)
    # Unique per store: "grant:<grant>", "spend:<order>:<grant>", "expiry:<grant>",
    # "revocation:<grant>", "adjustment:<idempotency key or uuid>".
    key = models.CharField(max_length=200)
    cause = models.CharField(max_length=200, blank=True, default="")
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True)
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True, default="")
    # A manual positive adjustment may expire too; a grant's lot expires with its grant.
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "credit entries"
        constraints = [
            models.UniqueConstraint(fields=["store", "key"], name="creditentry_unique_key"),
            models.CheckConstraint(condition=~Q(amount=0), name="creditentry_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(kind__in=["grant", "spend", "expiry", "revocation", "adjustment"]),
                name="creditentry_kind_valid",
            ),
            models.CheckConstraint(
                condition=~Q(kind="grant") | Q(amount__gt=0), name="creditentry_grant_positive"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["spend", "expiry", "revocation"]) | Q(amount__lt=0),
                name="creditentry_debit_negative",
            ),
            models.CheckConstraint(
                condition=~Q(kind="adjustment") | ~Q(reason=""),
                name="creditentry_adjustment_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "created_at"], name="creditentry_customer"),
            # The tail of a store's entries after its liability checkpoint.
            models.Index(fields=["store", "id"], name="creditentry_store_id"),
        ]

    def __str__(self):
        return f"{self.kind} {self.amount} {self.currency} for {self.customer_id}"


class CrossSellOffer(StoreOwned):
    """A product offered for a customer's upcoming order; answered on ``/offers/<token>/``."""

    class Status(models.TextChoices):
        SHOWN = "shown", "Shown"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    grant = models.OneToOneField(RewardGrant, on_delete=models.CASCADE, related_name="offer")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="offers")
    upcoming_order = models.ForeignKey(
        UpcomingOrder, on_delete=models.SET_NULL, null=True, blank=True, related_name="offers"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SHOWN)
    respond_by = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["shown", "accepted", "declined", "expired", "revoked"]),
                name="crossselloffer_status_valid",
            )
        ]
        indexes = [
            models.Index(
                fields=["respond_by"], condition=Q(status="shown"), name="crossselloffer_due"
            )
        ]

    def __str__(self):
        return f"Offer {self.pk} to {self.customer_id} ({self.status})"


class RewardPolicy(models.Model):
    """A store's guardrails across all experiences (owners set them); absent means no caps."""

    store = models.OneToOneField(
        "segments.Store", on_delete=models.CASCADE, related_name="reward_policy"
    )
    max_rewards_per_customer = models.PositiveIntegerField(null=True, blank=True)
    max_credit_per_customer = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True
    )
    period_days = models.PositiveIntegerField(default=30)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "reward policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(period_days__gte=1), name="rewardpolicy_period_gte_1"
            ),
            models.CheckConstraint(
                condition=Q(max_credit_per_customer__isnull=True)
                | Q(max_credit_per_customer__gte=0),
                name="rewardpolicy_max_credit_gte_0",
            ),
        ]

    def __str__(self):
        return f"Reward caps of {self.store_id}"


class IdempotencyRecord(StoreOwned):
    """The first answer to a request sent with an ``Idempotency-Key`` header, replayed on retry."""

    key = models.CharField(max_length=200)
    scope = models.CharField(max_length=100)  # which operation, e.g. "credit-adjust:<customer>"
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(default=dict)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "key"], name="idempotencyrecord_unique_key")
        ]

    def __str__(self):
        return f"{self.scope} {self.key}"


class LiabilityCheckpoint(models.Model):
    """The sum of a store's credit entries up to ``upto_entry_id``: a prefix of an append-only
    ledger, so it never changes once taken. The liability is this plus the entries after it.

    A sweep advances it over entries older than a safety margin (so no uncommitted entry below
    it can appear later); deleting any of the store's entries drops it (it is taken again).
    """

    store = models.OneToOneField(
        "segments.Store", on_delete=models.CASCADE, related_name="liability_checkpoint"
    )
    upto_entry_id = models.BigIntegerField()
    total = models.DecimalField(max_digits=16, decimal_places=2)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Liability of {self.store_id} up to entry {self.upto_entry_id}: {self.total}"


class ExperienceSpend(models.Model):
    """What an experience has given so far (the sum of its grants that were not skipped): the
    budget check reads one row instead of summing a ledger that only grows.

    The database keeps it: statement triggers on the grants table add what every insert, update
    or delete of grants changes (``rewards/migrations/0003_experience_spend.py``), so no code
    path can forget it. Not a ledger of its own: it can always be rebuilt from the grants.
    """

    experience_id = models.BigIntegerField(primary_key=True)
    spent = models.DecimalField(max_digits=16, decimal_places=2, default=ZERO)

    def __str__(self):
        return f"Experience {self.experience_id} spent {self.spent}"
