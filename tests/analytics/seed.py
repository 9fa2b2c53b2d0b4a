"""A small store whose analytics figures are computed by hand in the tests."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from experiences.models import Experience, ExperienceVersion, Node, Run, RunStep
from segments.models import Customer, Order, Segment, SegmentHistory, SegmentMembership
from tests.fixtures.factories import make_customer, make_order, make_subscription

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def join(segment, customer, day: str) -> None:
    SegmentMembership.objects.create(
        store=segment.store, segment=segment, customer=customer, source="manual"
    )
    SegmentMembership.objects.filter(segment=segment, customer=customer).update(added_at=at(day))
    history(segment, customer, "added", day)


def history(segment, customer, action: str, day: str) -> None:
    row = SegmentHistory.objects.create(
        store=segment.store, segment=segment, customer=customer, action=action, source="manual"
    )
    SegmentHistory.objects.filter(pk=row.pk).update(at=at(day))


def order(customer, day: str, total: str, **kwargs) -> Order:
    return make_order(customer, lines=0, processed_at=at(day), total=Decimal(total), **kwargs)


def seed_segment_store(store) -> dict:
    """The segment of the tests: members c1, c2, c3 (c4 left), non-members c5, c6."""
    segment = Segment.objects.create(store=store, name="Milestone reached")
    c = {i: make_customer(store) for i in range(1, 7)}
    join(segment, c[1], "2026-04-01")
    join(segment, c[2], "2026-03-01")
    join(segment, c[3], "2026-06-10")
    history(segment, c[4], "added", "2026-04-01")
    history(segment, c[4], "removed", "2026-05-01")
    order(c[1], "2026-03-20", "10.00")
    order(c[1], "2026-04-05", "20.00")
    order(c[1], "2026-04-20", "30.00")
    order(c[1], "2026-05-20", "40.00")
    order(c[2], "2026-02-15", "50.00")
    order(c[2], "2026-03-10", "25.00")
    order(c[2], "2026-03-12", "100.00", cancelled_at=at("2026-03-13"))
    order(c[5], "2026-06-01", "15.00")
    order(c[5], "2026-06-05", "15.00")
    order(c[6], "2026-05-01", "60.00")
    order(c[3], "2026-06-12", "5.00")
    make_subscription(
        c[2], created_at=at("2026-01-01"), cancelled_at=at("2026-03-15"), status="cancelled"
    )
    make_subscription(c[1], created_at=at("2026-03-01"))
    make_subscription(
        c[5], created_at=at("2026-01-01"), cancelled_at=at("2026-06-01"), status="cancelled"
    )
    return {"segment": segment, "customers": c}


def make_version(store, *, nodes: list[tuple[str, str, dict]], holdout: int = 0):
    experience = Experience.objects.create(
        store=store,
        name=f"Experience {Experience.objects.count() + 1}",
        kind=Experience.Kind.REWARD_STRATEGY,
        holdout_percent=holdout,
    )
    version = ExperienceVersion.objects.create(
        store=store,
        experience=experience,
        number=1,
        state=ExperienceVersion.State.PUBLISHED,
        published_at=NOW - dt.timedelta(days=200),
    )
    experience.live_version = version
    experience.status = Experience.Status.LIVE
    experience.save(update_fields=["live_version", "status"])
    made = {
        key: Node.objects.create(version=version, key=key, type=type_, config=config)
        for key, type_, config in nodes
    }
    return experience, version, made


def run(version, customer, started: dt.datetime, *, held_out: bool = False, steps=()) -> Run:
    r = Run.objects.create(
        store=version.store,
        experience=version.experience,
        version=version,
        customer=customer,
        trigger_event_key=f"event-{customer.pk}-{version.pk}",
        trigger_event_name="order_processed",
        chain_origin=f"event-{customer.pk}",
        status=Run.Status.HELD_OUT if held_out else Run.Status.COMPLETED,
    )
    Run.objects.filter(pk=r.pk).update(started_at=started)
    for node, branch in steps:
        RunStep.objects.create(run=r, node=node, status=RunStep.Status.DONE, branch=branch)
    return r


def seed_outcome(store, version, nodes, *, groups: dict[str, int], rng_seed: int = 7) -> dict:
    """Customers entering 100 days before NOW, each with random orders before and after.

    ``groups``: {"holdout": n, "entered": n} or {"A": n, "B": n} (A/B through the split node).
    Returns, per group, the per-customer arrays the tests compare against (hand-side figures).
    """
    rng = random.Random(rng_seed)
    entered = NOW - dt.timedelta(days=100)
    data: dict[str, dict[str, list]] = {}
    orders = []
    for group, n in groups.items():
        lift = 1 if group in ("entered", "B") else 0
        for _ in range(n):
            customer = make_customer(store)
            steps = [(nodes["trigger"], "")]
            if "split" in nodes:
                steps.append((nodes["split"], group))
            run(version, customer, entered, held_out=group == "holdout", steps=steps)
            x = rng.randint(0, 3)
            y_days = [
                rng.randint(0, 89) for _ in range(rng.randint(0, 2) + lift * rng.randint(0, 1))
            ]
            totals = [Decimal(rng.randint(10, 60)) for _ in y_days]
            for d in range(x):
                orders.append(
                    Order(
                        store=store,
                        customer=customer,
                        external_id=f"p{customer.pk}-{d}",
                        total=Decimal("20.00"),
                        currency="USD",
                        processed_at=entered - dt.timedelta(days=10 + 20 * d),
                    )
                )
            for i, (d, total) in enumerate(zip(y_days, totals, strict=True)):
                orders.append(
                    Order(
                        store=store,
                        customer=customer,
                        external_id=f"y{customer.pk}-{i}",
                        total=total,
                        currency="USD",
                        processed_at=entered + dt.timedelta(days=d, hours=1),
                    )
                )
            g = data.setdefault(group, {k: [] for k in ("x", "o30", "r30", "o90", "r90")})
            g["x"].append(x)
            for w in (30, 90):
                inside = [t for d, t in zip(y_days, totals, strict=True) if d < w]
                g[f"o{w}"].append(len(inside))
                g[f"r{w}"].append(float(sum(inside)))
    Order.objects.bulk_create(orders)
    return data


__all__ = ["Customer"]
