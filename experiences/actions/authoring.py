"""Authoring: create and edit experiences, save drafts, publish, pause, resume, archive."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from segments.models import Store

from ..models import Edge, Experience, ExperienceVersion, Node, Run, RunStep, TriggerIndex
from ..nodes import REGISTRY
from ..validation import (
    GraphEdge,
    GraphNode,
    Report,
    validate_exit_criteria,
    validate_graph,
    validation_context,
)

SETTINGS_FIELDS = {
    "name",
    "reentry",
    "reentry_days",
    "exit_criteria",
    "holdout_percent",
    "pause_behaviour",
    "reward_budget",
}


class ExperienceError(Exception):
    """A change refused for a reason the caller can show."""

    def __init__(self, message: str, detail: Any = None):
        super().__init__(message)
        self.detail = detail if detail is not None else {"detail": message}


class StateConflict(ExperienceError):
    """The change does not fit the experience's current state (archived, not live, ...)."""


class ExperiencesDisabled(ExperienceError):
    """The store does not offer experiences: nothing may be created, edited, published, resumed."""

    def __init__(self):
        super().__init__("Experiences are not enabled for this store.")


def require_experiences(store: Store) -> None:
    """Refuse authoring in a store without experiences enabled."""
    if not store.experiences_enabled:
        raise ExperiencesDisabled()


class StaleRevision(ExperienceError):
    def __init__(self, current: int):
        super().__init__(
            f"The draft changed since revision you edited; it is now at revision {current}.",
            {"detail": "Stale revision.", "revision": current},
        )
        self.current = current


class GraphInvalid(ExperienceError):
    def __init__(self, report: Report):
        super().__init__(
            "The graph has errors.", {"detail": "The graph has errors.", "errors": report.as_dict()}
        )
        self.report = report


