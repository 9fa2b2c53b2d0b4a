"""The published shape of a simulation's result (``Simulation.result``), for the OpenAPI schema.

The result is JSON built by ``result.build_result``; these serializers only describe it, so that
the schema (and a client generated from it) names every figure the builder's drawer shows. A test
builds a real result and checks that its keys are exactly these fields, so the two cannot drift.
"""

from __future__ import annotations

from rest_framework import serializers


class SimulatedPathSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Customers who went down this branch.")
    share = serializers.FloatField(help_text="Their share of the node's customers (0 to 1).")


class SimulatedPeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    days = serializers.IntegerField()


class SimulatedEventsSerializer(serializers.Serializer):
    replayed = serializers.IntegerField(help_text="Events of the history replayed.")
    by_name = serializers.DictField(
        child=serializers.IntegerField(), help_text="Events replayed, per event name."
    )


class SimulatedNodeResultSerializer(serializers.Serializer):
    node = serializers.CharField(help_text="The node's key in the graph.")
    type = serializers.CharField(help_text="The node type.")
    reached = serializers.IntegerField(help_text="Customers who reached the node.")
    steps = serializers.IntegerField(help_text="Steps executed at the node (re-entries count).")
    paths = serializers.DictField(
        child=SimulatedPathSerializer(),
        help_text="Per branch, for nodes with several; empty otherwise.",
    )
    failed = serializers.IntegerField(help_text="Runs that would fail at the node.")
    waiting_at_end = serializers.IntegerField(help_text="Runs still waiting there at the end.")
    emails = serializers.IntegerField(help_text="Emails the node would send.")
    cost = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="What the node's rewards would cost."
    )


class SimulatedSegmentChangeSerializer(serializers.Serializer):
    segment = serializers.IntegerField(help_text="The segment's id.")
    added = serializers.IntegerField()
    removed = serializers.IntegerField()


class SimulatedSegmentChangesSerializer(serializers.Serializer):
    added = serializers.IntegerField(help_text="Customers the experience would add, in all.")
    removed = serializers.IntegerField(help_text="Customers it would remove, in all.")
    by_segment = SimulatedSegmentChangeSerializer(many=True)


class SimulatedRewardsResultSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Rewards that would be granted.")
    cost = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    skipped_by_cap = serializers.IntegerField(help_text="Refused by the store's caps.")
    skipped_by_budget = serializers.IntegerField(help_text="Refused by the experience's budget.")
    skipped_other = serializers.IntegerField()
    by_kind = serializers.DictField(child=serializers.IntegerField())
    budget = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    cost_without_budget = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="What the rewards would cost with no budget."
    )
    budget_reached_at = serializers.DateTimeField(
        allow_null=True, help_text="When the budget would run out, if it would."
    )


class SimulatedWarningSerializer(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=[
            "trigger_not_replayed",
            "trigger_too_broad",
            "over_budget",
            "segment_too_large",
            "wait_not_ending",
            "node_failed",
        ]
    )
    message = serializers.CharField()


class SimulatedSampleSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    email = serializers.CharField(allow_blank=True)
    node = serializers.CharField(help_text="The node the customer reached.")
    at = serializers.DateTimeField(help_text="When, in the replayed history.")
    reason = serializers.CharField(help_text="Why: every step of the customer's path, in order.")


class SimulatedLiveNodeSerializer(serializers.Serializer):
    reached = serializers.IntegerField()
    branches = serializers.DictField(child=SimulatedPathSerializer())


class SimulatedComparisonSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="The live version's number.")
    same_version = serializers.BooleanField(help_text="Whether the simulated version is live.")
    entered = serializers.IntegerField(help_text="Customers the live version took in.")
    nodes = serializers.DictField(child=SimulatedLiveNodeSerializer())


class SimulationResultSerializer(serializers.Serializer):
    period = SimulatedPeriodSerializer()
    events = SimulatedEventsSerializer()
    entered = serializers.IntegerField(help_text="Customers who would enter.")
    runs = serializers.IntegerField(help_text="Runs that would start (holdout excluded).")
    held_out = serializers.IntegerField()
    refused_by_reentry = serializers.IntegerField()
    nodes = SimulatedNodeResultSerializer(many=True)
    segment_changes = SimulatedSegmentChangesSerializer()
    rewards = SimulatedRewardsResultSerializer()
    emails = serializers.IntegerField()
    warnings = SimulatedWarningSerializer(many=True)
    sample = SimulatedSampleSerializer(many=True)
    comparison = SimulatedComparisonSerializer(
        allow_null=True, help_text="The live version's real figures over the same period."
    )
