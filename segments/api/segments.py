"""The segments API: segments, their members, rule validation and preview, recompute, history."""

import django_filters
from django.db import connection
from django.db.models.expressions import RawSQL
from django.db.models.fields import BooleanField
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from .. import actions
from ..models import (
    Customer,
    MembershipSource,
    Role,
    Segment,
    SegmentCalculation,
    SegmentHistory,
    SegmentMembership,
)
from ..queries import scoped, segment_history, segment_members
from ..recompute import NEEDS_POSTGRES
from ..rules import RuleError, compile_for_store, validate_rule
from .base import StoreScopedModelViewSet, StoreScopedReadOnlyViewSet
from .commerce import CustomerSerializer


class SegmentSerializer(serializers.ModelSerializer):
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


class MembersChangeSerializer(serializers.Serializer):
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


MembersChangeResult = inline_serializer(
    "MembersChangeResult",
    {
        "added": serializers.ListField(child=serializers.JSONField()),
        "removed": serializers.ListField(child=serializers.JSONField()),
        "already_members": serializers.ListField(child=serializers.JSONField()),
        "not_members": serializers.ListField(child=serializers.JSONField()),
        "unknown": serializers.ListField(child=serializers.JSONField()),
    },
)
RuleRequest = inline_serializer("RuleRequest", {"rule": serializers.CharField()})
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
    customer = django_filters.NumberFilter(field_name="customer_id")
    at_after = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    at_before = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = SegmentHistory
        fields = ["action", "source", "email", "customer"]


def _filtered(filterset_class, request, queryset):
    filterset = filterset_class(request.query_params, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return filterset.qs


def _rule_errors(exc: RuleError) -> dict:
    return {"valid": False, "errors": [p.as_dict() for p in exc.problems]}


def _refused(exc: Exception) -> ValidationError:
    if isinstance(exc, RuleError):
        return ValidationError({"rule": [str(p) for p in exc.problems]})
    return ValidationError({"detail": str(exc)})


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
    @extend_schema(
        methods=["POST", "DELETE"], request=MembersChangeSerializer, responses=MembersChangeResult
    )
    @action(detail=True, methods=["get", "post", "delete"], filterset_class=None)
    def members(self, request, *args, **kwargs):
        segment = self.get_object()
        if request.method == "GET":
            rows = _filtered(MembershipFilter, request, segment_members(segment))
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

    @extend_schema(request=RuleRequest, responses={200: ValidateResult, 400: ValidateResult})
    @action(detail=False, methods=["post"], filterset_class=None)
    def validate(self, request, *args, **kwargs):
        rule = request.data.get("rule") if isinstance(request.data, dict) else None
        if not isinstance(rule, str):
            return Response(
                {"valid": False, "errors": [{"line": 1, "column": 1, "message": "send 'rule'"}]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            validate_rule(rule)
            compile_for_store(rule, self.store)  # segment names resolve in this store
        except RuleError as exc:
            return Response(_rule_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        return Response({"valid": True})

    @extend_schema(request=RuleRequest, responses={200: PreviewResult, 400: ValidateResult})
    @action(detail=False, methods=["post"], filterset_class=None)
    def preview(self, request, *args, **kwargs):
        rule = request.data.get("rule") if isinstance(request.data, dict) else None
        if not isinstance(rule, str):
            raise ValidationError({"rule": ["Send the rule to preview."]})
        if connection.vendor != "postgresql":
            raise ValidationError({"detail": NEEDS_POSTGRES.format(vendor=connection.vendor)})
        try:
            sql, params = compile_for_store(rule, self.store, alias=Customer._meta.db_table)
        except RuleError as exc:
            return Response(_rule_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        matching = scoped(Customer, self.store).filter(
            RawSQL(sql, params, output_field=BooleanField())
        )
        sample = matching.order_by("-id")[:10]
        return Response(
            {"count": matching.count(), "sample": CustomerSerializer(sample, many=True).data}
        )

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
            OpenApiParameter("at_after", str, description="ISO date-time"),
            OpenApiParameter("at_before", str, description="ISO date-time"),
        ],
        responses=HistorySerializer(many=True),
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def history(self, request, *args, **kwargs):
        segment = self.get_object()
        rows = _filtered(HistoryFilter, request, segment_history(self.store, segment=segment))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(HistorySerializer(page, many=True).data)


class SegmentCalculationViewSet(StoreScopedReadOnlyViewSet):
    """Recomputes of a store's segments, with their progress."""

    model = SegmentCalculation
    serializer_class = SegmentCalculationSerializer
    filterset_fields = ["segment", "status"]


def register(router) -> None:
    router.register("segments", SegmentViewSet, basename="segment")
    router.register(
        "segment-calculations", SegmentCalculationViewSet, basename="segment-calculation"
    )
