"""Serializers of the rewards API: what it shows of incentives, grants, credit and caps, and
the shapes of the requests that change them (the actions validate the rest)."""

from __future__ import annotations

from rest_framework import serializers

from config.api_input import StrictInputMixin

from .models import CreditEntry, Incentive, RewardGrant, RewardKind, RewardPolicy


class IncentiveSerializer(StrictInputMixin, serializers.ModelSerializer):
    params = serializers.JSONField(
        help_text="Per kind. credit: amount_type (fixed|percent), amount. discount: "
        "discount_type (percent|fixed), value. free_gift: product_id, variant_id, sku, title, "
        "quantity, price. cross_sell: product_id, variant_id, sku, title, quantity, price, "
        "discount_type (percent|fixed|null), discount_value."
    )

    class Meta:
        model = Incentive
        fields = ["id", "name", "kind", "params", "expires_in_days", "active", "created_at"]
        read_only_fields = ["id", "active", "created_at"]


class IncentiveUpdateSerializer(StrictInputMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    params = serializers.JSONField(required=False)
    expires_in_days = serializers.IntegerField(min_value=1, allow_null=True, required=False)
    active = serializers.BooleanField(required=False)


class GrantSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    incentive = serializers.IntegerField(source="incentive_id", read_only=True, allow_null=True)
    experience = serializers.IntegerField(source="experience_id", read_only=True, allow_null=True)
    run = serializers.IntegerField(source="run_id", read_only=True, allow_null=True)
    upcoming_order = serializers.IntegerField(
        source="upcoming_order_id", read_only=True, allow_null=True
    )

    class Meta:
        model = RewardGrant
        fields = [
            "id",
            "customer",
            "incentive",
            "kind",
            "amount",
            "currency",
            "item",
            "status",
            "reason",
            "experience",
            "run",
            "upcoming_order",
            "created_at",
            "expires_at",
        ]
        read_only_fields = fields


class RevokeSerializer(StrictInputMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class ExtendSerializer(StrictInputMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=500)
    expires_at = serializers.DateTimeField(required=False, help_text="The new expiry; or days.")
    days = serializers.IntegerField(min_value=1, max_value=3650, required=False)

    def validate(self, attrs):
        if ("expires_at" in attrs) == ("days" in attrs):
            raise serializers.ValidationError({"expires_at": ["Give either expires_at or days."]})
        return attrs


class CreditEntrySerializer(serializers.ModelSerializer):
    grant = serializers.IntegerField(source="grant_id", read_only=True, allow_null=True)
    order = serializers.IntegerField(source="order_id", read_only=True, allow_null=True)
    acting_user = serializers.CharField(
        source="acting_user.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = CreditEntry
        fields = [
            "id",
            "kind",
            "amount",
            "currency",
            "grant",
            "order",
            "cause",
            "reason",
            "acting_user",
            "expires_at",
            "created_at",
        ]
        read_only_fields = fields


class CreditSerializer(serializers.Serializer):
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    entries = CreditEntrySerializer(many=True)


class AdjustSerializer(StrictInputMixin, serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="Signed: positive adds credit."
    )
    reason = serializers.CharField(max_length=500)
    expires_in_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)


class AdjustResultSerializer(serializers.Serializer):
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    entries = CreditEntrySerializer(many=True)


class KindTotalSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)


class SummarySerializer(serializers.Serializer):
    currency = serializers.CharField()
    outstanding_credit = serializers.DecimalField(max_digits=16, decimal_places=2)
    grants_by_status = serializers.DictField(child=serializers.IntegerField())
    grants_by_kind = serializers.DictField(
        child=KindTotalSerializer(), help_text=f"Keys: {', '.join(RewardKind.values)}."
    )


class PolicySerializer(StrictInputMixin, serializers.ModelSerializer):
    class Meta:
        model = RewardPolicy
        fields = ["max_rewards_per_customer", "max_credit_per_customer", "period_days"]
        extra_kwargs = {
            "max_rewards_per_customer": {"min_value": 0},
            "max_credit_per_customer": {"min_value": 0},
            "period_days": {"min_value": 1, "max_value": 3650, "required": True},
        }
