"""The new-experience page offers the templates of each kind; a template builds the draft (and
what it needs) and lands in the builder; a template that gives rewards is explained, not offered,
when the store lacks Rewards."""

from experiences.models import Experience
from rewards.models import Incentive


def test_form_lists_templates_with_their_kind(client, editor):
    client.force_login(editor)
    page = client.get("/app/experiences/new/?kind=upcoming_order_cross_sell").content.decode()
    assert "Offer a product 3 days before the next charge" in page
    assert 'data-kind="upcoming_order_cross_sell">' in page
    # templates of other kinds are there (for the kind switch) but hidden
    assert 'data-kind="reward_strategy" hidden>' in page
    assert 'value="upcoming_order_cross_sell" checked' in page


def test_editor_creates_from_a_template_and_lands_in_the_builder(client, store, editor):
    client.force_login(editor)
    answer = client.post(
        "/app/experiences/new/",
        {
            "name": "Offer",
            "kind": "upcoming_order_cross_sell",
            "template": "cross_sell_before_charge",
        },
    )
    experience = Experience.objects.get(store=store, name="Offer")
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/app/experiences/{experience.pk}/builder/"
    types = set(experience.versions.get().nodes.values_list("type", flat=True))
    assert {"trigger", "cross_sell", "notification", "end"} <= types
    assert Incentive.objects.filter(store=store, kind="cross_sell").count() == 1


def test_template_of_another_kind_or_unknown_is_a_field_error(client, store, editor):
    client.force_login(editor)
    page = client.post(
        "/app/experiences/new/",
        {"name": "X", "kind": "surprise_and_delight", "template": "streak_reward"},
    )
    assert page.status_code == 400
    assert "is a reward strategy template: choose that kind." in page.content.decode()
    page = client.post(
        "/app/experiences/new/", {"name": "X", "kind": "reward_strategy", "template": "nope"}
    )
    assert page.status_code == 400 and b"Choose a template from the list" in page.content
    assert not Experience.objects.filter(store=store).exists()


def test_without_rewards_templates_are_explained_and_refused(client, store, editor):
    store.rewards_enabled = False
    store.save()
    client.force_login(editor)
    page = client.get("/app/experiences/new/").content.decode()
    assert "Rewards are not enabled for Store A, so they cannot be used yet" in page
    assert 'id="needs-rewards-streak_reward">Needs Rewards<' in page
    assert 'value="streak_reward" disabled' in page
    answer = client.post(
        "/app/experiences/new/",
        {"name": "S", "kind": "reward_strategy", "template": "streak_reward"},
    )
    assert answer.status_code == 400
    assert "Rewards are not enabled for this store" in answer.content.decode()
    assert not Experience.objects.filter(store=store).exists()
    # a blank flow still works
    answer = client.post("/app/experiences/new/", {"name": "B", "kind": "reward_strategy"})
    assert answer.status_code == 302
