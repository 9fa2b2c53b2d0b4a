"""Every validation error of a graph, in the per-node, per-field shape the builder shows."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiences import actions
from experiences.nodes import REGISTRY
from experiences.validation import GraphEdge, GraphNode, validate_graph, validation_context
from segments.models import Segment
from tests.fixtures.factories import make_store

from .helpers import edge, node, static_segment

pytestmark = pytest.mark.django_db

EVERY_ORDER = {"confirm_every_order": True}


def check(store, nodes, edges, kind="reward_strategy"):
    ctx = validation_context(store, kind)
    return validate_graph(
        [GraphNode(n["key"], n["type"], n["config"]) for n in nodes],
        [GraphEdge(e["source"], e["target"], e["branch"]) for e in edges],
        ctx,
    )


def simple(*middle, trigger=EVERY_ORDER):
    nodes = [node("trigger", "trigger", trigger), *middle, node("end", "end")]
    keys = [n["key"] for n in nodes]
    return nodes, [edge(a, b) for a, b in zip(keys, keys[1:], strict=False)]


def test_a_valid_graph_has_no_errors(store):
    report = check(store, *simple())
    assert report.ok, report.as_dict()


def test_no_trigger(store):
    report = check(store, [node("end", "end")], [])
    assert "exactly one trigger" in report.graph[0]


def test_two_triggers(store):
    nodes, edges = simple()
    nodes.append(node("trigger-2", "trigger", EVERY_ORDER))
    report = check(store, nodes, edges)
    assert "has 2" in report.graph[0]


def test_unreachable_node(store):
    nodes, edges = simple()
    nodes.append(node("island", "end"))
    report = check(store, nodes, edges)
    assert report.nodes["island"]["non_field_errors"] == ["Not reachable from the trigger."]


def test_cycle(store):
    nodes = [
        node("trigger", "trigger", EVERY_ORDER),
        node("w1", "wait", {"minutes": 5}),
        node("w2", "wait", {"minutes": 5}),
    ]
    edges = [edge("trigger", "w1"), edge("w1", "w2"), edge("w2", "w1")]
    report = check(store, nodes, edges)
    assert any("cycle" in m for m in report.graph)


def test_unconnected_branch(store):
    nodes, edges = simple(
        node(
            "split",
            "ab_split",
            {"paths": [{"label": "a", "percent": 50}, {"label": "b", "percent": 50}]},
        )
    )
    edges = [e for e in edges if e["source"] != "split"] + [edge("split", "end", "a")]
    report = check(store, nodes, edges)
    assert report.nodes["split"]["non_field_errors"] == ["Connect branch 'b'."]


def test_missing_next_step(store):
    nodes = [node("trigger", "trigger", EVERY_ORDER), node("end", "end")]
    report = check(store, nodes, [])
    assert "Connect its next step." in report.nodes["trigger"]["non_field_errors"]


def test_edge_from_a_branch_the_node_does_not_have(store):
    nodes, edges = simple()
    edges.append(edge("trigger", "end", "bogus"))
    report = check(store, nodes, edges)
    assert "no branch 'bogus'" in report.nodes["trigger"]["non_field_errors"][0]


def test_trigger_without_conditions_needs_confirmation(store):
    report = check(store, *simple(trigger={}))
    assert "at least one condition" in report.nodes["trigger"]["conditions"][0]


def test_condition_on_unknown_field_operator_and_value(store):
    conditions = [
        [
            {"field": "shoe_size", "operator": "eq", "value": 1},
            {"field": "orders_count", "operator": "contains", "value": 1},
            {"field": "orders_count", "operator": "gt", "value": "many"},
            {"field": "segment", "operator": "in", "value": 999999},
        ]
    ]
    report = check(store, *simple(trigger={"conditions": conditions}))
    errors = report.nodes["trigger"]
    assert "Unknown field" in errors["conditions.0.0.field"][0]
    assert "does not apply" in errors["conditions.0.1.operator"][0]
    assert "not a number" in errors["conditions.0.2.value"][0]
    assert "does not exist in this store" in errors["conditions.0.3.value"][0]


def test_too_many_or_blocks_and_and_conditions(store):
    cond = {"field": "orders_count", "operator": "gt", "value": 1}
    report = check(store, *simple(trigger={"conditions": [[cond] * 6] * 11}))
    errors = report.nodes["trigger"]
    assert "At most 10 OR-blocks." in errors["conditions"]
    assert "At most 5 conditions" in errors["conditions.0"][0]


def test_segment_of_another_store_is_refused(store):
    foreign = static_segment(make_store(), "Theirs")
    report = check(store, *simple(node("seg", "segment", {"segment_id": foreign.pk})))
    assert "does not exist in this store" in report.nodes["seg"]["segment_id"][0]


def test_segment_node_needs_a_static_segment(store):
    dynamic = Segment.objects.create(
        store=store, name="Dyn", kind="dynamic", rule="orders_count > 1"
    )
    report = check(store, *simple(node("seg", "segment", {"segment_id": dynamic.pk})))
    assert "dynamic" in report.nodes["seg"]["segment_id"][0]


def test_segment_node_not_offered_in_surprise_and_delight(store):
    seg = static_segment(store, "S")
    report = check(
        store, *simple(node("seg", "segment", {"segment_id": seg.pk})), kind="surprise_and_delight"
    )
    assert "not offered in surprise and delight" in report.nodes["seg"]["type"][0]


def test_segment_node_needs_rewards_enabled(store):
    store.rewards_enabled = False
    store.save()
    seg = static_segment(store, "S")
    report = check(store, *simple(node("seg", "segment", {"segment_id": seg.pk})))
    assert "need Rewards enabled" in report.nodes["seg"]["type"][0]


def test_ab_split_percentages_must_sum_to_100(store):
    split = node(
        "split",
        "ab_split",
        {"paths": [{"label": "a", "percent": 50}, {"label": "b", "percent": 40}]},
    )
    nodes = [node("trigger", "trigger", EVERY_ORDER), split, node("end", "end")]
    edges = [edge("trigger", "split"), edge("split", "end", "a"), edge("split", "end", "b")]
    report = check(store, nodes, edges)
    assert report.nodes["split"]["paths"] == ["Percentages sum to 90, not 100."]


def test_wait_duration_out_of_range(store):
    report = check(store, *simple(node("wait", "wait", {"minutes": 90 * 24 * 60 + 1})))
    assert "minutes" in report.nodes["wait"]


def test_condition_branch_needs_two_to_fifteen_branches(store):
    one = {
        "branches": [
            {
                "label": "x",
                "conditions": [[{"field": "orders_count", "operator": "gt", "value": 1}]],
            }
        ]
    }
    report = check(store, *simple(node("branch", "condition", one)))
    assert "branches" in report.nodes["branch"]


def test_unknown_node_types_and_the_dropped_reward_slot(store):
    report = check(store, *simple(node("x", "teleport"), node("r", "reward")))
    assert "Unknown node type" in report.nodes["x"]["type"][0]
    assert "Unknown node type" in report.nodes["r"]["type"][0]


def test_trigger_event_fixed_by_kind(store):
    report = check(store, *simple(), kind="upcoming_order_cross_sell")
    assert "cannot start on order_processed" in report.nodes["trigger"]["event"][0]


def test_notification_template_syntax_error(store):
    bad = node(
        "mail",
        "notification",
        {"subject": "Hi {{ customer.first_name|nosuchfilter }}", "body": "{% if %}"},
    )
    report = check(store, *simple(bad))
    assert "Template error" in report.nodes["mail"]["subject"][0]
    assert "Template error" in report.nodes["mail"]["body"][0]


def test_exit_criteria_are_validated(store):
    with pytest.raises(Exception) as excinfo:
        actions.create_experience(
            store, name="X", kind="reward_strategy", exit_criteria=["left_segment:999999", "moon"]
        )
    messages = excinfo.value.message_dict["exit_criteria"]
    assert any("unknown exit criterion" in m for m in messages)
    assert any("no such segment" in m for m in messages)


def test_every_schema_is_served_as_json_schema():
    for node_type in REGISTRY.values():
        schema = node_type.json_schema()
        assert schema is None or schema["type"] == "object"


condition_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(alphabet=st.characters(blacklist_characters="\x00")),
    st.lists(st.integers(), max_size=3),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(
        ["orders_count", "email", "segment", "order.total", "tags", "created_date", "x"]
    ),
    operator=st.sampled_from(["eq", "lt", "between", "contains", "in", "is_null", "bogus"]),
    value=condition_values,
)
def test_any_condition_payload_gives_errors_not_exceptions(store, field, operator, value):
    trigger = {"conditions": [[{"field": field, "operator": operator, "value": value}]]}
    report = check(store, *simple(trigger=trigger))
    assert isinstance(report.as_dict(), dict)
