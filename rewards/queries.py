"""Read helpers of the ledger: balances and lots are sums of entries, never stored copies."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, QuerySet, Sum

from segments.models import Customer, Store
from segments.queries import scoped

from .models import ZERO, CreditEntry, CrossSellOffer, Incentive, RewardGrant


def balance_of(customer: Customer) -> Decimal:
    """Return the customer's credit balance: the sum of their entries, in one query."""
    return CreditEntry.objects.filter(customer_id=customer.pk).aggregate(
        balance=Sum("amount", default=ZERO)
    )["balance"]


def entries_of(customer: Customer) -> QuerySet[CreditEntry]:
    return CreditEntry.objects.filter(customer_id=customer.pk).select_related("acting_user")


def outstanding_liability(store: Store) -> Decimal:
    """Return the credit the store owes its customers: the sum of all its entries."""
    return CreditEntry.objects.filter(store=store).aggregate(total=Sum("amount", default=ZERO))[
        "total"
    ]


def incentives_for(store: Store) -> QuerySet[Incentive]:
    return scoped(Incentive, store)


def grants_for(store: Store) -> QuerySet[RewardGrant]:
    return scoped(RewardGrant, store).select_related("customer", "incentive")


def offers_for(store: Store) -> QuerySet[CrossSellOffer]:
    return scoped(CrossSellOffer, store)


def grant_summary(store: Store) -> dict:
    """Return the outstanding liability and the grants counted by status and by kind."""
    rows = (
        scoped(RewardGrant, store)
        .values("status", "kind")
        .annotate(count=Count("id"), amount=Sum("amount", default=ZERO))
        .order_by()
    )
    by_status: dict[str, int] = {s: 0 for s in RewardGrant.Status.values}
    by_kind: dict[str, dict] = {k: {"count": 0, "amount": ZERO} for k in RewardGrant.Kind.values}
    for row in rows:
        by_status[row["status"]] += row["count"]
        if row["status"] != RewardGrant.Status.SKIPPED:
            by_kind[row["kind"]]["count"] += row["count"]
            by_kind[row["kind"]]["amount"] += row["amount"]
    return {
        "currency": store.currency,
        "outstanding_credit": outstanding_liability(store),
        "grants_by_status": by_status,
        "grants_by_kind": by_kind,
    }
