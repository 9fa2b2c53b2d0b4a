"""The experiences API: the catalog, experiences, draft graphs, publishing, runs, explain;
roles and isolation between stores."""

import pytest

from experiences import actions
from experiences.models import Experience, Run
from tests.fixtures.factories import make_customer, make_order

from .helpers import edge, milestone_graph, node, order_event, static_segment

pytestmark = pytest.mark.django_db


def base(store):
    return f"/api/v1/stores/{store.slug}"


@pytest.fixture
def experience(store):
    return actions.create_experience(store, name="Milestone", kind="reward_strategy")


@pytest.fixture
def foreign_experience(other_store):
    return actions.create_experience(other_store, name="Theirs", kind="reward_strategy")


def valid_graph(store):
    return milestone_graph(
        static_segment(store, "Test Customers"), static_segment(store, "Reached")
    )


def test_node_type_catalog_for_a_kind(api, viewer, store):
    answer = api(viewer).get(f"{base(store)}/node-types/?kind=surprise_and_delight")
    assert answer.status_code == 200
    types = {t["type"]: t for t in answer.json()["node_types"]}
    assert types["trigger"]["available"] and types["trigger"]["schema"]["type"] == "object"
    assert not types["segment"]["available"]  # not offered in surprise and delight
    assert types["segment"]["requires_rewards"]
    assert "reward" not in types  # the slot is gone: credit and incentive replace it
    assert types["credit"]["available"] and types["credit"]["requires_rewards"]
    assert not types["cross_sell"]["available"]  # only in upcoming-order cross-sell
    assert any(f["name"] == "segment" for f in answer.json()["condition_fields"])


def test_node_type_catalog_follows_rewards_flag(api, viewer, store):
    store.rewards_enabled = False
    store.save()
    answer = api(viewer).get(f"{base(store)}/node-types/?kind=reward_strategy")
    types = {t["type"]: t for t in answer.json()["node_types"]}
    assert not types["segment"]["available"]


def test_node_type_catalog_refuses_unknown_kind(api, viewer, store):
    assert api(viewer).get(f"{base(store)}/node-types/?kind=nope").status_code == 400


def test_editor_creates_and_lists_experiences(api, editor, store):
    answer = api(editor).post(
        f"{base(store)}/experiences/", {"name": "Welcome", "kind": "reward_strategy"}, format="json"
    )
    assert answer.status_code == 201, answer.json()
    assert answer.json()["status"] == "draft"
    listing = api(editor).get(f"{base(store)}/experiences/").json()
    assert [e["name"] for e in listing["results"]] == ["Welcome"]


def test_viewer_cannot_create(api, viewer, store):
    answer = api(viewer).post(
        f"{base(store)}/experiences/", {"name": "X", "kind": "reward_strategy"}, format="json"
    )
    assert answer.status_code == 403


def test_bad_settings_are_400_with_the_field(api, editor, experience, store):
    answer = api(editor).patch(
        f"{base(store)}/experiences/{experience.pk}/",
        {"exit_criteria": ["moon"], "holdout_percent": 101},
        format="json",
    )
    assert answer.status_code == 400
    assert "holdout_percent" in answer.json() or "exit_criteria" in answer.json()


