"""The reward node types (credit, incentive, cross-sell): their schemas, their validation against
the store's incentives and Rewards flag, and bad configuration answered 400 naming the field."""

import pytest

from experiences import actions
from experiences.nodes import REGISTRY
from experiences.validation import GraphEdge, GraphNode, validate_graph, validation_context
from tests.fixtures.factories import make_store

from .helpers import cross_sell_graph, incentive, node, reward_graph, static_segment

pytestmark = pytest.mark.django_db


def check(store, nodes, edges, kind="reward_strategy"):
    return validate_graph(
        [GraphNode(n["key"], n["type"], n["config"]) for n in nodes],
        [GraphEdge(e["source"], e["target"], e["branch"]) for e in edges],
        validation_context(store, kind),
    )


def credit(config):
    return node("credit", "credit", config)


def test_reward_nodes_are_in_the_catalog_with_json_schemas():
    # given the registry, then each reward type needs Rewards and serves a JSON Schema
    for name in ("credit", "incentive", "cross_sell"):
        node_type = REGISTRY[name]
        assert node_type.requires_rewards and node_type.available and node_type.writes
        assert node_type.json_schema()["type"] == "object"
    assert set(REGISTRY["credit"].json_schema()["properties"]) == {
        "amount_type",
        "amount",
        "expires_in_days",
    }
    assert REGISTRY["credit"].json_schema()["properties"]["amount"]["type"] == "string"  # money
    assert "reward" not in REGISTRY
    assert REGISTRY["cross_sell"].kinds == {"upcoming_order_cross_sell"}
    assert REGISTRY["credit"].kinds == {"reward_strategy", "surprise_and_delight"}


@pytest.mark.parametrize(
    "config",
    [
        {"amount_type": "fixed", "amount": "5.00"},
        {"amount_type": "percent", "amount": "3", "expires_in_days": 30},
        {"amount_type": "percent", "amount": "100"},
    ],
)
def test_valid_credit_configurations(store, config):
    report = check(store, *reward_graph(credit(config)))
    assert report.ok, report.as_dict()


@pytest.mark.parametrize(
    "config, field, words",
    [
        ({"amount_type": "fixed", "amount": "-5"}, "amount", "greater than 0"),
        ({"amount_type": "fixed", "amount": "0"}, "amount", "greater than 0"),
        ({"amount_type": "percent", "amount": "100.5"}, "amount", "at most 100"),
        ({"amount_type": "fixed", "amount": "1.005"}, "amount", "decimal places"),
        ({"amount_type": "fixed", "amount": "lots"}, "amount", "decimal"),
        ({"amount_type": "gift", "amount": "5"}, "amount_type", "'fixed' or 'percent'"),
        ({"amount_type": "fixed", "amount": "5", "expires_in_days": 0}, "expires_in_days", "1"),
        ({"amount_type": "fixed"}, "amount", "required"),
        ({"amount_type": "fixed", "amount": "5", "colour": "red"}, "colour", "not permitted"),
    ],
)
def test_bad_credit_configuration_names_the_field(store, config, field, words):
    report = check(store, *reward_graph(credit(config)))
    messages = report.nodes["credit"][field]
    assert any(words.lower() in m.lower() for m in messages), messages


def test_incentive_node_needs_an_active_discount_or_gift_of_this_store(store, other_store):
    # given a gift and a discount here, a cross-sell here, a gift elsewhere and an inactive one
    ok_gift, ok_discount = incentive(store, "free_gift"), incentive(store, "discount")
    wrong_kind = incentive(store, "cross_sell", name="Add-on")
    foreign = incentive(other_store, "free_gift")
    inactive = incentive(store, "free_gift", name="Old gift", active=False)
    for good in (ok_gift, ok_discount):
        report = check(store, *reward_graph(node("give", "incentive", {"incentive_id": good.pk})))
        assert report.ok, report.as_dict()
    # then each bad one is refused on incentive_id, saying why
    expected = {
        wrong_kind.pk: "is a cross sell incentive",
        foreign.pk: "does not exist in this store",
        inactive.pk: "deactivated",
        999999: "does not exist in this store",
    }
    for incentive_id, words in expected.items():
        give = node("give", "incentive", {"incentive_id": incentive_id})
        report = check(store, *reward_graph(give))
        assert words in report.nodes["give"]["incentive_id"][0], report.as_dict()


