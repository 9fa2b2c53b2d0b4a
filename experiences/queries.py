"""Read helpers of the ``experiences`` app; store-owned rows are read through ``scoped``."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, QuerySet
from django.utils import timezone

from segments.models import Segment, Store
from segments.queries import scoped

from .models import Experience, Node, Run, RunStep


def experiences_for(store: Store) -> QuerySet[Experience]:
    return scoped(Experience, store).select_related("live_version")


def experience_names(store: Store, ids=None) -> dict[int, str]:
    """Return ``{id: name}`` of the store's experiences (these ids, or all), in one query."""
    rows = scoped(Experience, store)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    return dict(rows.values_list("pk", "name"))


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


def live_counts(experience: Experience, *, days: int = 30) -> dict:
    """Return, for the live version, the customers who reached each node in the last ``days``
    days and, for nodes with several branches, how many went down each branch and its share.

    Two grouped queries over the steps, whatever the number of runs.
    """
    version = experience.live_version
    since = timezone.now() - dt.timedelta(days=days)
    answer = {"version": None, "days": days, "since": since.isoformat(), "nodes": {}}
    if version is None:
        return answer
    answer["version"] = version.number
    steps = RunStep.objects.filter(
        run__in=scoped(Run, experience.store).filter(version=version),
        scheduled_at__gte=since,
    )
    nodes: dict[str, dict] = {}
    for key, reached in (
        steps.values_list("node__key").annotate(n=Count("run__customer", distinct=True)).order_by()
    ):
        nodes[key] = {"reached": reached, "branches": {}}
    branch_rows = (
        steps.filter(status=RunStep.Status.DONE)
        .values_list("node__key", "branch")
        .annotate(n=Count("run__customer", distinct=True))
        .order_by()
    )
    per_node: dict[str, dict[str, int]] = {}
    for key, branch, n in branch_rows:
        per_node.setdefault(key, {})[branch] = n
    for key, counts in per_node.items():
        if list(counts) == [""]:
            continue  # a single next step: no split to show
        total = sum(counts.values())
        nodes.setdefault(key, {"reached": total, "branches": {}})["branches"] = {
            branch: {"count": n, "share": round(n / total, 4) if total else 0.0}
            for branch, n in counts.items()
        }
    answer["nodes"] = nodes
    return answer
