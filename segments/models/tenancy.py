"""Stores (the tenants) and the merchant users who belong to them with a role."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from ..secrets import EncryptedTextField


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    OWNER = "owner", "Owner"

    @classmethod
    def rank(cls, role: str) -> int:
        return {cls.VIEWER: 1, cls.EDITOR: 2, cls.OWNER: 3}.get(role, 0)


class Store(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    shopify_domain = models.CharField(
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        validators=[
            RegexValidator(
                r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$",
                "Enter a domain like my-shop.myshopify.com.",
            )
        ],
        help_text="The shop's myshopify.com domain; Shopify webhooks are routed by it.",
    )
    currency = models.CharField(
        max_length=3,
        default="USD",
        validators=[RegexValidator(r"^[A-Z]{3}$", "Enter an ISO 4217 code like USD.")],
    )
    timezone = models.CharField(max_length=64, default="UTC")
    # Encrypted at rest (segments.secrets); the admin never shows them.
    shopify_webhook_secret = EncryptedTextField(blank=True, default="")
    recharge_webhook_secret = EncryptedTextField(blank=True, default="")
    experiences_enabled = models.BooleanField(
        default=False, help_text="Experiences are offered to specific merchants only."
    )
    rewards_enabled = models.BooleanField(default=False, help_text="The Rewards add-on.")
    created_at = models.DateTimeField(auto_now_add=True)

    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="StoreMembership", related_name="stores"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        from zoneinfo import available_timezones

        from django.core.exceptions import ValidationError

        if self.timezone not in available_timezones():
            raise ValidationError({"timezone": f"Unknown time zone {self.timezone!r}."})

    @property
    def tzinfo(self):
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.timezone)


class StoreMembership(models.Model):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="store_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "user"], name="membership_unique_store_user"),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="membership_role_valid"
            ),
        ]

    def __str__(self):
        return f"{self.user} is {self.role} of {self.store}"

    def has_role(self, role: str) -> bool:
        return Role.rank(self.role) >= Role.rank(role)


class StoreScopedQuerySet(models.QuerySet):
    def for_store(self, store):
        return self.filter(store=store)


class StoreOwned(models.Model):
    """Abstract base of every store-owned model: it carries its store and a scoped manager."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="%(class)ss")

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        abstract = True