def test_cross_sell_needs_a_cross_sell_incentive_and_its_three_branches(store):
    offer = incentive(store, "cross_sell")
    report = check(store, *cross_sell_graph(offer), kind="upcoming_order_cross_sell")
    assert report.ok, report.as_dict()
    # a gift is the wrong kind
    gift = incentive(store, "free_gift")
    report = check(store, *cross_sell_graph(gift), kind="upcoming_order_cross_sell")
    assert "needs a cross sell one" in report.nodes["offer"]["incentive_id"][0]
    # a missing branch is named
    nodes, edges = cross_sell_graph(offer)
    edges = [e for e in edges if e["branch"] != "expired"]
    report = check(store, nodes, edges, kind="upcoming_order_cross_sell")
    assert "Connect branch 'expired'." in report.nodes["offer"]["non_field_errors"]


def test_reward_nodes_are_refused_outside_their_kinds(store):
    offer = incentive(store, "cross_sell")
    report = check(store, *reward_graph(node("offer", "cross_sell", {"incentive_id": offer.pk})))
    assert "not offered in reward strategy" in report.nodes["offer"]["type"][0]
    nodes, edges = cross_sell_graph(offer)
    nodes[2] = credit({"amount_type": "fixed", "amount": "5"}) | {"key": "yes"}
    report = check(store, nodes, edges, kind="upcoming_order_cross_sell")
    assert "not offered in upcoming order cross sell" in report.nodes["yes"]["type"][0]


@pytest.mark.parametrize("reward_type", ["credit", "incentive", "cross_sell", "segment"])
def test_a_store_without_rewards_cannot_publish_reward_or_segment_nodes(reward_type):
    # given a store without the Rewards add-on, and a graph with one such node
    store = make_store(rewards_enabled=False)
    kind = "upcoming_order_cross_sell" if reward_type == "cross_sell" else "reward_strategy"
    configs = {
        "credit": {"amount_type": "fixed", "amount": "5"},
        "incentive": {"incentive_id": incentive(store, "free_gift").pk},
        "cross_sell": {"incentive_id": incentive(store, "cross_sell").pk},
        "segment": {"segment_id": static_segment(store, "Tagged").pk},
    }
    if reward_type == "cross_sell":
        nodes, edges = cross_sell_graph(incentive(store, "cross_sell"))
        key = "offer"
    else:
        nodes, edges = reward_graph(node("r", reward_type, configs[reward_type]))
        key = "r"
    experience = actions.create_experience(store, name="X", kind=kind)
    # when it is saved, then it is invalid on the node, saying why
    _, report = actions.save_draft(experience, revision=1, nodes=nodes, edges=edges)
    assert any("need Rewards enabled" in m for m in report.nodes[key]["type"]), report.as_dict()
    # and publishing is refused
    with pytest.raises(actions.GraphInvalid):
        actions.publish_draft(experience)
    experience.refresh_from_db()
    assert experience.status == "draft" and experience.live_version is None


@pytest.mark.parametrize(
    "reward, field",
    [
        (node("r", "credit", {"amount_type": "fixed", "amount": "-5"}), "amount"),
        (node("r", "credit", {"amount_type": "percent", "amount": "150"}), "amount"),
        (node("r", "credit", {"amount_type": "fixed", "amount": "5", "expires_in_days": -1}),
         "expires_in_days"),
    ],
)  # fmt: skip
def test_publishing_bad_reward_configuration_is_a_400_naming_the_field(
    api, owner, store, reward, field
):
    experience = actions.create_experience(store, name="Bad", kind="reward_strategy")
    url = f"/api/v1/stores/{store.slug}/experiences/{experience.pk}"
    nodes, edges = reward_graph(reward)
    saved = api(owner).put(f"{url}/draft/", {"revision": 1, "nodes": nodes, "edges": edges},
                           format="json")  # fmt: skip
    assert saved.status_code == 200 and not saved.json()["valid"]
    assert field in saved.json()["errors"]["nodes"]["r"]
    published = api(owner).post(f"{url}/publish/")
    assert published.status_code == 400
    assert field in published.json()["errors"]["nodes"]["r"]


def test_publishing_an_incentive_of_another_store_is_a_400(api, owner, store, other_store):
    theirs = incentive(other_store, "free_gift")
    experience = actions.create_experience(store, name="Theirs", kind="reward_strategy")
    url = f"/api/v1/stores/{store.slug}/experiences/{experience.pk}"
    nodes, edges = reward_graph(node("r", "incentive", {"incentive_id": theirs.pk}))
    api(owner).put(f"{url}/draft/", {"revision": 1, "nodes": nodes, "edges": edges}, format="json")
    published = api(owner).post(f"{url}/publish/")
    assert published.status_code == 400
    message = published.json()["errors"]["nodes"]["r"]["incentive_id"][0]
    assert "does not exist in this store" in message and theirs.name not in message