def test_update_settings(api, editor, experience, store):
    answer = api(editor).patch(
        f"{base(store)}/experiences/{experience.pk}/",
        {
            "reentry": "once_per_n_days",
            "reentry_days": 30,
            "exit_criteria": ["subscription_cancelled"],
        },
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    experience.refresh_from_db()
    assert experience.reentry_days == 30


def test_draft_round_trip_keeps_every_edge(api, editor, experience, store):
    nodes, edges = valid_graph(store)
    client = api(editor)
    url = f"{base(store)}/experiences/{experience.pk}/draft/"
    revision = client.get(url).json()["revision"]
    saved = client.put(url, {"revision": revision, "nodes": nodes, "edges": edges}, format="json")
    assert saved.status_code == 200, saved.json()
    assert saved.json()["valid"] is True
    again = client.get(url).json()
    assert again["revision"] == revision + 1
    assert sorted(map(tuple, (e.values() for e in again["edges"]))) == sorted(
        map(tuple, (e.values() for e in edges))
    )


def test_draft_saves_with_errors_and_reports_them(api, editor, experience, store):
    url = f"{base(store)}/experiences/{experience.pk}/draft/"
    nodes = [node("trigger", "trigger", {}), node("end", "end")]
    saved = api(editor).put(url, {"revision": 1, "nodes": nodes, "edges": []}, format="json")
    assert saved.status_code == 200
    body = saved.json()
    assert body["valid"] is False
    assert "conditions" in body["errors"]["nodes"]["trigger"]
    assert len(body["nodes"]) == 2


def test_stale_revision_is_409(api, editor, experience, store):
    url = f"{base(store)}/experiences/{experience.pk}/draft/"
    nodes, edges = valid_graph(store)
    client = api(editor)
    assert (
        client.put(url, {"revision": 1, "nodes": nodes, "edges": edges}, format="json").status_code
        == 200
    )
    stale = client.put(url, {"revision": 1, "nodes": nodes, "edges": edges}, format="json")
    assert stale.status_code == 409
    assert stale.json()["revision"] == 2


def test_malformed_graph_is_400_and_changes_nothing(api, editor, experience, store):
    url = f"{base(store)}/experiences/{experience.pk}/draft/"
    nodes = [node("trigger", "trigger"), node("trigger", "end")]
    answer = api(editor).put(
        url, {"revision": 1, "nodes": nodes, "edges": [edge("trigger", "ghost")]}, format="json"
    )
    assert answer.status_code == 400
    assert any("unique" in m for m in answer.json()["graph"])
    assert api(editor).get(url).json()["revision"] == 1


def test_viewer_cannot_save_a_draft(api, viewer, experience, store):
    url = f"{base(store)}/experiences/{experience.pk}/draft/"
    assert (
        api(viewer).put(url, {"revision": 1, "nodes": [], "edges": []}, format="json").status_code
        == 403
    )


def test_publish_needs_an_owner_and_a_valid_graph(api, owner, editor, experience, store):
    publish_url = f"{base(store)}/experiences/{experience.pk}/publish/"
    assert api(editor).post(publish_url).status_code == 403
    invalid = api(owner).post(publish_url)
    assert invalid.status_code == 400
    assert "trigger" in invalid.json()["errors"]["nodes"]
    nodes, edges = valid_graph(store)
    actions.save_draft(experience, revision=1, nodes=nodes, edges=edges)
    published = api(owner).post(publish_url)
    assert published.status_code == 200, published.json()
    assert published.json()["state"] == "published"
    experience.refresh_from_db()
    assert experience.status == "live"


def test_editing_a_live_experience_starts_a_new_draft(api, owner, experience, store):
    nodes, edges = valid_graph(store)
    actions.save_draft(experience, revision=1, nodes=nodes, edges=edges)
    actions.publish_draft(experience)
    client = api(owner)
    url = f"{base(store)}/experiences/{experience.pk}/draft/"
    draft = client.get(url).json()
    assert draft["revision"] == 0 and draft["state"] == "published"
    saved = client.put(
        url, {"revision": 0, "nodes": draft["nodes"], "edges": draft["edges"]}, format="json"
    )
    assert saved.status_code == 200 and saved.json()["number"] == 2
    versions = client.get(f"{base(store)}/experiences/{experience.pk}/versions/").json()
    assert [(v["number"], v["state"]) for v in versions] == [(2, "draft"), (1, "published")]
    v1 = client.get(f"{base(store)}/experiences/{experience.pk}/versions/1/").json()
    assert len(v1["nodes"]) == 4


def test_pause_resume_archive(api, owner, editor, experience, store):
    nodes, edges = valid_graph(store)
    actions.save_draft(experience, revision=1, nodes=nodes, edges=edges)
    actions.publish_draft(experience)
    client = api(owner)
    url = f"{base(store)}/experiences/{experience.pk}"
    assert api(editor).post(f"{url}/pause/").status_code == 403
    paused = client.post(f"{url}/pause/", {"in_flight": "end"}, format="json")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    again = client.post(f"{url}/pause/")
    assert again.status_code == 409 and "Only a live experience" in again.json()["detail"]
    assert client.post(f"{url}/resume/").json()["status"] == "live"
    assert client.post(f"{url}/archive/").json()["status"] == "archived"


def test_runs_and_explain(api, viewer, store):
    test_customers = static_segment(store, "Test Customers")
    reached = static_segment(store, "Reached")
    experience = actions.create_experience(store, name="M", kind="reward_strategy")
    actions.save_draft(
        experience,
        revision=1,
        nodes=milestone_graph(test_customers, reached)[0],
        edges=milestone_graph(test_customers, reached)[1],
    )
    actions.publish_draft(experience)
    customer = make_customer(store, subscription_orders_count=3)
    from segments.models import SegmentMembership

    SegmentMembership.objects.create(
        store=store, segment=test_customers, customer=customer, source="manual"
    )
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    stranger = make_customer(store, subscription_orders_count=1)
    client = api(viewer)
    url = f"{base(store)}/experiences/{experience.pk}"
    runs = client.get(f"{url}/runs/?customer={customer.pk}&status=completed").json()["results"]
    assert len(runs) == 1 and [s["node"] for s in runs[0]["steps"]] == [
        "trigger",
        "add-reached",
        "email",
        "end",
    ]
    assert client.get(f"{url}/runs/?status=waiting").json()["results"] == []
    why_not = client.get(f"{url}/explain/?customer={stranger.pk}").json()
    assert why_not["would_enter"] is False
    failed = [c for block in why_not["conditions"] for c in block if not c["passed"]]
    assert {c["field"] for c in failed} == {"subscription_orders_count", "segment"}
    entered = client.get(f"{url}/explain/?customer={customer.pk}").json()
    assert entered["runs"][0]["path"][1]["node"] == "add-reached"
    assert client.get(f"{url}/explain/").status_code == 400


@pytest.mark.parametrize(
    "method,suffix",
    [
        ("get", ""),
        ("patch", ""),
        ("get", "draft/"),
        ("put", "draft/"),
        ("post", "publish/"),
        ("post", "pause/"),
        ("post", "resume/"),
        ("post", "archive/"),
        ("delete", ""),
        ("get", "versions/"),
        ("get", "versions/1/"),
        ("get", "runs/"),
        ("get", "explain/?customer=1"),
    ],
)
def test_another_stores_experience_is_404(api, owner, store, foreign_experience, method, suffix):
    url = f"{base(store)}/experiences/{foreign_experience.pk}/{suffix}"
    answer = getattr(api(owner), method)(url, {}, format="json")
    assert answer.status_code == 404


def test_another_stores_customer_is_404_in_explain(api, owner, store, experience, other_store):
    stranger = make_customer(other_store)
    url = f"{base(store)}/experiences/{experience.pk}/explain/?customer={stranger.pk}"
    assert api(owner).get(url).status_code == 404


@pytest.mark.parametrize("path", ["node-types/", "experiences/"])
def test_store_the_user_is_not_in_is_404(api, owner, other_store, path):
    assert api(owner).get(f"/api/v1/stores/{other_store.slug}/{path}").status_code == 404


def test_list_shows_only_this_stores_experiences(api, owner, store, experience, foreign_experience):
    names = [e["name"] for e in api(owner).get(f"{base(store)}/experiences/").json()["results"]]
    assert names == ["Milestone"]
    assert Experience.objects.count() == 2 and not Run.objects.exists()


def test_openapi_schema_lists_the_endpoints(api, owner):
    schema = api(owner).get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert "/api/v1/stores/{store_slug}/experiences/{id}/draft/" in paths
    assert "/api/v1/stores/{store_slug}/node-types/" in paths


def test_delete_archives_and_needs_an_owner(api, owner, editor, experience, store):
    url = f"{base(store)}/experiences/{experience.pk}/"
    assert api(editor).delete(url).status_code == 403
    assert api(owner).delete(url).status_code == 204
    experience.refresh_from_db()
    assert experience.status == Experience.Status.ARCHIVED
