"""What a merchant reads of a simulation: counts per node and path (keyed by node key, as the live
counts the canvas draws), segment changes, rewards with caps and budget, emails, warnings, a
sample of customers with the reason they got there, and the live version over the same period.
"""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.db.models import Count

from segments import domain
from segments.models import Customer

from ..models import Run
from ..queries import live_counts

MAX_SEGMENT_ADDS = 10_000


def _describe(node_type: str, branch: str, result: dict) -> str:
    """One step of a path in the words the live engine records on its steps."""
    if "failed" in result:
        return f"failed: {result['failed']}"
    if "skipped" in result:
        return f"skipped: {result['skipped']}"
    if result.get("resumed"):
        return f"resumed onto {branch!r}" if branch else "resumed"
    if node_type == "trigger":
        return "entered: the trigger conditions held"
    if node_type == "condition":
        held = [t for t in result.get("tested", []) if t["passed"]]
        if held:
            return f"branch {branch!r}: its conditions held"
        return "branch 'else': no branch's conditions held"
    if node_type == "ab_split":
        return f"A/B path {branch!r} (bucket {result.get('bucket')})"
    if node_type in ("wait", "cross_sell") and ("until" in result or "respond_by" in result):
        return f"waits until {result.get('until') or result.get('respond_by')}"
    if "status" in result and "kind" in result:
        return f"{result['kind']} {result.get('amount', '')} {result['status']}".strip()
    if "action" in result:
        return f"segment {result['segment_id']}: {result['action']}"
    if "to" in result:
        return "email recorded"
    return "done"


def reason_for(run) -> str:
    """Why the run's customer stands where it does: every step of its path, in order."""
    return "; ".join(
        f"{key}: {_describe(node_type, branch, result or {})}"
        for key, node_type, branch, result in run.path
    )


def _paths(branches: dict[str, set[int]]) -> dict[str, dict[str, Any]]:
    counts = {branch: len(customers) for branch, customers in branches.items()}
    if list(counts) == [""]:
        return {}
    total = sum(counts.values())
    return {
        branch: {"count": n, "share": round(n / total, 4) if total else 0.0}
        for branch, n in sorted(counts.items())
    }


def build_result(replay, simulation) -> dict[str, Any]:
    """The result JSON of a finished replay."""
    counts, tally = replay.counts, replay.effects.tally
    graph = replay.graph
    nodes = []
    for node in sorted(graph.nodes.values(), key=lambda n: (n.position_y, n.position_x, n.pk)):
        key = node.key
        nodes.append(
            {
                "node": key,
                "type": node.type,
                "reached": len(counts.reached.get(key, ())),
                "steps": counts.steps.get(key, 0),
                "paths": _paths(counts.branches.get(key, {})),
                "failed": counts.failed.get(key, 0),
                "waiting_at_end": counts.waiting_at_end.get(key, 0),
                "emails": tally.emails.get(key, 0),
                "cost": str(tally.per_node_cost.get(key, Decimal("0.00"))),
            }
        )
    added = sum(len(v) for v in tally.added.values())
    removed = sum(len(v) for v in tally.removed.values())
    segments = sorted(set(tally.added) | set(tally.removed))
    currency = replay.store.currency
    rewards = {
        "count": sum(tally.issued.values()),
        "cost": str(tally.cost),
        "currency": currency,
        "skipped_by_cap": tally.skipped_by_cap,
        "skipped_by_budget": tally.skipped_by_budget,
        "skipped_other": tally.skipped_other,
        "by_kind": dict(tally.issued),
        "budget": str(replay.effects.budget) if replay.effects.budget is not None else None,
        "cost_without_budget": str(tally.wanted_cost),
        "budget_reached_at": (
            tally.budget_reached_at.isoformat() if tally.budget_reached_at else None
        ),
    }
    sample = [item for key in (n["node"] for n in nodes) for item in counts.sample.get(key, [])]
    emails = dict(
        Customer.objects.filter(
            store_id=replay.store.pk, pk__in={item["customer"] for item in sample}
        ).values_list("pk", "email")
    )
    for item in sample:  # the page names customers by email, not by id
        item["email"] = emails.get(item["customer"], "")
        if "path" in item:
            item["reason"] = reason_for(SimpleNamespace(path=item.pop("path")))
    return {
        "period": {
            "start": simulation.period_start.isoformat(),
            "end": simulation.period_end.isoformat(),
            "days": simulation.days,
        },
        "events": {"replayed": sum(replay.events.values()), "by_name": dict(replay.events)},
        "entered": len(replay.entered),
        "runs": replay.runs_started - replay.held_out,
        "held_out": replay.held_out,
        "refused_by_reentry": replay.refused_reentry,
        "nodes": nodes,
        "segment_changes": {
            "added": added,
            "removed": removed,
            "by_segment": [
                {
                    "segment": sid,
                    "added": len(tally.added.get(sid, ())),
                    "removed": len(tally.removed.get(sid, ())),
                }
                for sid in segments
            ],
        },
        "rewards": rewards,
        "emails": sum(tally.emails.values()),
        "warnings": warnings_for(replay, tally, nodes),
        "sample": sample,
        "comparison": compare_with_live(replay, simulation),
    }


