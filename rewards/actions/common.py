"""What every rewards action shares: its error, the advisory locks that serialize a customer's
(and an experience's) money, and the upcoming-order lines a grant adds or takes back."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from segments.models import UpcomingOrder

from ..models import RewardGrant


class RewardError(ValueError):
    """A request the ledger refuses; ``errors`` maps the field at fault to messages."""

    def __init__(self, errors: dict[str, list[str]] | str, field: str = "non_field_errors"):
        if isinstance(errors, str):
            errors = {field: [errors]}
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


def lock_keys(keys: Iterable[str]) -> None:
    """Take transaction-scoped advisory locks on ``keys``, in sorted order (no deadlocks)."""
    ordered = sorted(set(keys))
    if not ordered:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(pg_advisory_xact_lock(hashtextextended(k, 0))) "
            "FROM (SELECT k FROM unnest(%s::text[]) AS k ORDER BY k) AS keys",
            [ordered],
        )


def customer_lock(customer_id: int) -> str:
    return f"rewards:customer:{customer_id}"


def experience_lock(experience_id: int) -> str:
    return f"rewards:experience:{experience_id}"


def lock_customers(customer_ids: Iterable[int]) -> None:
    """Serialize every movement of these customers' rewards (grants, spends, expiries)."""
    lock_keys(customer_lock(pk) for pk in customer_ids)


def soonest_upcoming(customer_id: int) -> UpcomingOrder | None:
    """Return the customer's soonest scheduled upcoming order, locked for update."""
    return (
        UpcomingOrder.objects.select_for_update(of=("self",))
        .filter(customer_id=customer_id, status=UpcomingOrder.Status.SCHEDULED)
        .order_by("scheduled_at", "id")
        .first()
    )


def order_line(grant: RewardGrant) -> tuple[str, dict] | None:
    """Return which list of the upcoming order a grant adds to, and the entry it adds."""
    if grant.kind == RewardGrant.Kind.DISCOUNT:
        return "discounts", {"grant_id": grant.pk, **grant.item}
    if grant.kind in (RewardGrant.Kind.FREE_GIFT, RewardGrant.Kind.CROSS_SELL):
        return "added_items", {"grant_id": grant.pk, **grant.item}
    return None


def add_to_upcoming(upcoming: UpcomingOrder, grant: RewardGrant) -> None:
    """Add the grant's line to the (locked) upcoming order, once."""
    line = order_line(grant)
    if line is not None:
        name, entry = line
        current = list(getattr(upcoming, name) or [])
        if not any(isinstance(e, dict) and e.get("grant_id") == grant.pk for e in current):
            current.append(entry)
            setattr(upcoming, name, current)
            UpcomingOrder.objects.filter(pk=upcoming.pk).update(**{name: current})
    grant.upcoming_order = upcoming


def remove_from_upcoming(grant: RewardGrant) -> None:
    """Take the grant's line back off its upcoming order, if it was added."""
    if grant.upcoming_order_id is None:
        return
    line = order_line(grant)
    if line is None:
        return
    name = line[0]
    upcoming = (
        UpcomingOrder.objects.select_for_update(of=("self",))
        .filter(pk=grant.upcoming_order_id)
        .first()
    )
    if upcoming is None:
        return
    current = list(getattr(upcoming, name) or [])
    kept = [e for e in current if not (isinstance(e, dict) and e.get("grant_id") == grant.pk)]
    if kept != current:
        UpcomingOrder.objects.filter(pk=upcoming.pk).update(**{name: kept})
