"""Response shape of ``experiences/<id>/analytics/`` for the OpenAPI schema."""

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from segments.api.analytics import RefreshStatusSerializer


class FunnelNodeSerializer(serializers.Serializer):
    node = serializers.CharField()
    type = serializers.CharField()
    reached = serializers.IntegerField(help_text="Customers who reached the node.")
    paths = serializers.DictField(
        child=serializers.IntegerField(), help_text="Customers per branch or A/B path."
    )
    shares = serializers.DictField(child=serializers.FloatField())


class GrantFigureSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    value = serializers.DecimalField(max_digits=16, decimal_places=2)


class RewardsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    grants = serializers.DictField(
        child=GrantFigureSerializer(),
        help_text="issued, applied, redeemed, expired, revoked, skipped",
    )
    cost = serializers.DecimalField(
        max_digits=16, decimal_places=2, help_text="Credit spent and rewards redeemed."
    )
    offers = serializers.DictField(
        child=serializers.IntegerField(), help_text="shown, accepted, declined, expired, revoked"
    )
    revenue_added = serializers.DecimalField(max_digits=16, decimal_places=2)


class GroupFiguresSerializer(serializers.Serializer):
    customers = serializers.IntegerField()
    ordered_rate = serializers.FloatField(allow_null=True)
    orders_per_customer = serializers.FloatField()
    revenue_per_customer = serializers.DecimalField(max_digits=16, decimal_places=2)


class CupedSerializer(serializers.Serializer):
    difference = serializers.FloatField()
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()
    p_value = serializers.FloatField()
    theta = serializers.FloatField()
    narrower_by = serializers.FloatField(help_text="How much narrower the interval is (0.2 = 20%).")
    summary = serializers.CharField()


class ComparisonSerializer(serializers.Serializer):
    metric = serializers.ChoiceField(
        choices=["ordered_rate", "orders_per_customer", "revenue_per_customer"]
    )
    window_days = serializers.IntegerField()
    a = serializers.CharField()
    b = serializers.CharField()
    enough_data = serializers.BooleanField()
    difference = serializers.FloatField(allow_null=True, help_text="b - a")
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    p_value_holm = serializers.FloatField(
        allow_null=True,
        default=None,
        help_text="The p-value Holm-adjusted over the comparisons of this metric and window "
        "(every path against the control); the confidence interval is not adjusted.",
    )
    method = serializers.CharField()
    cuped = CupedSerializer(allow_null=True)
    summary = serializers.CharField(help_text="The result in plain words.")


class OutcomeSerializer(serializers.Serializer):
    window_days = serializers.ListField(child=serializers.IntegerField())
    mode = serializers.ChoiceField(choices=["holdout", "ab_split", "none"])
    groups = serializers.DictField(
        child=serializers.DictField(child=GroupFiguresSerializer()),
        help_text='Per group, per window ("30", "90")',
    )
    comparisons = ComparisonSerializer(many=True)
    control = serializers.CharField(
        allow_null=True, default=None, help_text="The A/B path the others are compared with."
    )
    multiple_comparisons = serializers.CharField(
        allow_null=True,
        default=None,
        help_text="With three paths or more: how many comparisons are made and how (null else).",
    )


class ExperienceAnalyticsSerializer(serializers.Serializer):
    experience = serializers.IntegerField()
    version = serializers.IntegerField(allow_null=True)
    versions = serializers.ListField(child=serializers.IntegerField())
    computed_at = serializers.DateTimeField(allow_null=True)
    refresh = RefreshStatusSerializer()
    funnel = FunnelNodeSerializer(many=True)
    rewards = RewardsSerializer(allow_null=True)
    outcome = OutcomeSerializer(allow_null=True)


VERSION_PARAMETER = OpenApiParameter(
    "version",
    {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    description="A published version's number (the live version, or the latest, unless given).",
)
