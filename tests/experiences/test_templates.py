"""Experience templates: listed per kind, an experience created from each is valid and publishes
at once; bad requests are 400s naming the field; the demo store gets one live one per kind."""

import pytest

from experiences.blueprints import BLUEPRINTS
from experiences.models import Experience
from rewards.models import Incentive
from segments.demo import seed_demo
from tests.fixtures.factories import make_store, make_user

pytestmark = pytest.mark.django_db

ISSUE_TEMPLATES = {
    "credit_after_purchase": "reward_strategy",
    "milestone_gift": "reward_strategy",
    "streak_reward": "reward_strategy",
    "ab_test_reward": "reward_strategy",
    "tag_milestone_customers": "reward_strategy",
    "surprise_free_gift": "surprise_and_delight",
    "cross_sell_before_charge": "upcoming_order_cross_sell",
}


def base(store):
    return f"/api/v1/stores/{store.slug}"


def test_templates_are_listed_per_kind(api, viewer, store):
    everything = api(viewer).get(f"{base(store)}/experience-templates/")
    assert everything.status_code == 200
    assert {t["key"]: t["kind"] for t in everything.json()} == ISSUE_TEMPLATES
    assert all(t["name"] and t["description"] and t["available"] for t in everything.json())
    cross = api(viewer).get(f"{base(store)}/experience-templates/?kind=upcoming_order_cross_sell")
    assert [t["key"] for t in cross.json()] == ["cross_sell_before_charge"]
    bad = api(viewer).get(f"{base(store)}/experience-templates/?kind=nope")
    assert bad.status_code == 400 and "kind" in bad.json()


@pytest.mark.parametrize("key", sorted(ISSUE_TEMPLATES))
def test_experience_from_each_template_is_valid_and_publishes(api, owner, store, key):
    # when an owner creates an experience from the template
    created = api(owner).post(
        f"{base(store)}/experiences/", {"name": f"From {key}", "template": key}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["kind"] == ISSUE_TEMPLATES[key]
    url = f"{base(store)}/experiences/{created.json()['id']}"
    # then its draft is the template's graph, without errors, and it publishes as it is
    draft = api(owner).get(f"{url}/draft/").json()
    assert draft["valid"], draft["errors"]
    assert len(draft["nodes"]) >= 3
    published = api(owner).post(f"{url}/publish/")
    assert published.status_code == 200, published.json()
    assert Experience.objects.get(pk=created.json()["id"]).status == "live"


def test_template_incentives_are_created_once_and_reused(api, editor, store):
    for n in range(2):
        answer = api(editor).post(
            f"{base(store)}/experiences/",
            {"name": f"Gift {n}", "template": "milestone_gift"},
            format="json",
        )
        assert answer.status_code == 201
    assert Incentive.objects.filter(store=store, kind="free_gift").count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "X", "template": "nope"}, "template"),
        ({"name": "X", "template": "milestone_gift", "kind": "upcoming_order_cross_sell"}, "kind"),
        ({"name": "X"}, "kind"),
        ({"template": "milestone_gift"}, "name"),
        ({"name": "X", "kind": "reward_strategy", "reward_budget": "-1"}, "reward_budget"),
    ],
)
def test_bad_create_requests_name_the_field(api, editor, store, body, field):
    answer = api(editor).post(f"{base(store)}/experiences/", body, format="json")
    assert answer.status_code == 400
    assert field in answer.json(), answer.json()
    assert not Experience.objects.exists()


def test_store_without_rewards_cannot_start_from_a_reward_template(api):
    store = make_store(rewards_enabled=False)
    editor = make_user(store, "editor")
    listed = api(editor).get(f"{base(store)}/experience-templates/").json()
    assert not any(t["available"] for t in listed)
    answer = api(editor).post(
        f"{base(store)}/experiences/", {"name": "X", "template": "milestone_gift"}, format="json"
    )
    assert answer.status_code == 400 and "Rewards" in answer.json()["template"][0]
    assert not Experience.objects.exists() and not Incentive.objects.exists()


def test_reward_budget_is_read_and_changed_through_the_api(api, editor, store):
    created = (
        api(editor)
        .post(
            f"{base(store)}/experiences/",
            {"name": "B", "kind": "reward_strategy", "reward_budget": "100.00"},
            format="json",
        )
        .json()
    )
    assert created["reward_budget"] == "100.00"
    url = f"{base(store)}/experiences/{created['id']}/"
    changed = api(editor).patch(url, {"reward_budget": "250.50"}, format="json")
    assert changed.status_code == 200 and changed.json()["reward_budget"] == "250.50"
    cleared = api(editor).patch(url, {"reward_budget": None}, format="json")
    assert cleared.json()["reward_budget"] is None
    refused = api(editor).patch(url, {"reward_budget": "-3"}, format="json")
    assert refused.status_code == 400 and "reward_budget" in refused.json()


def test_reward_budget_needs_rewards(api):
    store = make_store(rewards_enabled=False)
    editor = make_user(store, "editor")
    answer = api(editor).post(
        f"{base(store)}/experiences/",
        {"name": "B", "kind": "reward_strategy", "reward_budget": "10"},
        format="json",
    )
    assert answer.status_code == 400 and "reward_budget" in answer.json()


def test_seed_demo_publishes_one_experience_per_kind_once():
    # when the demo is seeded twice
    seed_demo(customers=10)
    report = seed_demo(customers=10)
    # then one live experience of each kind, not repeated
    live = Experience.objects.filter(store=report.store, status="live")
    assert sorted(live.values_list("kind", flat=True)) == sorted(
        ["reward_strategy", "surprise_and_delight", "upcoming_order_cross_sell"]
    )
    assert Experience.objects.filter(store=report.store).count() == 3


def test_every_template_is_in_the_module():
    assert set(BLUEPRINTS) == set(ISSUE_TEMPLATES)
