import pytest

from segments.models import MembershipSource, SegmentMembership
from tests.fixtures.factories import make_customer, make_order

from .helpers import milestone_graph, publish, static_segment


@pytest.fixture
def milestone(store):
    """The milestone experience: 3rd subscription order + in Test Customers -> segment + email."""
    test_customers = static_segment(store, "Test Customers")
    reached = static_segment(store, "Milestone 3 reached")
    nodes, edges = milestone_graph(test_customers, reached)
    experience = publish(store, nodes, edges, name="Milestone 3")
    return experience, test_customers, reached


@pytest.fixture
def milestone_customer(store, milestone):
    _, test_customers, _ = milestone
    customer = make_customer(store, first_name="Alice", subscription_orders_count=3)
    SegmentMembership.objects.create(
        store=store, segment=test_customers, customer=customer, source=MembershipSource.MANUAL
    )
    order = make_order(customer, is_subscription=True, type="recurring", name="#1003")
    return customer, order
