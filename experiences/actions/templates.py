"""Creating an experience from a template (``experiences.blueprints``): what its nodes refer to
is found or created in the store, then the experience and its draft, in one transaction."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from rewards import actions as reward_actions
from rewards.models import Incentive
from segments import actions as segment_actions
from segments.models import Segment, Store

from ..blueprints import BLUEPRINTS, Blueprint, IncentiveNeed, SegmentNeed
from ..models import Experience
from .authoring import create_experience, save_draft


def _segment(store: Store, need: SegmentNeed) -> int:
    found = Segment.objects.filter(store=store, name__iexact=need.name).first()
    if found is not None and found.kind == Segment.Kind.STATIC:
        return found.pk
    name = need.name if found is None else f"{need.name} (static)"
    again = Segment.objects.filter(store=store, name__iexact=name, kind="static").first()
    if again is not None:
        return again.pk
    return segment_actions.create_segment(
        store, name=name, kind=Segment.Kind.STATIC, description=need.description
    ).pk


def _incentive(store: Store, need: IncentiveNeed) -> int:
    found = Incentive.objects.filter(
        store=store, kind=need.kind, name=need.name, active=True
    ).first()
    if found is not None:
        return found.pk
    return reward_actions.create_incentive(
        store,
        name=need.name,
        kind=need.kind,
        params=dict(need.params),
        expires_in_days=need.expires_in_days,
    ).pk


def create_from_template(store: Store, *, name: str, template: str, **settings: Any) -> Experience:
    """Create an experience whose draft is the template's graph, valid and ready to publish.

    The segments and incentives the graph needs are reused by name when the store has them, else
    created (an incentive with placeholder product details for the merchant to edit).
    """
    blueprint: Blueprint | None = BLUEPRINTS.get(template)
    if blueprint is None:
        raise ValidationError(
            {"template": [f"Unknown template {template!r}; see experience-templates/."]}
        )
    if blueprint.requires_rewards and not store.rewards_enabled:
        raise ValidationError({"template": ["This template gives rewards: enable Rewards first."]})
    with transaction.atomic():
        refs = {key: _segment(store, need) for key, need in blueprint.segments.items()}
        refs |= {key: _incentive(store, need) for key, need in blueprint.incentives.items()}
        experience = create_experience(store, name=name, kind=blueprint.kind, **settings)
        nodes, edges = blueprint.build(refs)
        save_draft(experience, revision=1, nodes=nodes, edges=edges)
    return experience
