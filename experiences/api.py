"""The experiences API under ``/api/v1/stores/<slug>/``: the node-type catalog, experiences,
their draft graph, publishing, pausing, versions, runs and the diagnostic answer.

Viewers read; editors create experiences and edit drafts; owners publish, pause, resume, archive.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.response import Response

from config.api_filters import IntegerFilter, filtered
from segments.api.base import StoreFeature, StoreScopedMixin
from segments.models import Customer, Role
from segments.queries import scoped

from . import actions, diagnostics
from .actions.authoring import graph_of, load_graph_rows, validate_version
from .analytics import experience_analytics, version_for
from .analytics_serializers import VERSION_PARAMETER, ExperienceAnalyticsSerializer
from .blueprints import blueprints_for
from .conditions import field_catalog
from .models import Experience, ExperienceVersion, Run
from .nodes import REGISTRY
from .queries import experiences_for, live_counts, runs_for
from .serializers import (
    DraftInputSerializer,
    DraftSerializer,
    ExperienceCreateSerializer,
    ExperienceSerializer,
    ExperienceTemplateSerializer,
    ExperienceUpdateSerializer,
    GraphCountsSerializer,
    GraphSerializer,
    NodeTypeCatalogSerializer,
    PauseSerializer,
    RunSerializer,
    VersionListSerializer,
)
from .simulation.api import SimulationInputSerializer, SimulationSerializer, SimulationViewSet
from .simulation.run import start_simulation
from .validation import node_branches


def _draft_answer(version: ExperienceVersion, report=None) -> dict:
    """The builder's view of a version: its graph, its errors and each node's branches."""
    load_graph_rows(version)
    nodes, _edges = graph_of(version)
    report = report or validate_version(version)
    data = DraftSerializer(version).data
    if version.state != ExperienceVersion.State.DRAFT:
        data["revision"] = 0  # no draft yet: saving revision 0 starts one from this
    return {
        **data,
        "errors": report.as_dict(),
        "valid": report.ok,
        "branches": node_branches(nodes),
    }


def _default_branches(node_type) -> list[str] | None:
    """The branches of a new node of this type, or None when its configuration decides them."""
    config, errors = node_type.parse({})
    if not errors:
        return node_type.branches(config)
    # Not configured yet: a type that needs branches from its configuration answers none.
    return node_type.branches(None) or None


def _refused(exc: actions.ExperienceError) -> Response:
    """Answer a refused change: 403 without experiences, 409 for the state, else 400."""
    if isinstance(exc, actions.ExperiencesDisabled):
        code = status.HTTP_403_FORBIDDEN
    elif isinstance(exc, actions.StaleRevision | actions.StateConflict):
        code = status.HTTP_409_CONFLICT
    else:
        code = status.HTTP_400_BAD_REQUEST
    return Response(exc.detail, status=code)


class ExperienceRefused(APIException):
    """Raise a refused change from inside DRF's mixins, with the code ``_refused`` gives."""

    def __init__(self, exc: actions.ExperienceError):
        answer = _refused(exc)
        self.status_code = answer.status_code
        super().__init__(answer.data)


class NodeTypeViewSet(StoreScopedMixin, viewsets.ViewSet):
    """The node types the builder may offer in this store, each with its configuration schema."""

    list_answers_one_object = True  # the catalog: {"node_types": [...], "condition_fields": [...]}

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, enum=Experience.Kind.values)],
        responses=NodeTypeCatalogSerializer,
    )
    def list(self, request, store_slug=None):
        kind = request.query_params.get("kind")
        if kind is not None and kind not in Experience.Kind.values:
            raise ValidationError({"kind": [f"Choose one of {', '.join(Experience.Kind.values)}."]})
        items = []
        for node_type in REGISTRY.values():
            offered = (
                node_type.offered(self.store, kind)
                if kind
                else any(node_type.offered(self.store, k) for k in node_type.kinds)
            )
            items.append(
                {
                    "type": node_type.type,
                    "label": node_type.label,
                    "description": node_type.description,
                    "allowed_kinds": sorted(node_type.kinds),
                    "requires_rewards": node_type.requires_rewards,
                    "available": offered,
                    "schema": node_type.json_schema(),
                    "branches": _default_branches(node_type),
                }
            )
        return Response({"node_types": items, "condition_fields": field_catalog()})


BAD_REQUEST = OpenApiResponse(
    OpenApiTypes.OBJECT, description='What is wrong, keyed by field: {"<field>": ["..."]}.'
)


class ExperienceTemplateViewSet(StoreScopedMixin, viewsets.ViewSet):
    """Templates to start an experience from: ``POST experiences/`` with ``template``."""

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, enum=Experience.Kind.values)],
        responses={200: ExperienceTemplateSerializer(many=True), 400: BAD_REQUEST},
    )
    def list(self, request, store_slug=None):
        kind = request.query_params.get("kind")
        if kind is not None and kind not in Experience.Kind.values:
            raise ValidationError({"kind": [f"Choose one of {', '.join(Experience.Kind.values)}."]})
        items = [
            {
                "key": b.key,
                "kind": b.kind,
                "name": b.name,
                "description": b.description,
                "requires_rewards": b.requires_rewards,
                "available": self.store.rewards_enabled or not b.requires_rewards,
            }
            for b in blueprints_for(kind)
        ]
        return Response(ExperienceTemplateSerializer(items, many=True).data)


