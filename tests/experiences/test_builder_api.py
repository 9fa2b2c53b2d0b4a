"""What the builder needs from the public API: each node's branches, discarding a draft, the
live version's counts per node and per branch, and the builder page itself."""

import pytest

from experiences import actions
from experiences.models import Run, RunStep
from segments.models import Role
from tests.fixtures.factories import make_customer, make_user

from .helpers import edge, milestone_graph, node, publish, static_segment

pytestmark = pytest.mark.django_db


def base(store):
    return f"/api/v1/stores/{store.slug}"


def test_draft_answers_the_branches_each_node_needs(api, editor, store):
    # given a draft with a condition branch, a trigger and an end
    experience = actions.create_experience(store, name="Split", kind="reward_strategy")
    condition = {
        "branches": [
            {
                "label": "big",
                "conditions": [[{"field": "orders_count", "operator": "gt", "value": 5}]],
            },
            {
                "label": "small",
                "conditions": [[{"field": "orders_count", "operator": "lte", "value": 5}]],
            },
        ]
    }
    nodes = [node("trigger", "trigger"), node("check", "condition", condition), node("end", "end")]
    # when the editor saves it
    answer = api(editor).put(
        f"{base(store)}/experiences/{experience.pk}/draft/",
        {"revision": 1, "nodes": nodes, "edges": [edge("trigger", "check")]},
        format="json",
    )
    # then each node's handles are listed: one per branch, ELSE last; none for the end
    assert answer.status_code == 200
    assert answer.json()["branches"] == {
        "trigger": [""],
        "check": ["big", "small", "else"],
        "end": [],
    }


def test_catalog_says_which_types_take_their_branches_from_the_configuration(api, viewer, store):
    answer = api(viewer).get(f"{base(store)}/node-types/?kind=reward_strategy")
    branches = {t["type"]: t["branches"] for t in answer.json()["node_types"]}
    assert branches["trigger"] == [""] and branches["end"] == []
    assert branches["condition"] is None and branches["ab_split"] is None


def test_discarding_the_draft_goes_back_to_the_live_version(api, editor, store):
    # given a published experience and a draft edited since
    experience = publish(
        store, *milestone_graph(static_segment(store, "T"), static_segment(store, "R"))
    )
    draft = actions.draft_for(experience)
    url = f"{base(store)}/experiences/{experience.pk}/draft/"
    # when the editor discards it at a stale revision, then 409 and nothing changes
    assert api(editor).delete(f"{url}?revision={draft.revision + 5}").status_code == 409
    assert experience.versions.filter(state="draft").exists()
    # when they discard it at its revision, then the builder is back on the live graph
    answer = api(editor).delete(f"{url}?revision={draft.revision}")
    assert answer.status_code == 200
    assert answer.json()["number"] == 1 and answer.json()["revision"] == 0
    assert not experience.versions.filter(state="draft").exists()


def test_discarding_without_a_live_version_is_refused(api, editor, store):
    experience = actions.create_experience(store, name="New", kind="reward_strategy")
    answer = api(editor).delete(f"{base(store)}/experiences/{experience.pk}/draft/?revision=1")
    assert answer.status_code == 400
    assert "Nothing is published" in answer.json()["detail"]
    assert (
        api(editor).delete(f"{base(store)}/experiences/{experience.pk}/draft/").status_code == 400
    )


def _run_through(experience, customer, path):
    version = experience.live_version
    run = Run.objects.create(
        store=experience.store, experience=experience, version=version, customer=customer,
        trigger_event_key=f"k-{customer.pk}", trigger_event_name="order_processed",
        chain_origin=f"k-{customer.pk}", status="completed",
    )  # fmt: skip
    for key, branch in path:
        RunStep.objects.create(
            run=run, node=version.nodes.get(key=key), status="done", branch=branch
        )


def test_counts_give_customers_per_node_and_share_per_branch(api, viewer, store):
    # given a live A/B split that three customers went through, two down A and one down B
    graph = (
        [
            node("trigger", "trigger", {"confirm_every_order": True}),
            node(
                "split",
                "ab_split",
                {"paths": [{"label": "A", "percent": 50}, {"label": "B", "percent": 50}]},
            ),
            node("end-a", "end"),
            node("end-b", "end"),
        ],
        [edge("trigger", "split"), edge("split", "end-a", "A"), edge("split", "end-b", "B")],
    )
    experience = publish(store, *graph)
    for branch in ("A", "A", "B"):
        end = "end-a" if branch == "A" else "end-b"
        _run_through(
            experience, make_customer(store), [("trigger", ""), ("split", branch), (end, "")]
        )
    # when the counts are read
    answer = api(viewer).get(f"{base(store)}/experiences/{experience.pk}/counts/")
    # then each node has its customers and the split its shares
    assert answer.status_code == 200
    nodes = answer.json()["nodes"]
    assert answer.json()["version"] == 1
    assert nodes["trigger"] == {"reached": 3, "branches": {}}
    assert nodes["end-a"]["reached"] == 2 and nodes["end-b"]["reached"] == 1
    assert nodes["split"]["branches"] == {
        "A": {"count": 2, "share": 0.6667},
        "B": {"count": 1, "share": 0.3333},
    }


def test_counts_of_an_unpublished_experience_are_empty(api, viewer, store):
    experience = actions.create_experience(store, name="New", kind="reward_strategy")
    answer = api(viewer).get(f"{base(store)}/experiences/{experience.pk}/counts/")
    assert answer.json()["version"] is None and answer.json()["nodes"] == {}
    bad = api(viewer).get(f"{base(store)}/experiences/{experience.pk}/counts/?days=0")
    assert bad.status_code == 400


def test_counts_take_a_constant_number_of_queries(
    api, viewer, store, django_assert_max_num_queries
):
    experience = publish(
        store, *milestone_graph(static_segment(store, "T"), static_segment(store, "R"))
    )
    for _ in range(5):
        _run_through(experience, make_customer(store), [("trigger", ""), ("add-reached", "")])
    with django_assert_max_num_queries(12):
        assert (
            api(viewer).get(f"{base(store)}/experiences/{experience.pk}/counts/").status_code == 200
        )


def test_builder_page_hands_the_client_its_store_role_and_api(client, store):
    editor = make_user(store, Role.EDITOR)
    experience = actions.create_experience(store, name="Mine", kind="reward_strategy")
    client.force_login(editor)
    answer = client.get(f"/app/experiences/{experience.pk}/builder/")
    assert answer.status_code == 200
    text = answer.content.decode()
    assert '"role": "editor"' in text and f'"api": "/api/v1/stores/{store.slug}/"' in text
    assert "experiences/builder/builder.js" in text


def test_builder_page_of_another_store_is_404_and_signed_out_goes_to_login(
    client, store, other_store
):
    theirs = actions.create_experience(other_store, name="Theirs", kind="reward_strategy")
    assert client.get(f"/app/experiences/{theirs.pk}/builder/").url.startswith("/app/login/")
    client.force_login(make_user(store, Role.OWNER))
    assert client.get(f"/app/experiences/{theirs.pk}/builder/").status_code == 404
    assert client.get("/app/experiences/999999/builder/").status_code == 404
