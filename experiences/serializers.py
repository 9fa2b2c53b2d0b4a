"""Serializers of the experiences API: experiences, graphs (draft and versions), runs, catalog."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from config.api_input import RejectUnknownFieldsMixin

from .blueprints import BLUEPRINTS
from .models import Edge, Experience, ExperienceVersion, Node, Run, RunStep


class ExperienceSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    live_version = serializers.SerializerMethodField(
        help_text="The number of the live version; null until the first publish."
    )
    holdout_percent = serializers.IntegerField(min_value=0, max_value=100, required=False)
    exit_criteria = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        help_text="OR-blocks of AND-conditions; a customer meeting them leaves the experience.",
    )
    reward_budget = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0"),
        required=False,
        allow_null=True,
        help_text="The most this experience may give in total; empty for no budget (Rewards).",
    )

    class Meta:
        model = Experience
        fields = [
            "id",
            "name",
            "kind",
            "status",
            "live_version",
            "reentry",
            "reentry_days",
            "exit_criteria",
            "holdout_percent",
            "pause_behaviour",
            "reward_budget",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "live_version", "created_at", "updated_at"]

    def get_live_version(self, experience: Experience) -> int | None:
        version = experience.live_version
        return version.number if version is not None else None

    def validate_holdout_percent(self, value):
        if value > 100:
            raise serializers.ValidationError("Give a percentage from 0 to 100.")
        return value

    def validate_exit_criteria(self, value):
        if not isinstance(value, list):
            raise serializers.ValidationError("Exit criteria are a list.")
        return value


class ExperienceCreateSerializer(ExperienceSerializer):
    """Create an empty experience of a ``kind``, or one from a ``template`` (its kind)."""

    template = serializers.ChoiceField(
        choices=sorted(BLUEPRINTS),
        required=False,
        write_only=True,
        help_text="A key from experience-templates/: the draft starts as that template's graph.",
    )

    class Meta(ExperienceSerializer.Meta):
        fields = [*ExperienceSerializer.Meta.fields, "template"]
        extra_kwargs = {"kind": {"required": False}}

    def validate(self, attrs):
        template = attrs.get("template")
        kind = attrs.get("kind")
        if template is None and kind is None:
            raise serializers.ValidationError({"kind": ["Give a kind, or a template."]})
        if template is not None and kind is not None and kind != BLUEPRINTS[template].kind:
            raise serializers.ValidationError(
                {"kind": [f"Template {template!r} makes a {BLUEPRINTS[template].kind} experience."]}
            )
        return attrs


class ExperienceTemplateSerializer(serializers.Serializer):
    key = serializers.CharField()
    kind = serializers.ChoiceField(choices=Experience.Kind.choices)
    name = serializers.CharField()
    description = serializers.CharField()
    requires_rewards = serializers.BooleanField()
    available = serializers.BooleanField(help_text="False when the store lacks Rewards.")


class ExperienceUpdateSerializer(ExperienceSerializer):
    class Meta(ExperienceSerializer.Meta):
        read_only_fields = [*ExperienceSerializer.Meta.read_only_fields, "kind"]


class PositionSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    x = serializers.FloatField(default=0)
    y = serializers.FloatField(default=0)


class GraphNodeSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    key = serializers.SlugField(max_length=64)
    type = serializers.CharField(max_length=32)
    config = serializers.DictField(default=dict)
    position = PositionSerializer(required=False)

    def validate_config(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("The configuration is an object.")
        return value


class GraphEdgeSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    source = serializers.SlugField(max_length=64)
    target = serializers.SlugField(max_length=64)
    branch = serializers.CharField(max_length=64, allow_blank=True, default="")


class DraftInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    revision = serializers.IntegerField(min_value=0)
    nodes = GraphNodeSerializer(many=True, max_length=200)
    edges = GraphEdgeSerializer(many=True, max_length=400)


class GraphSerializer(serializers.Serializer):
    """A version's graph in the builder's shape."""

    number = serializers.IntegerField()
    state = serializers.CharField()
    revision = serializers.IntegerField()
    published_at = serializers.DateTimeField(allow_null=True)
    nodes = serializers.SerializerMethodField()
    edges = serializers.SerializerMethodField()

    def get_nodes(self, version: ExperienceVersion) -> list[dict]:
        return [
            {
                "key": n.key,
                "type": n.type,
                "config": n.config,
                "position": {"x": n.position_x, "y": n.position_y},
            }
            for n in _nodes(version)
        ]

    def get_edges(self, version: ExperienceVersion) -> list[dict]:
        keys = {n.pk: n.key for n in _nodes(version)}
        return [
            {"source": keys[e.source_id], "target": keys[e.target_id], "branch": e.branch}
            for e in _edges(version)
        ]


def _edges(version: ExperienceVersion) -> list[Edge]:
    cached = getattr(version, "_graph_edges", None)
    if cached is None:
        cached = list(Edge.objects.filter(version=version).order_by("id"))
    return cached


def _nodes(version: ExperienceVersion) -> list[Node]:
    cached = getattr(version, "_graph_nodes", None)
    if cached is None:
        cached = list(Node.objects.filter(version=version).order_by("id"))
        version._graph_nodes = cached
    return cached


class DraftSerializer(GraphSerializer):
    errors = serializers.JSONField(read_only=True, required=False)
    valid = serializers.BooleanField(read_only=True, required=False)
    branches = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField(allow_blank=True)),
        read_only=True,
        required=False,
        help_text='Each node key: the branch labels it needs, one outgoing edge each ("" is the '
        "single next step). The builder draws one handle per branch.",
    )


class BranchCountSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    share = serializers.FloatField(help_text="Of the customers who left the node, 0 to 1.")


class NodeCountSerializer(serializers.Serializer):
    reached = serializers.IntegerField(help_text="Distinct customers who reached the node.")
    branches = serializers.DictField(child=BranchCountSerializer())


class GraphCountsSerializer(serializers.Serializer):
    version = serializers.IntegerField(allow_null=True, help_text="The live version counted.")
    days = serializers.IntegerField()
    since = serializers.DateTimeField()
    nodes = serializers.DictField(child=NodeCountSerializer())


class VersionListSerializer(serializers.ModelSerializer):
    published_by = serializers.StringRelatedField(allow_null=True)

    class Meta:
        model = ExperienceVersion
        fields = [
            "number",
            "state",
            "revision",
            "created_at",
            "published_at",
            "published_by",
            "retired_at",
        ]


class RunStepSerializer(serializers.ModelSerializer):
    node = serializers.CharField(source="node.key")
    type = serializers.CharField(source="node.type")

    class Meta:
        model = RunStep
        fields = [
            "node",
            "type",
            "status",
            "attempt",
            "rotation",
            "scheduled_at",
            "due_at",
            "wait_for",
            "branch",
            "result",
            "error",
            "finished_at",
        ]


class RunSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number")
    current_node = serializers.CharField(source="current_node.key", default=None, allow_null=True)
    steps = RunStepSerializer(many=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "customer",
            "version",
            "status",
            "rotation",
            "trigger_event_key",
            "trigger_event_name",
            "chain_origin",
            "depth",
            "current_node",
            "exit_reason",
            "started_at",
            "finished_at",
            "steps",
        ]


class NodeTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    allowed_kinds = serializers.ListField(child=serializers.CharField())
    requires_rewards = serializers.BooleanField()
    available = serializers.BooleanField(help_text="Offered for this store (and kind, if given).")
    schema = serializers.JSONField(allow_null=True)
    branches = serializers.ListField(
        child=serializers.CharField(allow_blank=True),
        allow_null=True,
        help_text="The branches of a new node of this type; null when its configuration "
        "decides them (condition branches, A/B paths).",
    )


class ConditionFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    type = serializers.CharField()


class NodeTypeCatalogSerializer(serializers.Serializer):
    """The ``node-types/`` answer: the node types, and the fields conditions may test."""

    node_types = NodeTypeSerializer(many=True)
    condition_fields = ConditionFieldSerializer(many=True)


class PauseSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    in_flight = serializers.ChoiceField(
        choices=Experience.PauseBehaviour.choices,
        required=False,
        help_text="finish: runs in flight go on; end: they are ended now.",
    )
