"""The segments API: segments, their members, rule validation and preview, recompute, history."""

import django_filters
from django.db.models.expressions import RawSQL
from django.db.models.fields import BooleanField
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from config.api_filters import IntegerFilter, IsoDateTimeFilter, filtered
from config.api_input import RejectUnknownFieldsMixin
from config.api_schema import VALIDATION_ERROR

from .. import actions
from ..analytics.read import segment_analytics
from ..models import (
    Customer,
    MembershipSource,
    Role,
    Segment,
    SegmentCalculation,
    SegmentHistory,
    SegmentMembership,
)
from ..queries import TooExpensive, bounded, scoped, segment_history, segment_members
from ..rules import RuleError, compile_for_store, validate_rule
from . import analytics as analytics_api
from .base import StoreScopedModelViewSet, StoreScopedReadOnlyViewSet
from .commerce import CustomerSerializer


class SegmentSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "kind",
            "rule",
            "member_count",
            "status",
            "version",
            "last_calculated_at",
            "calculation_started_at",
            "calculation_finished_at",
            "progress_done",
            "progress_total",
            "last_error",
        ]
        read_only_fields = [f for f in fields if f not in {"name", "description", "kind", "rule"}]
        # Uniqueness and rule checks live in the actions, which answer with clear messages.
        validators = []


class SegmentCalculationSerializer(serializers.ModelSerializer):
    class Meta:
        model = SegmentCalculation
        fields = [
            "id",
            "segment",
            "version",
            "trigger",
            "status",
            "rows_total",
            "rows_done",
            "added",
            "removed",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


class MembershipSerializer(serializers.ModelSerializer):
    customer_id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(source="customer.email", read_only=True)

    class Meta:
        model = SegmentMembership
        fields = ["customer_id", "email", "source", "reference", "added_at"]


class HistorySerializer(serializers.ModelSerializer):
    customer_id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(source="customer.email", read_only=True)

    class Meta:
        model = SegmentHistory
        fields = ["id", "customer_id", "email", "action", "source", "reference", "at"]


class MembersChangeSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    emails = serializers.ListField(
        child=serializers.CharField(max_length=320), required=False, max_length=10_000
    )
    customer_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=10_000
    )

    def validate(self, attrs):
        if bool(attrs.get("emails") is not None) == bool(attrs.get("customer_ids") is not None):
            raise ValidationError("Send either 'emails' or 'customer_ids' (one of them).")
        return attrs


MembersAdded = inline_serializer(
    "MembersAdded",
    {
        "added": serializers.ListField(child=serializers.JSONField()),
        "already_members": serializers.ListField(child=serializers.JSONField()),
        "unknown": serializers.ListField(child=serializers.JSONField()),
    },
)
MembersRemoved = inline_serializer(
    "MembersRemoved",
    {
        "removed": serializers.ListField(child=serializers.JSONField()),
        "not_members": serializers.ListField(child=serializers.JSONField()),
        "unknown": serializers.ListField(child=serializers.JSONField()),
    },
)


class RuleRequest(RejectUnknownFieldsMixin, serializers.Serializer):
    rule = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=10_000)


RuleProblemShape = inline_serializer(
    "RuleProblem",
    {
        "line": serializers.IntegerField(),
        "column": serializers.IntegerField(),
        "message": serializers.CharField(),
    },
)
ValidateResult = inline_serializer(
    "RuleValidation",
    {
        "valid": serializers.BooleanField(),
        "errors": serializers.ListField(child=RuleProblemShape, required=False),
    },
)
PreviewResult = inline_serializer(
    "RulePreview",
    {"count": serializers.IntegerField(), "sample": CustomerSerializer(many=True)},
)
RecomputeResult = inline_serializer(
    "RecomputeAccepted",
    {"calculation": SegmentCalculationSerializer(), "status_url": serializers.CharField()},
)
InUseResult = inline_serializer(
    "SegmentInUse",
    {
        "detail": serializers.CharField(),
        "used_by": serializers.ListField(child=serializers.CharField()),
    },
)


class SegmentFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = Segment
        fields = ["kind", "status"]


class MembershipFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(field_name="customer__email", lookup_expr="icontains")
    source = django_filters.ChoiceFilter(choices=MembershipSource.choices)

    class Meta:
        model = SegmentMembership
        fields = ["email", "source"]


class HistoryFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(field_name="customer__email", lookup_expr="iexact")
    customer = IntegerFilter(field_name="customer_id")
    at_after = IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    at_before = IsoDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = SegmentHistory
        fields = ["action", "source", "email", "customer"]


def _rule_errors(exc: RuleError) -> dict:
    return {"valid": False, "errors": [p.as_dict() for p in exc.problems]}


class SegmentConflictError(APIException):
    status_code = status.HTTP_409_CONFLICT


def _refused(exc: Exception) -> APIException:
    if isinstance(exc, RuleError):
        return ValidationError({"rule": [str(p) for p in exc.problems]})
    if isinstance(exc, actions.SegmentConflict):
        return SegmentConflictError(str(exc))
    return ValidationError({"detail": str(exc)})


def _rule_from(request) -> str:
    body = RuleRequest(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data["rule"]


def _too_expensive(limit: int) -> Response:
    message = (
        f"The rule took longer than {limit / 1000:g} s to evaluate; narrow it (fewer OR "
        "branches, a date range, a segment) and try again."
    )
    return Response(
        {"valid": False, "errors": [{"line": 1, "column": 1, "message": message}]},
        status=status.HTTP_400_BAD_REQUEST,
    )


def _matching(store, sql: str, params: list):
    return scoped(Customer, store).filter(RawSQL(sql, params, output_field=BooleanField()))


class SegmentViewSet(StoreScopedModelViewSet):
    """A store's segments: static (members by hand, CSV, API, experiences) or dynamic (a rule)."""

    model = Segment
    serializer_class = SegmentSerializer
    filterset_class = SegmentFilter
    required_roles = {"validate": Role.VIEWER, "preview": Role.VIEWER}

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = actions.create_segment(
                self.store,
                name=data.get("name", ""),
                kind=data.get("kind", Segment.Kind.STATIC),
                rule=data.get("rule", ""),
                description=data.get("description", ""),
                acting_user=self.request.user,
            )
        except (RuleError, actions.SegmentError) as exc:
            raise _refused(exc) from None

    def perform_update(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = actions.update_segment(
                serializer.instance,
                name=data.get("name"),
                description=data.get("description"),
                rule=data.get("rule"),
                kind=data.get("kind"),
                acting_user=self.request.user,
            )
        except (RuleError, actions.SegmentError) as exc:
            raise _refused(exc) from None

    @extend_schema(responses={204: None, 409: InUseResult})
    def destroy(self, request, *args, **kwargs):
        try:
            actions.delete_segment(self.get_object(), acting_user=request.user)
        except actions.SegmentInUse as exc:
            return Response(
                {"detail": "The segment is in use and cannot be deleted.", "used_by": exc.usages},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["GET"],
        parameters=[
            OpenApiParameter("email", str, description="Part of the member's email"),
            OpenApiParameter("source", str, enum=MembershipSource.values),
        ],
        responses=MembershipSerializer(many=True),
    )
    @extend_schema(methods=["POST"], request=MembersChangeSerializer, responses=MembersAdded)
    @extend_schema(
        methods=["DELETE"], request=MembersChangeSerializer, responses={200: MembersRemoved}
    )
    @action(detail=True, methods=["get", "post", "delete"], filterset_class=None)
    def members(self, request, *args, **kwargs):
        segment = self.get_object()
        if request.method == "GET":
            rows = filtered(MembershipFilter, request, segment_members(segment))
            page = self.paginate_queryset(rows)
            return self.get_paginated_response(MembershipSerializer(page, many=True).data)
        body = MembersChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        add = request.method == "POST"
        options = {
            "source": MembershipSource.API,
            "reference": f"api:user:{request.user.pk}",
            "acting_user": request.user,
        }
        try:
            if "emails" in body.validated_data:
                result = actions.change_members_by_email(
                    segment, body.validated_data["emails"], add=add, **options
                )
            else:
                change = (
                    actions.add_customers_to_segment
                    if add
                    else actions.remove_customers_from_segment
                )
                result = change(segment, body.validated_data["customer_ids"], **options)
        except actions.SegmentError as exc:
            raise _refused(exc) from None
        if add:
            answer = {"added": result.changed, "already_members": result.unchanged}
        else:
            answer = {"removed": result.changed, "not_members": result.unchanged}
        return Response({**answer, "unknown": result.unknown})

    @extend_schema(request=RuleRequest, responses={200: ValidateResult, 400: VALIDATION_ERROR})
    @action(detail=False, methods=["post"], filterset_class=None)
    def validate(self, request, *args, **kwargs):
        """Check the rule's grammar, its names in this store, and (bounded) that it runs."""
        body = RuleRequest(data=request.data)
        if not body.is_valid():
            problems = [{"line": 1, "column": 1, "message": "send 'rule' (a text)"}]
            return Response({"valid": False, "errors": problems}, status=400)
        rule = body.validated_data["rule"]
        try:
            validate_rule(rule)
            sql, params = compile_for_store(rule, self.store, alias=Customer._meta.db_table)
            with bounded():  # evaluate it once, as a recompute would
                _matching(self.store, sql, params).count()
        except RuleError as exc:
            return Response(_rule_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        except TooExpensive as exc:
            return _too_expensive(exc.args[0])
        return Response({"valid": True})

    @extend_schema(request=RuleRequest, responses={200: PreviewResult, 400: VALIDATION_ERROR})
    @action(detail=False, methods=["post"], filterset_class=None)
    def preview(self, request, *args, **kwargs):
        """Count the customers the rule matches and show the newest ten (bounded in time)."""
        rule = _rule_from(request)
        try:
            sql, params = compile_for_store(rule, self.store, alias=Customer._meta.db_table)
        except RuleError as exc:
            return Response(_rule_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        matching = _matching(self.store, sql, params)
        try:
            with bounded():
                count = matching.count()
                sample = list(matching.order_by("-id")[:10])
        except TooExpensive as exc:
            return _too_expensive(exc.args[0])
        return Response({"count": count, "sample": CustomerSerializer(sample, many=True).data})

    @extend_schema(request=None, responses={202: RecomputeResult})
    @action(detail=True, methods=["post"], filterset_class=None)
    def recompute(self, request, *args, **kwargs):
        segment = self.get_object()
        try:
            calculation = actions.request_recompute(
                segment, trigger=SegmentCalculation.Trigger.MANUAL
            )
        except actions.SegmentError as exc:
            raise _refused(exc) from None
        url = reverse(
            "segment-calculation-detail",
            kwargs={"store_slug": self.store.slug, "pk": calculation.pk},
        )
        return Response(
            {
                "calculation": SegmentCalculationSerializer(calculation).data,
                "status_url": request.build_absolute_uri(url),
            },
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": url},
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("action", str, enum=SegmentHistory.Action.values),
            OpenApiParameter("source", str, enum=MembershipSource.values),
            OpenApiParameter("email", str, description="The customer's email (exact)"),
            OpenApiParameter("customer", int),
            OpenApiParameter("at_after", OpenApiTypes.DATETIME, description="ISO date-time"),
            OpenApiParameter("at_before", OpenApiTypes.DATETIME, description="ISO date-time"),
        ],
        responses=HistorySerializer(many=True),
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def history(self, request, *args, **kwargs):
        segment = self.get_object()
        rows = filtered(HistoryFilter, request, segment_history(self.store, segment=segment))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(HistorySerializer(page, many=True).data)

    @extend_schema(
        summary="A segment's analytics",
        description=(
            "Size per day with who entered and left, the members' purchasing behaviour before "
            "and after joining (each aligned on their own join date) next to the rest of the "
            "store, and retention by joining month. Read from summary rows that a background "
            "refresh computes (`computed_at`); before/after is not proof of cause."
        ),
        parameters=[analytics_api.WINDOW_PARAMETER],
        responses=analytics_api.SegmentAnalyticsSerializer,
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def analytics(self, request, *args, **kwargs):
        segment = self.get_object()
        window = analytics_api.window_from(request)
        data = segment_analytics(segment, window)
        return Response(analytics_api.SegmentAnalyticsSerializer(data).data)


class SegmentCalculationFilter(django_filters.FilterSet):
    # By id, not a choice among all segments: another store's segment answers like a missing one.
    segment = IntegerFilter(field_name="segment_id")

    class Meta:
        model = SegmentCalculation
        fields = ["segment", "status"]


class SegmentCalculationViewSet(StoreScopedReadOnlyViewSet):
    """Recomputes of a store's segments, with their progress."""

    model = SegmentCalculation
    serializer_class = SegmentCalculationSerializer
    filterset_class = SegmentCalculationFilter


def register(router) -> None:
    router.register("segments", SegmentViewSet, basename="segment")
    router.register(
        "segment-calculations", SegmentCalculationViewSet, basename="segment-calculation"
    )
