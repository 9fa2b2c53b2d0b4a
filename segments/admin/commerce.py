"""Staff admin of stores, memberships and commerce data.

Every changelist runs a constant number of queries whatever the page size: foreign keys shown in
the list are fetched with ``list_select_related`` and no column reads a relation per row. Dates
are filtered with ``list_filter`` rather than ``date_hierarchy``: the hierarchy's DISTINCT over
every row took seconds on a store with millions of orders. Webhook
secrets are write-only: the form never renders them and keeps the stored one when left blank.
"""

from django import forms
from django.contrib import admin
from django.db import models
from django.urls import reverse
from django.utils.html import format_html

from ..figures import FIGURE_COLUMNS, refresh_customer_figures
from ..models import (
    Customer,
    Order,
    OrderLine,
    Store,
    StoreMembership,
    Subscription,
    UpcomingOrder,
)

SECRET_FIELDS = ("shopify_webhook_secret", "recharge_webhook_secret")


class StoreAdminForm(forms.ModelForm):
    """Store form whose webhook secrets can be replaced but never read back."""

    shopify_webhook_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank to keep the current secret.",
    )
    recharge_webhook_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank to keep the current secret.",
    )

    class Meta:
        model = Store
        fields = [
            "name",
            "slug",
            "shopify_domain",
            "currency",
            "timezone",
            "experiences_enabled",
            "rewards_enabled",
            *SECRET_FIELDS,
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            is_set = bool(getattr(self.instance, name, ""))
            state = "A secret is set." if is_set else "No secret is set."
            self.fields[name].help_text = f"{state} Leave blank to keep the current value."

    def clean(self):
        cleaned = super().clean()
        for name in SECRET_FIELDS:
            if not cleaned.get(name):
                cleaned[name] = getattr(self.instance, name, "") or ""
        return cleaned


class StoreMembershipInline(admin.TabularInline):
    model = StoreMembership
    extra = 1
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    form = StoreAdminForm
    inlines = [StoreMembershipInline]
    list_display = [
        "name",
        "slug",
        "shopify_domain",
        "currency",
        "timezone",
        "experiences_enabled",
        "rewards_enabled",
        "has_shopify_secret",
        "has_recharge_secret",
        "created_at",
    ]
    list_filter = ["experiences_enabled", "rewards_enabled", "currency"]
    search_fields = ["name", "slug", "shopify_domain"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "shopify_domain", "currency", "timezone"]}),
        ("Features", {"fields": ["experiences_enabled", "rewards_enabled"]}),
        ("Webhook secrets (write-only)", {"fields": list(SECRET_FIELDS)}),
        ("Dates", {"fields": ["created_at"]}),
    ]

    @admin.display(boolean=True, description="Shopify secret")
    def has_shopify_secret(self, store: Store) -> bool:
        return bool(store.shopify_webhook_secret)

    @admin.display(boolean=True, description="Recharge secret")
    def has_recharge_secret(self, store: Store) -> bool:
        return bool(store.recharge_webhook_secret)


@admin.register(StoreMembership)
class StoreMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "store", "role", "created_at"]
    list_filter = ["role", "store"]
    list_select_related = ["user", "store"]
    search_fields = ["user__username", "user__email", "store__name", "store__slug"]
    autocomplete_fields = ["user", "store"]
    readonly_fields = ["created_at"]


class StoreOwnedAdmin(admin.ModelAdmin):
    """Common ground of store-owned rows: the store is always shown, filtered and joined."""

    list_filter: list = ["store"]
    autocomplete_fields = ["store"]
    # Every money field of these models is non-negative: say so on the field, before the database.
    formfield_overrides = {models.DecimalField: {"min_value": 0}}


class CustomerAdminForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = [
            "store",
            "email",
            "first_name",
            "last_name",
            "tags",
            "shopify_id",
            "recharge_id",
            "accepts_marketing",
            "created_at",
        ]

    def clean(self):
        cleaned = super().clean()
        store, email = cleaned.get("store"), cleaned.get("email")
        if store and email:
            clash = Customer.objects.filter(store=store, email__iexact=email)
            if self.instance.pk:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error("email", "This store already has a customer with this email.")
        return cleaned