def warnings_for(replay, tally, nodes) -> list[dict[str, str]]:
    """What a merchant should not miss before publishing."""
    found = []
    orders = replay.events.get(domain.ORDER_PROCESSED, 0)
    config = replay.trigger_config
    if not replay.replayable():
        event = config.event if config is not None else "?"
        found.append(
            {
                "code": "trigger_not_replayed",
                "message": f"The trigger listens to {event}, which this history does not hold:"
                " only orders and subscriptions are replayed.",
            }
        )
    elif config is not None and config.event == "order_processed" and replay.tested:
        # Among the orders the conditions were tested on (re-entry spares the others a test).
        if replay.matched > replay.tested / 2:
            share = round(100 * replay.matched / replay.tested)
            found.append(
                {
                    "code": "trigger_too_broad",
                    "message": f"The trigger fires for {share}% of the orders it is tested on"
                    f" ({replay.matched} of {replay.tested}; {orders} orders replayed),"
                    " more than half.",
                }
            )
    budget = replay.effects.budget
    if budget is not None and tally.wanted_cost > budget:
        found.append(
            {
                "code": "over_budget",
                "message": f"The rewards would cost {tally.wanted_cost} {replay.store.currency},"
                f" above the budget of {budget}; {tally.skipped_by_budget} grant(s) would be"
                " skipped.",
            }
        )
    for sid, customers in sorted(tally.added.items()):
        if len(customers) > MAX_SEGMENT_ADDS:
            found.append(
                {
                    "code": "segment_too_large",
                    "message": f"Segment {sid} would gain {len(customers)} customers,"
                    f" more than {MAX_SEGMENT_ADDS:,}.",
                }
            )
    for node in nodes:
        if node["waiting_at_end"]:
            found.append(
                {
                    "code": "wait_not_ending",
                    "message": f"{node['waiting_at_end']} run(s) still wait at {node['node']!r}"
                    " at the end of the period.",
                }
            )
        if node["failed"]:
            why = replay.counts.errors.get(node["node"], "")
            found.append(
                {
                    "code": "node_failed",
                    "message": f"{node['failed']} run(s) would fail at {node['node']!r}: {why}",
                }
            )
    return found


def compare_with_live(replay, simulation) -> dict[str, Any] | None:
    """The live version's real counts over the same period, where there is one."""
    experience = replay.experience
    live = experience.live_version
    if live is None:
        return None
    runs = Run.objects.filter(
        store_id=experience.store_id,
        experience=experience,
        version=live,
        started_at__gte=simulation.period_start,
        started_at__lt=simulation.period_end,
    )
    entered = runs.exclude(status=Run.Status.HELD_OUT).aggregate(
        n=Count("customer", distinct=True)
    )["n"]
    counts = live_counts(experience, days=simulation.days)
    return {
        "version": live.number,
        "same_version": replay.version is not None and live.pk == replay.version.pk,
        "entered": entered,
        "nodes": counts["nodes"],
    }
