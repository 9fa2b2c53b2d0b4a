"""A segment that a live experience uses cannot be deleted, through the API or the admin."""

from experiences import actions
from segments.models import Segment

from .helpers import milestone_graph, publish, static_segment


def test_deleting_a_segment_a_live_experience_uses_is_refused(api, editor, store):
    # given a live milestone experience that tests one segment and adds to another
    test_customers = static_segment(store, "Test Customers")
    reached = static_segment(store, "Milestone 3 reached")
    publish(store, *milestone_graph(test_customers, reached), name="Milestone 3")
    unused = static_segment(store, "Unused")
    client = api(editor)
    # when the segments are deleted
    refused = client.delete(f"/api/v1/stores/{store.slug}/segments/{reached.pk}/")
    allowed = client.delete(f"/api/v1/stores/{store.slug}/segments/{unused.pk}/")
    # then the used one is kept and the answer names the experience
    assert refused.status_code == 409
    assert refused.json()["used_by"] == ["Experience 'Milestone 3' (live)"]
    assert Segment.objects.filter(pk=reached.pk).exists()
    assert allowed.status_code == 204


def test_an_archived_experience_no_longer_holds_its_segments(api, editor, store):
    # given an experience that used the segment and was archived
    test_customers = static_segment(store, "Test Customers")
    reached = static_segment(store, "Milestone 3 reached")
    experience = publish(store, *milestone_graph(test_customers, reached), name="Milestone 3")
    actions.archive_experience(experience)
    # when the segment is deleted
    response = api(editor).delete(f"/api/v1/stores/{store.slug}/segments/{reached.pk}/")
    # then it goes
    assert response.status_code == 204