@admin.register(Customer)
class CustomerAdmin(StoreOwnedAdmin):
    form = CustomerAdminForm
    list_display = [
        "email",
        "first_name",
        "last_name",
        "store",
        "orders_count",
        "total_spent",
        "active_subscriptions_count",
        "streak",
        "last_order_at",
        "created_at",
    ]
    list_filter = ["store", "accepts_marketing", "created_at", "last_order_at"]
    list_select_related = ["store"]
    search_fields = ["email", "first_name", "last_name", "shopify_id", "recharge_id"]
    readonly_fields = [*FIGURE_COLUMNS, "updated_at", "segments_page"]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["store", "email", "first_name", "last_name", "tags"]}),
        ("Segments", {"fields": ["segments_page"]}),
        ("External ids", {"fields": ["shopify_id", "recharge_id"]}),
        ("Marketing", {"fields": ["accepts_marketing", "created_at"]}),
        ("Derived figures (kept up to date from orders)", {"fields": [*FIGURE_COLUMNS]}),
        ("Dates", {"fields": ["updated_at"]}),
    ]

    @admin.display(description="Segments")
    def segments_page(self, obj):
        if not obj.pk:
            return "-"
        url = reverse("admin:segments_segment_customer", args=[obj.pk])
        return format_html('<a href="{}">Segments, why, and history of every change</a>', url)


@admin.register(Subscription)
class SubscriptionAdmin(StoreOwnedAdmin):
    list_display = [
        "id",
        "customer",
        "store",
        "product_title",
        "quantity",
        "price",
        "interval_frequency",
        "interval_unit",
        "status",
        "next_charge_date",
        "created_at",
    ]
    list_filter = [
        "store",
        "status",
        "interval_unit",
        "is_prepaid",
        "created_at",
        "next_charge_date",
    ]
    list_select_related = ["customer", "store"]
    search_fields = ["customer__email", "recharge_id", "product_id", "sku", "product_title"]
    # Newest first by id: the primary key index serves it (created_at has none).
    ordering = ["-id"]
    autocomplete_fields = ["store", "customer"]
    show_full_result_count = False

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "interval_frequency":
            kwargs["min_value"] = 1
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    formfield_overrides = {models.DecimalField: {"min_value": 0}}
    fields = ["product_id", "variant_id", "sku", "title", "quantity", "price"]


@admin.register(Order)
class OrderAdmin(StoreOwnedAdmin):
    inlines = [OrderLineInline]
    list_display = [
        "__str__",
        "customer",
        "store",
        "total",
        "currency",
        "source",
        "type",
        "is_subscription",
        "is_first_subscription_order",
        "processed_at",
        "cancelled_at",
    ]
    list_filter = [
        "store",
        "source",
        "type",
        "is_subscription",
        "is_first_subscription_order",
        "processed_at",
    ]
    list_select_related = ["customer", "store"]
    search_fields = ["external_id", "recharge_id", "name", "customer__email"]
    autocomplete_fields = ["store", "customer"]
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        previous = Order.objects.filter(pk=obj.pk).values_list("customer_id", flat=True).first()
        super().save_model(request, obj, form, change)
        obj._customers_to_refresh = {obj.customer_id, previous} - {None}

    def save_related(self, request, form, formsets, change):
        # The customer's figures (orders count, total spent, ...) follow the order and its lines,
        # for the customer it now has and the one it had, exactly as ingest refreshes them.
        super().save_related(request, form, formsets, change)
        refresh_customer_figures(getattr(form.instance, "_customers_to_refresh", set()))

    def delete_model(self, request, obj):
        customer_id = obj.customer_id
        super().delete_model(request, obj)
        refresh_customer_figures([customer_id])

    def delete_queryset(self, request, queryset):
        customer_ids = set(queryset.values_list("customer_id", flat=True))
        super().delete_queryset(request, queryset)
        refresh_customer_figures(customer_ids)

    def save_formset(self, request, form, formset, change):
        # Lines belong to the order's store and customer; the inline does not ask for them.
        for line in formset.save(commit=False):
            line.store_id = form.instance.store_id
            line.customer_id = form.instance.customer_id
            line.save()
        for line in formset.deleted_objects:
            line.delete()
        formset.save_m2m()


@admin.register(UpcomingOrder)
class UpcomingOrderAdmin(StoreOwnedAdmin):
    list_display = [
        "external_id",
        "customer",
        "subscription",
        "store",
        "scheduled_at",
        "status",
        "total",
    ]
    list_filter = ["store", "status", "scheduled_at"]
    list_select_related = ["customer", "store", "subscription"]
    search_fields = ["external_id", "customer__email"]
    autocomplete_fields = ["store", "customer", "subscription"]
    show_full_result_count = False
