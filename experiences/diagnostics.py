"""Answers for support: why a customer did or did not enter an experience, and where each of
their runs went."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from segments import domain
from segments.ingest.apply import order_data
from segments.models import Customer, Order, SegmentMembership, Subscription, UpcomingOrder

from .actions.engine import evaluate_trigger, held_out, reentry_refusal, trigger_config
from .context import EvaluationContext
from .models import ChainLimitHit, Experience, Run


def probable_event(trigger_node, customer: Customer) -> tuple[domain.DomainEvent | None, str]:
    """Return the event the trigger would see for this customer now (their latest order, their
    next charge, their membership of the trigger's segment, ...), or None and why there is none.

    ``explain`` tests it with the trigger's own event filter, exactly as the engine would.
    """
    config, _ = trigger_config(trigger_node)
    if config is None:
        return None, "the trigger configuration is invalid"
    domain_event_name = {
        "order_processed": domain.ORDER_PROCESSED,
        "upcoming_order": domain.UPCOMING_ORDER_SCHEDULED,
        "customer_entered_segment": domain.CUSTOMER_ENTERED_SEGMENT,
        "customer_left_segment": domain.CUSTOMER_LEFT_SEGMENT,
        "subscription_created": domain.SUBSCRIPTION_CREATED,
        "subscription_cancelled": domain.SUBSCRIPTION_CANCELLED,
    }[config.event]
    data: dict[str, Any] = {}
    if config.event == "order_processed":
        order = Order.objects.filter(customer=customer).order_by("-processed_at", "-id").first()
        if order is None:
            return None, "the customer has no order to test"
        data = order_data(order)
    elif config.event == "upcoming_order":
        upcoming = (
            UpcomingOrder.objects.filter(customer=customer, status=UpcomingOrder.Status.SCHEDULED)
            .order_by("scheduled_at", "id")
            .first()
        )
        if upcoming is None:
            return None, "the customer has no scheduled upcoming order"
        data = {
            "upcoming_order_id": upcoming.pk,
            "subscription_id": upcoming.subscription_id,
            "scheduled_at": upcoming.scheduled_at.isoformat(),
        }
    elif config.event in ("customer_entered_segment", "customer_left_segment"):
        member = SegmentMembership.objects.filter(
            customer=customer, segment_id=config.segment_id
        ).exists()
        if member != (config.event == "customer_entered_segment"):
            state = "not in" if not member else "still in"
            return None, f"the customer is {state} segment {config.segment_id}"
        data = {"segment_id": config.segment_id}
    else:
        subs = Subscription.objects.filter(customer=customer)
        if config.event == "subscription_cancelled":
            subs = subs.filter(status=Subscription.Status.CANCELLED)
        subscription = subs.order_by("-created_at", "-id").first()
        if subscription is None:
            return None, "the customer has no subscription to test"
        data = {"subscription_id": subscription.pk, "status": subscription.status}
    event = domain.DomainEvent(
        name=domain_event_name,
        store_id=customer.store_id,
        customer_id=customer.pk,
        key=f"explain:{customer.pk}",
        data=data,
    )
    return event, ""


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
        event, why = probable_event(trigger, customer)
        if event is None:
            check("event", False, why)
        else:
            check("event", True, f"tested on the customer's latest {event.name} ({event.data})")
        # Without an event to test, the conditions are still shown (on the customer's facts).
        decision = evaluate_trigger(trigger, event, EvaluationContext(store, customer))
        conditions = decision.conditions
        check("conditions", decision.enters, decision.reason + " (evaluated now)")
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
