"""Read-only API over a store's commerce data: customers, orders, subscriptions, upcoming orders;
and the list of the caller's stores."""

import django_filters
from django.db import models
from rest_framework import generics, serializers

from config.api_filters import AmountFilter, IntegerFilter, IsoDateTimeFilter, StrictBooleanFilter

from ..models import Customer, Order, OrderLine, Store, Subscription, UpcomingOrder
from ..queries import stores_for
from .base import StoreScopedReadOnlyViewSet


class StoreSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Store
        fields = [
            "slug",
            "name",
            "shopify_domain",
            "currency",
            "timezone",
            "experiences_enabled",
            "rewards_enabled",
            "role",
        ]

    def get_role(self, store) -> str:
        user = self.context["request"].user
        if user.is_superuser:
            return "owner"
        return next((m.role for m in store.memberships.all() if m.user_id == user.id), "")


class StoreListView(generics.ListAPIView):
    """The stores the caller belongs to, with the caller's role in each."""

    serializer_class = StoreSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Store.objects.none()
        return (
            stores_for(self.request.user)
            .prefetch_related("memberships")
            .order_by("name", "id")
            .distinct()
        )


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "shopify_id",
            "recharge_id",
            "tags",
            "accepts_marketing",
            "created_at",
            "orders_count",
            "subscription_orders_count",
            "total_spent",
            "subscription_aov",
            "first_order_at",
            "last_order_at",
            "active_subscriptions_count",
            "streak",
        ]


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["product_id", "variant_id", "sku", "title", "quantity", "price"]


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "customer",
            "external_id",
            "name",
            "number",
            "total",
            "currency",
            "source",
            "type",
            "is_subscription",
            "is_first_subscription_order",
            "discount_codes",
            "financial_status",
            "processed_at",
            "cancelled_at",
            "lines",
        ]


class SubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Subscription
        fields = [
            "id",
            "customer",
            "recharge_id",
            "product_id",
            "variant_id",
            "sku",
            "product_title",
            "quantity",
            "price",
            "interval_unit",
            "interval_frequency",
            "status",
            "is_prepaid",
            "created_at",
            "cancelled_at",
            "next_charge_date",
            "cancellation_reason",
        ]


class UpcomingOrderSerializer(serializers.ModelSerializer):
    class Meta:
        model = UpcomingOrder
        fields = [
            "id",
            "customer",
            "subscription",
            "external_id",
            "scheduled_at",
            "status",
            "lines",
            "discounts",
            "added_items",
            "total",
        ]


class CustomerFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(field_name="email", lookup_expr="iexact")
    email_contains = django_filters.CharFilter(field_name="email", lookup_expr="icontains")
    tag = django_filters.CharFilter(method="filter_tag", label="Has this tag")
    orders_count_min = IntegerFilter(field_name="orders_count", lookup_expr="gte")
    orders_count_max = IntegerFilter(field_name="orders_count", lookup_expr="lte")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    last_order_after = IsoDateTimeFilter(field_name="last_order_at", lookup_expr="gte")
    last_order_before = IsoDateTimeFilter(field_name="last_order_at", lookup_expr="lt")

    accepts_marketing = StrictBooleanFilter()

    class Meta:
        model = Customer
        fields = ["accepts_marketing"]

    def filter_tag(self, queryset, name, value):
        return queryset.filter(tags__contains=[value])


class OrderFilter(django_filters.FilterSet):
    customer = IntegerFilter(field_name="customer_id")
    email = django_filters.CharFilter(field_name="customer__email", lookup_expr="iexact")
    processed_after = IsoDateTimeFilter(field_name="processed_at", lookup_expr="gte")
    processed_before = IsoDateTimeFilter(field_name="processed_at", lookup_expr="lt")
    total_min = AmountFilter(field_name="total", lookup_expr="gte")
    total_max = AmountFilter(field_name="total", lookup_expr="lte")

    class Meta:
        model = Order
        fields = ["type", "source", "is_subscription", "is_first_subscription_order"]
        filter_overrides = {models.BooleanField: {"filter_class": StrictBooleanFilter}}


class SubscriptionFilter(django_filters.FilterSet):
    customer = IntegerFilter(field_name="customer_id")
    email = django_filters.CharFilter(field_name="customer__email", lookup_expr="iexact")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    next_charge_after = django_filters.DateFilter(field_name="next_charge_date", lookup_expr="gte")
    next_charge_before = django_filters.DateFilter(field_name="next_charge_date", lookup_expr="lt")

    class Meta:
        model = Subscription
        fields = ["status", "product_id", "sku", "is_prepaid"]
        filter_overrides = {models.BooleanField: {"filter_class": StrictBooleanFilter}}


class UpcomingOrderFilter(django_filters.FilterSet):
    customer = IntegerFilter(field_name="customer_id")
    scheduled_after = django_filters.DateFilter(field_name="scheduled_at", lookup_expr="gte")
    scheduled_before = django_filters.DateFilter(field_name="scheduled_at", lookup_expr="lt")

    class Meta:
        model = UpcomingOrder
        fields = ["status"]


class CustomerViewSet(StoreScopedReadOnlyViewSet):
    """A store's customers with their derived figures."""

    model = Customer
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter


class OrderViewSet(StoreScopedReadOnlyViewSet):
    """A store's orders with their lines."""

    model = Order
    serializer_class = OrderSerializer
    filterset_class = OrderFilter

    def scope_queryset(self, queryset):
        return queryset.prefetch_related("lines")


class SubscriptionViewSet(StoreScopedReadOnlyViewSet):
    """A store's subscriptions."""

    model = Subscription
    serializer_class = SubscriptionSerializer
    filterset_class = SubscriptionFilter


class UpcomingOrderViewSet(StoreScopedReadOnlyViewSet):
    """The next scheduled charges of a store's subscription customers."""

    model = UpcomingOrder
    serializer_class = UpcomingOrderSerializer
    filterset_class = UpcomingOrderFilter


def register(router) -> None:
    router.register("customers", CustomerViewSet, basename="customer")
    router.register("orders", OrderViewSet, basename="order")
    router.register("subscriptions", SubscriptionViewSet, basename="subscription")
    router.register("upcoming-orders", UpcomingOrderViewSet, basename="upcoming-order")
