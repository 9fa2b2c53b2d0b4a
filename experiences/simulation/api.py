"""The simulations API: ``POST experiences/<id>/simulations/`` starts one (on the experiences
viewset, see ``experiences.api``), ``GET simulations/<id>/`` reads it, ``POST
simulations/<id>/cancel/`` stops it, ``GET simulations/?experience=<id>`` lists them (newest
first). Editors start and cancel, viewers read; another store's simulation is a 404.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.reverse import reverse

from config.api_filters import IntegerFilter
from config.api_input import StrictInputMixin
from segments.api.base import StoreScopedMixin
from segments.models import Role

from ..models import Simulation
from ..models.simulation import MAX_DAYS, MIN_DAYS
from .run import cancel_simulation
from .schema import SimulationResultSerializer

MAX_VERSION = 2**31 - 1


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
            {"type": "string", "enum": ["draft"]},
        ],
        "description": 'A version number, or "draft".',
    }
)
class VersionField(serializers.Field):
    default_error_messages = {"invalid": 'Give a version number (1 or more) or "draft".'}

    def to_internal_value(self, data):
        if data == "draft":
            return data
        if isinstance(data, int) and not isinstance(data, bool) and 1 <= data <= MAX_VERSION:
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return value


class SimulationInputSerializer(StrictInputMixin, serializers.Serializer):
    version = VersionField(help_text='The version to replay: a number, or "draft".')
    days = serializers.IntegerField(
        min_value=MIN_DAYS,
        max_value=MAX_DAYS,
        help_text=f"Replay the last {MIN_DAYS} to {MAX_DAYS} days of history (or, as a shadow,"
        " run beside the live version for the next that many days).",
    )
    mode = serializers.ChoiceField(
        choices=Simulation.Mode.choices,
        default=Simulation.Mode.REPLAY,
        help_text='"replay" (the past days) or "shadow" (beside the live version on live events '
        "for the next days, the result kept up to date while it runs).",
    )


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Events replayed.")
    total = serializers.IntegerField(help_text="Events to replay.")


class SimulationSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    experience = serializers.IntegerField(source="experience_id", read_only=True)
    version = serializers.IntegerField(source="version_number", read_only=True)
    result = serializers.SerializerMethodField()

    class Meta:
        model = Simulation
        fields = [
            "id",
            "experience",
            "version",
            "version_revision",
            "mode",
            "days",
            "period_start",
            "period_end",
            "status",
            "progress",
            "url",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "refreshed_at",
            "result",
        ]
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, obj) -> dict:
        return {"done": obj.progress_done, "total": obj.progress_total}

    @extend_schema_field(OpenApiTypes.STR)
    def get_url(self, obj) -> str:
        return reverse(
            "simulation-detail",
            kwargs={"store_slug": obj.store.slug, "pk": obj.pk},
            request=self.context.get("request"),
        )

    @extend_schema_field(SimulationResultSerializer(allow_null=True))
    def get_result(self, obj):
        return obj.result


class SimulationFilter(django_filters.FilterSet):
    experience = IntegerFilter(field_name="experience_id")
    status = django_filters.ChoiceFilter(choices=Simulation.Status.choices)

    class Meta:
        model = Simulation
        fields = ["experience", "status"]


class SimulationViewSet(
    StoreScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """A simulation of an experience's version: its progress, and its result once done. The
    list is the store's simulations, newest first (``?experience=`` for one experience's)."""

    model = Simulation
    serializer_class = SimulationSerializer
    filterset_class = SimulationFilter
    required_roles = {"cancel": Role.EDITOR}

    def scope_queryset(self, queryset):
        return queryset.select_related("store").order_by("-created_at", "-id")

    @extend_schema(request=None, responses=SimulationSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, store_slug=None, pk=None):
        """Cancel a queued or running simulation; it keeps nothing but its status."""
        simulation = cancel_simulation(self.get_object())
        return Response(
            SimulationSerializer(simulation, context=self.get_serializer_context()).data,
            status=status.HTTP_200_OK,
        )
