"""Commerce data of a store: customers with their derived figures, subscriptions, orders and the
next scheduled charge (the upcoming order)."""

from decimal import Decimal

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from .tenancy import StoreOwned

ZERO = Decimal("0.00")


class ClockTimestamp(models.Func):
    """PostgreSQL's ``clock_timestamp()``: the time of the statement's write, not of its
    transaction's start (``now()``), so rows written later in one transaction are later."""

    function = "clock_timestamp"
    template = "clock_timestamp()"
    output_field = models.DateTimeField()


def _non_negative(*fields: str, prefix: str) -> list[models.CheckConstraint]:
    return [
        models.CheckConstraint(condition=models.Q(**{f"{f}__gte": 0}), name=f"{prefix}_{f}_gte_0")
        for f in fields
    ]


class Customer(StoreOwned):
    shopify_id = models.CharField(max_length=64, blank=True, default="")
    recharge_id = models.CharField(max_length=64, blank=True, default="")
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100, blank=True, default="")
    last_name = models.CharField(max_length=100, blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    accepts_marketing = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    source_updated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The sender's time of the newest customer update applied; older ones are "
        "skipped.",
    )

    # Derived figures, kept up to date by the event processing (see segments.figures).
    orders_count = models.PositiveIntegerField(default=0)
    subscription_orders_count = models.PositiveIntegerField(default=0)
    total_spent = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    subscription_aov = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    first_order_at = models.DateTimeField(null=True, blank=True)
    last_order_at = models.DateTimeField(null=True, blank=True)
    active_subscriptions_count = models.PositiveIntegerField(default=0)
    streak = models.PositiveIntegerField(
        default=0, help_text="Consecutive uncancelled subscription charges."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint("store", Lower("email"), name="customer_unique_store_email_ci"),
            models.UniqueConstraint(
                fields=["store", "shopify_id"],
                condition=~models.Q(shopify_id=""),
                name="customer_unique_store_shopify_id",
            ),
            models.UniqueConstraint(
                fields=["store", "recharge_id"],
                condition=~models.Q(recharge_id=""),
                name="customer_unique_store_recharge_id",
            ),
            *_non_negative("total_spent", "subscription_aov", prefix="customer"),
        ]
        indexes = [
            models.Index(fields=["store", "orders_count"], name="customer_store_orders"),
            models.Index(fields=["store", "last_order_at"], name="customer_store_last_order"),
        ]

    def __str__(self):
        return self.email

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Subscription(StoreOwned):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    class IntervalUnit(models.TextChoices):
        DAY = "day", "Day"
        WEEK = "week", "Week"
        MONTH = "month", "Month"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="subscriptions")
    recharge_id = models.CharField(max_length=64, blank=True, default="")
    product_id = models.CharField(max_length=64)
    variant_id = models.CharField(max_length=64, blank=True, default="")
    sku = models.CharField(max_length=100, blank=True, default="")
    product_title = models.CharField(max_length=255, blank=True, default="")
    quantity = models.PositiveIntegerField(default=1)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    interval_unit = models.CharField(
        max_length=10, choices=IntervalUnit.choices, default=IntervalUnit.MONTH
    )
    interval_frequency = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    is_prepaid = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    next_charge_date = models.DateField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=255, blank=True, default="")
    # The source's own timestamp of the state we hold: an older update never overwrites a newer.
    source_updated_at = models.DateTimeField(null=True, blank=True)
    # When the row last changed, by any path (the ORM, set-based SQL, the admin): set by the
    # database on insert and by a trigger on every update that changes the row (migration
    # 0011_row_updated_at_an2). The analytics refresh finds changed rows by it.
    updated_at = models.DateTimeField(db_default=ClockTimestamp(), editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "recharge_id"],
                condition=~models.Q(recharge_id=""),
                name="subscription_unique_store_recharge_id",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "paused", "cancelled", "expired"]),
                name="subscription_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(interval_frequency__gte=1), name="subscription_interval_gte_1"
            ),
            *_non_negative("price", prefix="subscription"),
        ]
        indexes = [
            models.Index(fields=["store", "status"], name="subscription_store_status"),
            models.Index(fields=["store", "updated_at"], name="subscription_store_updated"),
        ]

    def __str__(self):
        return f"{self.product_title or self.product_id} x{self.quantity} ({self.status})"


class Order(StoreOwned):
    class Source(models.TextChoices):
        RECHARGE_CHECKOUT = "recharge_checkout", "Recharge checkout"
        SHOPIFY_CHECKOUT = "shopify_checkout", "Shopify checkout"

    class Type(models.TextChoices):
        CHECKOUT = "checkout", "Checkout"
        RECURRING = "recurring", "Recurring"

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="orders", null=True, blank=True
    )
    external_id = models.CharField(max_length=64)
    recharge_id = models.CharField(max_length=64, blank=True, default="")
    name = models.CharField(max_length=64, blank=True, default="")
    number = models.PositiveIntegerField(null=True, blank=True)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    source = models.CharField(
        max_length=20, choices=Source.choices, default=Source.SHOPIFY_CHECKOUT
    )
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.CHECKOUT)
    is_subscription = models.BooleanField(default=False)
    is_first_subscription_order = models.BooleanField(default=False)
    discount_codes = models.JSONField(default=list, blank=True)
    financial_status = models.CharField(max_length=32, blank=True, default="")
    processed_at = models.DateTimeField(default=timezone.now, db_index=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # When the row last changed, by any path (the ORM, set-based SQL, the admin): set by the
    # database on insert and by a trigger on every update that changes the row (migration
    # 0011_row_updated_at_an2). The analytics refresh finds changed rows by it.
    updated_at = models.DateTimeField(db_default=ClockTimestamp(), editable=False)

    class Meta:
        ordering = ["-processed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "external_id"], name="order_unique_store_external_id"
            ),
            *_non_negative("total", prefix="order"),
        ]
        indexes = [
            models.Index(fields=["customer", "processed_at"], name="order_customer_date"),
            models.Index(fields=["store", "updated_at"], name="order_store_updated"),
        ]

    def __str__(self):
        return self.name or self.external_id


class OrderLine(StoreOwned):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="order_lines", null=True, blank=True
    )
    product_id = models.CharField(max_length=64, blank=True, default="")
    variant_id = models.CharField(max_length=64, blank=True, default="")
    sku = models.CharField(max_length=100, blank=True, default="")
    title = models.CharField(max_length=255, blank=True, default="")
    quantity = models.PositiveIntegerField(default=1)
    price = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [*_non_negative("price", prefix="orderline")]
        indexes = [
            models.Index(fields=["customer", "product_id"], name="orderline_customer_product")
        ]

    def __str__(self):
        return f"{self.title or self.product_id} x{self.quantity}"


class UpcomingOrder(StoreOwned):
    """The next scheduled charge of a subscription customer; rewards and cross-sells add to it."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        PROCESSED = "processed", "Processed"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="upcoming_orders")
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.SET_NULL,
        related_name="upcoming_orders",
        null=True,
        blank=True,
    )
    external_id = models.CharField(max_length=64, help_text="The Recharge charge id.")
    scheduled_at = models.DateField(db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    lines = models.JSONField(default=list, blank=True)
    discounts = models.JSONField(default=list, blank=True)
    added_items = models.JSONField(default=list, blank=True)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    source_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["scheduled_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "external_id"], name="upcomingorder_unique_store_external_id"
            ),
            *_non_negative("total", prefix="upcomingorder"),
        ]

    def __str__(self):
        return f"Charge {self.external_id} on {self.scheduled_at}"
