"""The demo store's experiences: one live experience of each kind, built from templates, so a
new user sees them working. Added by ``seed_demo`` (through ``segments.demo.demo_seeded``);
idempotent: an experience of that name already in the store is left as it is."""

from __future__ import annotations

from django.db import transaction

from segments.models import Store

from . import actions
from .models import Experience

# (template, name) per kind: the issue's own examples.
DEMO_EXPERIENCES = [
    ("tag_milestone_customers", "Milestone: tag and reward the 3rd order"),
    ("surprise_free_gift", "Surprise: free gift on the 2nd order"),
    ("cross_sell_before_charge", "Cross-sell: an add-on 3 days before the charge"),
]


def publish_demo_experiences(store: Store) -> list[str]:
    """Create and publish the demo experiences the store lacks; return the names published."""
    if not (store.experiences_enabled and store.rewards_enabled):
        return []
    published = []
    for template, name in DEMO_EXPERIENCES:
        if Experience.objects.filter(store=store, name=name).exists():
            continue
        with transaction.atomic():
            experience = actions.create_from_template(store, name=name, template=template)
            actions.publish_draft(experience)
        published.append(name)
    return published


def on_demo_seeded(sender, store: Store, report=None, **kwargs) -> None:
    published = publish_demo_experiences(store)
    if report is not None and published:
        report.notes.append("Experiences published: " + "; ".join(published) + ".")
