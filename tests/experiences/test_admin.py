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
