"""A store without experiences enabled cannot create, edit, publish or resume experiences: the
API answers 403 naming the reason, and the actions refuse whatever calls them."""

import pytest

from experiences import actions
from experiences.models import Experience
from segments.api.base import StoreFeature
from tests.experiences.helpers import milestone_graph, static_segment

BASE = "/api/v1/stores/store-a/experiences"
REASON = "Experiences are not enabled for this store."


@pytest.fixture
def live_then_disabled(store):
    """A live experience, then paused, in a store whose experiences are then switched off."""
    nodes, edges = milestone_graph(static_segment(store, "In"), static_segment(store, "Out"))
    experience = actions.create_experience(store, name="Milestone", kind="reward_strategy")
    actions.save_draft(experience, revision=1, nodes=nodes, edges=edges)
    actions.publish_draft(experience)
    actions.pause_experience(experience)
    store.experiences_enabled = False
    store.save(update_fields=["experiences_enabled"])
    return experience, nodes, edges


def test_creating_an_experience_is_refused_with_403_naming_the_reason(api, owner, store):
    store.experiences_enabled = False
    store.save(update_fields=["experiences_enabled"])
    response = api(owner).post(BASE + "/", {"name": "X", "kind": "reward_strategy"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": REASON}
    assert not Experience.objects.exists()


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("patch", "/", {"name": "Renamed"}),
        ("put", "/draft/", {"revision": 0, "nodes": [], "edges": []}),
        ("post", "/publish/", None),
        ("post", "/resume/", None),
    ],
)
def test_editing_publishing_and_resuming_are_refused(
    api, owner, live_then_disabled, method, path, body
):
    experience, _, _ = live_then_disabled
    url = f"{BASE}/{experience.pk}{path}"
    response = getattr(api(owner), method)(url, body, format="json")
    assert response.status_code == 403 and response.json() == {"detail": REASON}
    experience.refresh_from_db()
    assert experience.status == Experience.Status.PAUSED and experience.name == "Milestone"


def test_reading_pausing_and_archiving_stay_possible(api, owner, live_then_disabled):
    experience, _, _ = live_then_disabled
    assert api(owner).get(f"{BASE}/{experience.pk}/").status_code == 200
    assert api(owner).get(f"{BASE}/{experience.pk}/draft/").status_code == 200
    assert api(owner).post(f"{BASE}/{experience.pk}/archive/").status_code == 200


def test_the_actions_refuse_too_whatever_calls_them(live_then_disabled, store):
    experience, nodes, edges = live_then_disabled
    for attempt in (
        lambda: actions.create_experience(store, name="Y", kind="reward_strategy"),
        lambda: actions.update_experience(experience, name="Y"),
        lambda: actions.save_draft(experience, revision=0, nodes=nodes, edges=edges),
        lambda: actions.publish_draft(experience),
        lambda: actions.resume_experience(experience),
    ):
        with pytest.raises(actions.ExperiencesDisabled):
            attempt()


def test_the_rewards_feature_names_its_flag_and_reason():
    # the reusable check other API modules declare (required_features in segments/api/base.py)
    assert StoreFeature.REWARDS.value == "rewards_enabled"
    assert StoreFeature.REWARDS.label == "Rewards are not enabled for this store."
