"""Read helpers of the ``experiences`` app; store-owned rows are read through ``scoped``."""

from __future__ import annotations

from django.db.models import QuerySet

from segments.models import Segment, Store
from segments.queries import scoped

from .models import Experience, Node, Run


def experiences_for(store: Store) -> QuerySet[Experience]:
    return scoped(Experience, store).select_related("live_version")


def runs_for(experience: Experience) -> QuerySet[Run]:
    return (
        scoped(Run, experience.store)
        .filter(experience=experience)
        .select_related("customer", "version", "current_node")
        .prefetch_related("steps__node")
    )


def live_experiences_using_segment(segment: Segment) -> list[Experience]:
    """Return the live or paused experiences whose live version or exit criteria use the segment.

    For the segments app's deletion guard: a segment in use must not be deleted.
    """
    experiences = list(
        scoped(Experience, segment.store)
        .filter(status__in=[Experience.Status.LIVE, Experience.Status.PAUSED])
        .select_related("live_version")
    )
    if not experiences:
        return []
    live_versions = [e.live_version_id for e in experiences]
    using_nodes = {
        version_id
        for version_id, ids in Node.objects.filter(version_id__in=live_versions)
        .exclude(segment_ids=[])
        .values_list("version_id", "segment_ids")
        if segment.pk in ids
    }
    exits = {f"left_segment:{segment.pk}", f"entered_segment:{segment.pk}"}
    return [
        e
        for e in experiences
        if e.live_version_id in using_nodes or exits & set(e.exit_criteria or [])
    ]


def segment_usage_descriptions(segment: Segment) -> list[str]:
    """Describe the live or paused experiences that use the segment, for the deletion guard."""
    return [
        f"Experience '{e.name}' ({e.get_status_display().lower()})"
        for e in live_experiences_using_segment(segment)
    ]