class RunFilter(django_filters.FilterSet):
    customer = IntegerFilter(field_name="customer_id")
    status = django_filters.ChoiceFilter(choices=Run.Status.choices)

    class Meta:
        model = Run
        fields = ["customer", "status"]


class ExperienceViewSet(
    StoreScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Experiences of the store; their graph is edited through ``draft/``."""

    model = Experience
    serializer_class = ExperienceSerializer
    filterset_fields = ["status", "kind"]
    # Without experiences enabled, a store reads, pauses and archives, but builds nothing.
    required_features = {
        action: StoreFeature.EXPERIENCES
        for action in (
            "create",
            "update",
            "partial_update",
            "draft",
            "publish",
            "resume",
            "simulations",
        )
    }
    required_roles = {
        "publish": Role.OWNER,
        "pause": Role.OWNER,
        "resume": Role.OWNER,
        "archive": Role.OWNER,
        "destroy": Role.OWNER,
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Experience.objects.none()
        return experiences_for(self.store).order_by("name", "id")

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return ExperienceUpdateSerializer
        if self.action == "create":
            return ExperienceCreateSerializer
        return ExperienceSerializer

    @extend_schema(
        request=ExperienceCreateSerializer,
        responses={201: ExperienceSerializer, 400: BAD_REQUEST},
    )
    def create(self, request, *args, **kwargs):
        """Create an experience: empty (a trigger) for a ``kind``, or from a ``template``."""
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        template = data.pop("template", None)
        try:
            if template is not None:
                data.pop("kind", None)
                experience = actions.create_from_template(
                    self.store, name=data.pop("name"), template=template, **data
                )
            else:
                experience = actions.create_experience(
                    self.store, name=data.pop("name"), kind=data.pop("kind"), **data
                )
        except actions.ExperienceError as exc:
            raise ExperienceRefused(exc) from exc
        serializer.instance = experience

    def perform_update(self, serializer):
        try:
            serializer.instance = actions.update_experience(
                serializer.instance, **serializer.validated_data
            )
        except actions.ExperienceError as exc:
            raise ExperienceRefused(exc) from exc

    def perform_destroy(self, instance):
        """DELETE archives: runs and versions are history and stay."""
        actions.archive_experience(instance)

    @extend_schema(request=None, responses=ExperienceSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request, store_slug=None, pk=None):
        experience = actions.archive_experience(self.get_object())
        return Response(ExperienceSerializer(experience).data)

    @extend_schema(methods=["GET"], responses=DraftSerializer)
    @extend_schema(methods=["PUT"], request=DraftInputSerializer, responses=DraftSerializer)
    @extend_schema(
        methods=["DELETE"],
        parameters=[OpenApiParameter("revision", int, required=True)],
        responses={200: DraftSerializer},
        description="Discard the draft (at this revision) and go back to the live version.",
    )
    @action(detail=True, methods=["get", "put", "delete"])
    def draft(self, request, store_slug=None, pk=None):
        """The draft graph; PUT replaces it whole, based on the revision it was read at."""
        experience = self.get_object()
        if request.method == "GET":
            version = experience.versions.filter(state="draft").first() or experience.live_version
            if version is None:
                raise NotFound("This experience has no graph.")
            return Response(_draft_answer(version))
        if request.method == "DELETE":
            raw = request.query_params.get("revision", "")
            if not raw.isdigit():
                raise ValidationError({"revision": ["Give the draft's revision."]})
            try:
                version = actions.discard_draft(experience, revision=int(raw))
            except actions.ExperienceError as exc:
                return _refused(exc)
            return Response(_draft_answer(version))
        payload = DraftInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            version, report = actions.save_draft(
                experience,
                revision=payload.validated_data["revision"],
                nodes=payload.validated_data["nodes"],
                edges=payload.validated_data["edges"],
            )
        except actions.ExperienceError as exc:
            return _refused(exc)
        return Response(_draft_answer(version, report))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "days",
                {"type": "integer", "minimum": 1, "maximum": 365},
                description="Look back this many days, 1 to 365 (30).",
            )
        ],
        responses=GraphCountsSerializer,
    )
    @action(detail=True, methods=["get"])
    def counts(self, request, store_slug=None, pk=None):
        """Customers who reached each node of the live version lately, and each branch's share."""
        raw = request.query_params.get("days", "30")
        if not raw.isdigit() or not 1 <= int(raw) <= 365:
            raise ValidationError({"days": ["Give a number of days from 1 to 365."]})
        return Response(live_counts(self.get_object(), days=int(raw)))

    @extend_schema(
        summary="An experience's analytics",
        description=(
            "The funnel of a version (customers per node, per branch and A/B path), its "
            "rewards, and its outcome against the holdout or between A/B paths in the 30 and "
            "90 days after entering: rates by a two-proportion z test, means by Welch's t-test "
            "with CUPED, each with the difference (b - a) and its 95% CI. Read from summaries "
            "(`computed_at`)."
        ),
        parameters=[VERSION_PARAMETER],
        responses=ExperienceAnalyticsSerializer,
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def analytics(self, request, store_slug=None, pk=None):
        experience = self.get_object()
        raw = request.query_params.get("version")
        number = None
        if raw is not None:
            if not raw.isdigit() or not 1 <= int(raw) <= 2**31 - 1:
                raise ValidationError({"version": ["Give a version number (1 or more)."]})
            number = int(raw)
        version = version_for(experience, number)
        if number is not None and (
            version is None or version.state == ExperienceVersion.State.DRAFT
        ):
            raise NotFound("No such published version.")
        return Response(
            ExperienceAnalyticsSerializer(experience_analytics(experience, version)).data
        )

    @extend_schema(
        summary="Simulate a version on the store's history",
        description=(
            "Replay the last `days` days of orders and subscriptions through a version (or the "
            "draft) as if it had been live, recording what it would do and changing nothing. "
            "Answers 202 with the queued simulation; read its progress and result at `url`. "
            "A draft with validation errors is refused (400) with them."
        ),
        request=SimulationInputSerializer,
        responses={202: SimulationSerializer, 400: BAD_REQUEST},
    )
    @action(detail=True, methods=["post"])
    def simulations(self, request, store_slug=None, pk=None):
        experience = self.get_object()
        payload = SimulationInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            simulation = start_simulation(
                experience,
                version=payload.validated_data["version"],
                days=payload.validated_data["days"],
                acting_user=request.user,
            )
        except actions.ExperienceError as exc:
            return _refused(exc)
        data = SimulationSerializer(simulation, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=GraphSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, store_slug=None, pk=None):
        """Publish the draft (owners). 400 with the per-node errors when the graph is invalid."""
        try:
            version = actions.publish_draft(self.get_object(), acting_user=request.user)
        except actions.ExperienceError as exc:
            return _refused(exc)
        return Response(GraphSerializer(version).data)

    @extend_schema(request=PauseSerializer, responses=ExperienceSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, store_slug=None, pk=None):
        payload = PauseSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            experience = actions.pause_experience(
                self.get_object(), in_flight=payload.validated_data.get("in_flight")
            )
        except actions.ExperienceError as exc:
            return _refused(exc)
        return Response(ExperienceSerializer(experience).data)

    @extend_schema(request=None, responses=ExperienceSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, store_slug=None, pk=None):
        try:
            experience = actions.resume_experience(self.get_object())
        except actions.ExperienceError as exc:
            return _refused(exc)
        return Response(ExperienceSerializer(experience).data)

    @extend_schema(responses=VersionListSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def versions(self, request, store_slug=None, pk=None):
        experience = self.get_object()
        versions = experience.versions.select_related("published_by").order_by("-number")
        return Response(VersionListSerializer(versions, many=True).data)

    @extend_schema(responses=GraphSerializer)
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<number>\d+)")
    def version(self, request, store_slug=None, pk=None, number=None):
        version = self.get_object().versions.filter(number=number).first()
        if version is None:
            raise NotFound("No such version.")
        return Response(GraphSerializer(version).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("customer", int),
            OpenApiParameter("status", str, enum=Run.Status.values),
        ],
        responses=RunSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def runs(self, request, store_slug=None, pk=None):
        experience = self.get_object()
        runs = filtered(RunFilter, request, runs_for(experience))
        page = self.paginate_queryset(runs.order_by("-started_at", "-id"))
        return self.get_paginated_response(RunSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("customer", int, required=True)],
        responses=OpenApiTypes.OBJECT,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def explain(self, request, store_slug=None, pk=None):
        """Why the customer did or did not enter, check by check, and the path of each run."""
        experience = self.get_object()
        raw = request.query_params.get("customer", "")
        try:
            customer_id = int(raw)
        except ValueError:
            raise ValidationError({"customer": ["Give a customer id."]}) from None
        customer = scoped(Customer, self.store).filter(pk=customer_id).first()
        if customer is None:
            raise NotFound("No such customer in this store.")
        return Response(diagnostics.explain(experience, customer))

    def filter_queryset(self, queryset):
        if self.action in ("list",):
            return super().filter_queryset(queryset)
        return queryset


def register(router) -> None:
    router.register("node-types", NodeTypeViewSet, basename="node-type")
    router.register("experiences", ExperienceViewSet, basename="experience")
    router.register("simulations", SimulationViewSet, basename="simulation")
    router.register(
        "experience-templates", ExperienceTemplateViewSet, basename="experience-template"
    )