def _check_settings(store: Store, values: dict[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    if "exit_criteria" in values:
        messages = validate_exit_criteria(values["exit_criteria"], store)
        if messages:
            errors["exit_criteria"] = messages
    holdout = values.get("holdout_percent")
    if holdout is not None and not (0 <= holdout <= 100):
        errors["holdout_percent"] = ["Give a percentage from 0 to 100."]
    budget = values.get("reward_budget")
    if budget is not None and budget < 0:
        errors["reward_budget"] = ["Give an amount of 0 or more, or leave it empty for no budget."]
    if values.get("reentry") == Experience.Reentry.ONCE_PER_N_DAYS and not values.get(
        "reentry_days"
    ):
        errors["reentry_days"] = ["Give the number of days (1 or more)."]
    if errors:
        raise ValidationError(errors)


def _check_budget_allowed(store: Store, values: dict[str, Any]) -> None:
    if values.get("reward_budget") is not None and not store.rewards_enabled:
        raise ValidationError({"reward_budget": ["A reward budget needs Rewards enabled."]})


def create_experience(store: Store, *, name: str, kind: str, **settings: Any) -> Experience:
    """Create an experience with a first draft holding just a trigger."""
    require_experiences(store)
    _check_budget_allowed(store, settings)
    _check_settings(store, settings)
    with transaction.atomic():
        experience = Experience.objects.create(store=store, name=name, kind=kind, **settings)
        version = ExperienceVersion.objects.create(store=store, experience=experience, number=1)
        Node.objects.create(version=version, key="trigger", type="trigger", config={})
    return experience


def update_experience(experience: Experience, **values: Any) -> Experience:
    """Change the name, re-entry, exit criteria, holdout or pause behaviour."""
    unknown = set(values) - SETTINGS_FIELDS
    if unknown:
        raise ValidationError({f: ["This field cannot be changed here."] for f in unknown})
    require_experiences(experience.store)
    if experience.status == Experience.Status.ARCHIVED:
        raise StateConflict("An archived experience cannot be changed.")
    _check_budget_allowed(experience.store, values)
    merged = {f: getattr(experience, f) for f in SETTINGS_FIELDS} | values
    if merged["reentry"] != Experience.Reentry.ONCE_PER_N_DAYS:
        merged["reentry_days"] = None
    _check_settings(experience.store, merged)
    for field, value in merged.items():
        setattr(experience, field, value)
    experience.save()
    return experience


def draft_for(experience: Experience, *, lock: bool = False) -> ExperienceVersion:
    """Return the experience's draft, creating one as a copy of the live version if needed."""
    with transaction.atomic():
        locked = Experience.objects.select_for_update().get(pk=experience.pk)
        versions = ExperienceVersion.objects.filter(experience=locked)
        draft = (versions.select_for_update() if lock else versions).filter(state="draft").first()
        if draft is not None:
            return draft
        if locked.status == Experience.Status.ARCHIVED:
            raise StateConflict("An archived experience has no draft.")
        source = locked.live_version or versions.order_by("-number").first()
        number = (versions.aggregate(n=Max("number"))["n"] or 0) + 1
        draft = ExperienceVersion.objects.create(
            store_id=locked.store_id, experience=locked, number=number
        )
        if source is not None:
            _copy_graph(source, draft)
        return draft


def _copy_graph(source: ExperienceVersion, target: ExperienceVersion) -> None:
    old_nodes = list(source.nodes.all())
    new_nodes = Node.objects.bulk_create(
        [
            Node(
                version=target,
                key=n.key,
                type=n.type,
                config=n.config,
                position_x=n.position_x,
                position_y=n.position_y,
                segment_ids=n.segment_ids,
            )
            for n in old_nodes
        ]
    )
    by_old = {old.pk: new for old, new in zip(old_nodes, new_nodes, strict=True)}
    Edge.objects.bulk_create(
        [
            Edge(
                version=target,
                source=by_old[e.source_id],
                target=by_old[e.target_id],
                branch=e.branch,
            )
            for e in source.edges.all()
        ]
    )


def load_graph_rows(version: ExperienceVersion) -> None:
    """Read the version's nodes and edges once; ``graph_of`` and the graph serializers reuse
    them for the rest of the request (the builder's draft answer needs them three times)."""
    version._graph_nodes = list(version.nodes.order_by("id"))
    version._graph_edges = list(version.edges.order_by("id"))


def graph_of(version: ExperienceVersion) -> tuple[list[GraphNode], list[GraphEdge]]:
    nodes = getattr(version, "_graph_nodes", None)
    edges = getattr(version, "_graph_edges", None)
    if nodes is None or edges is None:
        nodes, edges = list(version.nodes.all()), list(version.edges.all())
    keys = {n.pk: n.key for n in nodes}
    return (
        [GraphNode(n.key, n.type, n.config) for n in nodes],
        [GraphEdge(keys[e.source_id], keys[e.target_id], e.branch) for e in edges],
    )


def validate_version(version: ExperienceVersion) -> Report:
    nodes, edges = graph_of(version)
    ctx = validation_context(version.experience.store, version.experience.kind)
    return validate_graph(nodes, edges, ctx)


def _check_shape(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
    """Refuse what cannot be stored as rows: duplicate keys, edges to nowhere, doubled branches."""
    errors: list[str] = []
    keys = [n["key"] for n in nodes]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        errors.append(f"Node keys must be unique: {', '.join(duplicates)}.")
    known = set(keys)
    seen: set[tuple[str, str]] = set()
    for i, edge in enumerate(edges):
        for end in ("source", "target"):
            if edge[end] not in known:
                errors.append(f"Edge {i}: {end} {edge[end]!r} is not a node of this graph.")
        if edge["source"] == edge["target"]:
            errors.append(f"Edge {i}: a node cannot lead to itself.")
        pair = (edge["source"], edge.get("branch", ""))
        if pair in seen:
            errors.append(f"Edge {i}: {pair[0]!r} already has an edge for branch {pair[1]!r}.")
        seen.add(pair)
    if errors:
        raise ExperienceError(
            "The graph cannot be saved.", {"detail": "The graph cannot be saved.", "graph": errors}
        )


def save_draft(
    experience: Experience,
    *,
    revision: int,
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
) -> tuple[ExperienceVersion, Report]:
    """Replace the draft graph atomically if ``revision`` is current; return it with its errors.

    The save succeeds even when the graph has validation errors: the builder shows them.
    """
    require_experiences(experience.store)
    _check_shape(nodes, edges)
    with transaction.atomic():
        Experience.objects.select_for_update().filter(pk=experience.pk).values_list("pk").get()
        has_draft = ExperienceVersion.objects.filter(experience=experience, state="draft").exists()
        if not has_draft and revision != 0:
            raise StaleRevision(0)  # the draft was published meanwhile: start from the live one
        draft = draft_for(experience, lock=True)
        if has_draft and draft.revision != revision:
            raise StaleRevision(draft.revision)
        ctx = validation_context(experience.store, experience.kind)
        report = validate_graph(
            [GraphNode(n["key"], n["type"], n.get("config") or {}) for n in nodes],
            [GraphEdge(e["source"], e["target"], e.get("branch", "")) for e in edges],
            ctx,
        )
        draft.edges.all().delete()
        draft.nodes.all().delete()
        created = Node.objects.bulk_create(
            [
                Node(
                    version=draft,
                    key=n["key"],
                    type=n["type"],
                    config=n.get("config") or {},
                    position_x=(n.get("position") or {}).get("x", 0),
                    position_y=(n.get("position") or {}).get("y", 0),
                    segment_ids=sorted(report.segment_ids.get(n["key"], ())),
                )
                for n in nodes
            ]
        )
        by_key = {n.key: n for n in created}
        Edge.objects.bulk_create(
            [
                Edge(
                    version=draft,
                    source=by_key[e["source"]],
                    target=by_key[e["target"]],
                    branch=e.get("branch", ""),
                )
                for e in edges
            ]
        )
        draft.revision += 1
        draft.save(update_fields=["revision", "updated_at"])
    return draft, report


def publish_draft(experience: Experience, *, acting_user=None) -> ExperienceVersion:
    """Freeze the draft, make it the live version and start listening to its trigger event."""
    with transaction.atomic():
        experience = (
            Experience.objects.select_for_update().select_related("store").get(pk=experience.pk)
        )
        require_experiences(experience.store)
        if experience.status == Experience.Status.ARCHIVED:
            raise StateConflict("An archived experience cannot be published.")
        draft = (
            ExperienceVersion.objects.select_for_update()
            .filter(experience=experience, state="draft")
            .first()
        )
        if draft is None:
            raise StateConflict("There is no draft to publish.")
        report = validate_version(draft)
        exit_errors = validate_exit_criteria(experience.exit_criteria, experience.store)
        if exit_errors:
            report.graph += [f"Exit criteria: {m}" for m in exit_errors]
        if not report.ok:
            raise GraphInvalid(report)
        now = timezone.now()
        ExperienceVersion.objects.filter(experience=experience, state="published").update(
            state="retired", retired_at=now
        )
        draft.state = ExperienceVersion.State.PUBLISHED
        draft.published_at = now
        draft.published_by = acting_user
        draft.save()
        experience.live_version = draft
        if experience.status != Experience.Status.PAUSED:
            experience.status = Experience.Status.LIVE
        experience.save()
        _sync_trigger_index(experience)
    return draft


def _sync_trigger_index(experience: Experience) -> None:
    TriggerIndex.objects.filter(experience=experience).delete()
    if experience.status != Experience.Status.LIVE or experience.live_version is None:
        return
    node = experience.live_version.nodes.get(type="trigger")
    trigger = REGISTRY["trigger"]
    config, _ = trigger.parse(node.config)
    TriggerIndex.objects.create(
        store_id=experience.store_id,
        experience=experience,
        version=experience.live_version,
        node=node,
        event=trigger.domain_event(config),
    )


def pause_experience(experience: Experience, *, in_flight: str | None = None) -> Experience:
    """Stop starting runs; runs in flight finish, or are ended, as chosen."""
    behaviour = in_flight or experience.pause_behaviour
    if behaviour not in Experience.PauseBehaviour.values:
        raise ValidationError(
            {"in_flight": [f"Choose one of {', '.join(Experience.PauseBehaviour.values)}."]}
        )
    with transaction.atomic():
        experience = Experience.objects.select_for_update().get(pk=experience.pk)
        if experience.status != Experience.Status.LIVE:
            raise StateConflict(
                f"Only a live experience can be paused; this one is {experience.status}."
            )
        experience.status = Experience.Status.PAUSED
        experience.pause_behaviour = behaviour
        experience.save()
        _sync_trigger_index(experience)
        if behaviour == Experience.PauseBehaviour.END:
            end_active_runs(experience, "experience paused")
    return experience


def resume_experience(experience: Experience) -> Experience:
    with transaction.atomic():
        experience = (
            Experience.objects.select_for_update().select_related("store").get(pk=experience.pk)
        )
        require_experiences(experience.store)
        if experience.status != Experience.Status.PAUSED:
            raise StateConflict(
                f"Only a paused experience can be resumed; this one is {experience.status}."
            )
        experience.status = Experience.Status.LIVE
        experience.save()
        _sync_trigger_index(experience)
    return experience


def archive_experience(experience: Experience) -> Experience:
    with transaction.atomic():
        experience = Experience.objects.select_for_update().get(pk=experience.pk)
        experience.status = Experience.Status.ARCHIVED
        experience.save()
        _sync_trigger_index(experience)
        ExperienceVersion.objects.filter(experience=experience, state="draft").delete()
        end_active_runs(experience, "experience archived")
    return experience


def end_active_runs(experience: Experience, reason: str) -> int:
    """End every running or waiting run of the experience (set-based)."""
    now = timezone.now()
    runs = Run.objects.filter(experience=experience, status__in=Run.ACTIVE)
    RunStep.objects.filter(run__in=runs, status=RunStep.Status.WAITING).update(
        status=RunStep.Status.CANCELLED, finished_at=now
    )
    return runs.update(status=Run.Status.EXITED, exit_reason=reason, finished_at=now)


def duplicate_experience(experience: Experience, *, name: str | None = None) -> Experience:
    """Copy the experience's settings and its draft (else live) graph into a new draft one."""
    with transaction.atomic():
        source = (
            ExperienceVersion.objects.filter(experience=experience, state="draft").first()
            or experience.live_version
            or ExperienceVersion.objects.filter(experience=experience).order_by("-number").first()
        )
        copy = Experience.objects.create(
            store_id=experience.store_id,
            name=(name or f"Copy of {experience.name}")[:200],
            kind=experience.kind,
            **{f: getattr(experience, f) for f in SETTINGS_FIELDS if f != "name"},
        )
        version = ExperienceVersion.objects.create(
            store_id=experience.store_id, experience=copy, number=1
        )
        if source is not None:
            _copy_graph(source, version)
        else:
            Node.objects.create(version=version, key="trigger", type="trigger", config={})
    return copy


def discard_draft(experience: Experience, *, revision: int) -> ExperienceVersion:
    """Delete the draft (at ``revision``) and return the live version the builder goes back to."""
    with transaction.atomic():
        locked = Experience.objects.select_for_update().get(pk=experience.pk)
        draft = locked.versions.filter(state=ExperienceVersion.State.DRAFT).first()
        if locked.live_version is None:
            raise ExperienceError(
                "Nothing is published yet: there is no live version to go back to."
            )
        if draft is None:
            return locked.live_version
        if draft.revision != revision:
            raise StaleRevision(draft.revision)
        draft.delete()
        return locked.live_version
