"""The response shapes of the analytics endpoints (for the OpenAPI schema) and their inputs."""

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from ..analytics.figures import WINDOWS


class RefreshStatusSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["idle", "queued", "running", "done", "failed"])
    computed_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True, required=False)
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    restarts = serializers.IntegerField()
    note = serializers.CharField(allow_blank=True, help_text="Set when the sweep restarted it.")
    error = serializers.CharField(allow_blank=True)


class SizeDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    members = serializers.IntegerField(help_text="Members at the end of the day.")
    entered = serializers.IntegerField()
    left = serializers.IntegerField()


class BehaviourBlockSerializer(serializers.Serializer):
    customers = serializers.IntegerField()
    orders = serializers.IntegerField()
    orders_per_customer = serializers.FloatField(allow_null=True)
    aov = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    revenue = serializers.DecimalField(max_digits=16, decimal_places=2)
    repeat_rate = serializers.FloatField(
        allow_null=True, help_text="Share of the customers who ordered who ordered twice or more."
    )
    cancellations = serializers.IntegerField()
    active_subscriptions = serializers.IntegerField()


class BehaviourSerializer(serializers.Serializer):
    before = BehaviourBlockSerializer(help_text="Members, in the window before their join date.")
    after = BehaviourBlockSerializer(help_text="The same members, in the window from joining.")
    rest = BehaviourBlockSerializer(
        allow_null=True, help_text="Customers not in the segment, over the last window days."
    )


class RetentionCohortSerializer(serializers.Serializer):
    cohort = serializers.CharField(help_text="The month they joined, YYYY-MM.")
    size = serializers.IntegerField()
    months = serializers.ListField(
        child=serializers.FloatField(),
        help_text="Share with an order in each month since joining (0 = the joining month).",
    )


class SegmentAnalyticsSerializer(serializers.Serializer):
    segment = serializers.IntegerField()
    window = serializers.IntegerField()
    computed_at = serializers.DateTimeField(allow_null=True)
    refresh = RefreshStatusSerializer()
    size = SizeDaySerializer(many=True)
    behaviour = BehaviourSerializer(allow_null=True)
    retention = RetentionCohortSerializer(many=True)


WINDOW_PARAMETER = OpenApiParameter(
    "window",
    {"type": "integer", "enum": list(WINDOWS)},
    description="Days before and after joining, and of the rest of the store: 30, 60 or 90 (30).",
)


def window_from(request) -> int:
    """The ``window`` query parameter, 30 unless given; anything but 30, 60 or 90 is a 400."""
    raw = request.query_params.get("window", "30")
    if raw not in {str(w) for w in WINDOWS}:
        raise ValidationError({"window": ["Give 30, 60 or 90 (days)."]})
    return int(raw)
