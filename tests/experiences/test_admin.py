"""The staff pages of experiences render, published graphs are read-only, the diagnosis works."""

import pytest
from django.contrib.auth import get_user_model

from experiences import actions
from tests.fixtures.factories import make_customer, make_order

from .helpers import order_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw-for-tests")
    client.force_login(user)
    return client


def test_admin_pages_render(staff_client, milestone, milestone_customer):
    experience, _, _ = milestone
    _, order = milestone_customer
    actions.process_event(order_event(order))
    for url in [
        "/admin/experiences/experience/",
        f"/admin/experiences/experience/{experience.pk}/change/",
        "/admin/experiences/run/?status__exact=completed",
        "/admin/experiences/emaildelivery/",
        "/admin/experiences/chainlimithit/",
        f"/admin/experiences/experienceversion/{experience.live_version_id}/change/",
    ]:
        assert staff_client.get(url).status_code == 200, url


def test_published_version_is_read_only_in_admin(staff_client, milestone):
    experience, _, _ = milestone
    page = staff_client.get(
        f"/admin/experiences/experienceversion/{experience.live_version_id}/change/"
    )
    assert b'name="_save"' not in page.content


def test_admin_diagnosis_explains_a_customer(staff_client, store, milestone):
    experience, _, _ = milestone
    customer = make_customer(store, subscription_orders_count=1)
    make_order(customer, is_subscription=True)
    page = staff_client.get(
        f"/admin/experiences/experience/{experience.pk}/explain/?customer={customer.email}"
    )
    assert page.status_code == 200
    assert b"Would not enter now" in page.content
    assert b"subscription_orders_count" in page.content


def test_experiences_and_their_graphs_are_read_only_in_admin(staff_client, milestone):
    # given a live experience with a draft: nothing is added, edited or deleted by hand
    experience, _, _ = milestone
    from experiences.models import Experience, ExperienceVersion, Node

    draft = actions.draft_for(experience)
    assert staff_client.get("/admin/experiences/experience/add/").status_code == 403
    page = staff_client.get(f"/admin/experiences/experienceversion/{draft.pk}/change/")
    assert b'name="_save"' not in page.content
    nodes_before = list(Node.objects.filter(version=draft).values_list("key", "config"))
    staff_client.post(
        f"/admin/experiences/experience/{experience.pk}/change/",
        {"name": "Renamed by hand", "holdout_percent": "50"},
    )
    experience.refresh_from_db()
    assert experience.name != "Renamed by hand" and experience.holdout_percent == 0
    assert list(Node.objects.filter(version=draft).values_list("key", "config")) == nodes_before
    # when staff archive it with the admin action, then it goes through actions (runs end)
    staff_client.post(
        "/admin/experiences/experience/",
        {"action": "archive_selected", "_selected_action": [experience.pk]},
    )
    experience.refresh_from_db()
    assert experience.status == Experience.Status.ARCHIVED
    assert not ExperienceVersion.objects.filter(experience=experience, state="draft").exists()
