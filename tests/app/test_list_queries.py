"""The experiences and segments list pages read a constant number of queries, whatever the
number of rows (runs of the last 30 days are one aggregate)."""

import pytest

from experiences.actions import create_experience
from experiences.models import Run
from tests.experiences.helpers import milestone_graph, publish, static_segment
from tests.fixtures import factories as f


def _experiences(store, n):
    customer = f.make_customer(store)
    for i in range(n):
        if i % 5 == 0:
            e = publish(
                store,
                *milestone_graph(static_segment(store, f"T{i}"), static_segment(store, f"R{i}")),
                name=f"Live {i}",
            )
            Run.objects.create(
                store=store, experience=e, version=e.live_version, customer=customer,
                trigger_event_key=f"k{i}", trigger_event_name="order_processed", chain_origin="k",
            )  # fmt: skip
        else:
            create_experience(store, name=f"Draft {i}", kind="reward_strategy")


@pytest.mark.parametrize("rows", [5, 50])
def test_experiences_list_queries_do_not_grow_with_rows(
    client, store, owner, rows, django_assert_max_num_queries
):
    _experiences(store, rows)
    client.force_login(owner)
    with django_assert_max_num_queries(10):
        page = client.get("/app/experiences/")
    assert page.content.count(b'/builder/">') >= rows


@pytest.mark.parametrize("rows", [5, 50])
def test_segments_list_queries_do_not_grow_with_rows(
    client, store, owner, rows, django_assert_max_num_queries
):
    for i in range(rows):
        static_segment(store, f"Segment {i}")
    client.force_login(owner)
    with django_assert_max_num_queries(9):
        page = client.get("/app/segments/")
    assert page.content.count(b'href="/app/segments/') >= rows
