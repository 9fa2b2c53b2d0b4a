"""Answers for support: why a customer did or did not enter an experience, and where each of
their runs went."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from segments.models import Customer

from .actions.engine import evaluate_trigger, held_out, reentry_refusal
from .context import EvaluationContext
from .models import ChainLimitHit, Experience, Run


def explain(experience: Experience, customer: Customer) -> dict[str, Any]:
    """Return the checks of entry, evaluated now against the customer's latest order, and the
    path of each run."""
    store = experience.store
    checks: list[dict[str, Any]] = []

    def check(name: str, passed: bool, detail: str) -> None:
        checks.append({"check": name, "passed": passed, "detail": detail})

    check(
        "store",
        store.experiences_enabled,
        "experiences are enabled"
        if store.experiences_enabled
        else "experiences are disabled for this store",
    )
    check(
        "status",
        experience.status == Experience.Status.LIVE,
        f"the experience is {experience.status}",
    )
    conditions: list = []
    version = experience.live_version
    if version is None:
        check("version", False, "nothing is published")
    else:
        trigger = version.nodes.filter(type="trigger").first()
        decision = evaluate_trigger(trigger, None, EvaluationContext(store, customer))
        conditions = decision.conditions
        check(
            "conditions", decision.enters, decision.reason + " (evaluated now, on the latest order)"
        )
    runs = list(
        Run.objects.filter(experience=experience, customer=customer)
        .select_related("version", "current_node")
        .prefetch_related("steps__node")
        .order_by("rotation")
    )
    last = runs[-1] if runs else None
    refusal = reentry_refusal(
        experience, {"started_at": last.started_at} if last else None, timezone.now()
    )
    check("re-entry", not refusal, refusal or f"policy {experience.reentry} allows entry")
    out = held_out(experience, customer.pk)
    check(
        "holdout",
        not out,
        f"in the {experience.holdout_percent}% holdout" if out else "not held out",
    )
    hits = ChainLimitHit.objects.filter(experience=experience, customer=customer).order_by("-at")[
        :20
    ]
    return {
        "experience": experience.pk,
        "customer": customer.pk,
        "would_enter": all(c["passed"] for c in checks),
        "checks": checks,
        "conditions": conditions,
        "chain_limit_hits": [
            {"event_key": h.event_key, "depth": h.depth, "at": h.at.isoformat()} for h in hits
        ],
        "runs": [
            {
                "id": run.pk,
                "version": run.version.number,
                "status": run.status,
                "rotation": run.rotation,
                "trigger_event_key": run.trigger_event_key,
                "exit_reason": run.exit_reason,
                "started_at": run.started_at.isoformat(),
                "path": [
                    {
                        "node": step.node.key,
                        "type": step.node.type,
                        "status": step.status,
                        "branch": step.branch,
                        "due_at": step.due_at.isoformat() if step.due_at else None,
                        "result": step.result,
                        "error": step.error,
                    }
                    for step in run.steps.all()
                ],
            }
            for run in runs
        ],
    }
