"""Read helpers of the ledger: balances and lots are sums of entries, never stored copies."""

from __future__ import annotations

from decimal import Decimal

from django.db import connection
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
    """Return the credit the store owes its customers: the sum of all its entries.

    One query: the store's checkpoint (the sum of its entries up to one id, see
    ``LiabilityCheckpoint``) plus the entries after it.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT coalesce(max(cp.total), 0) + coalesce((
                SELECT sum(e.amount) FROM rewards_creditentry e
                WHERE e.store_id = %(store)s AND e.id > coalesce(max(cp.upto_entry_id), 0)
            ), 0)
            FROM rewards_liabilitycheckpoint cp WHERE cp.store_id = %(store)s
            """,
            {"store": store.pk},
        )
        return Decimal(cursor.fetchone()[0]).quantize(Decimal("0.01"))


def full_liability(store: Store) -> Decimal:
    """Return the same sum over every entry, without the checkpoint (to check it, and bench)."""
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


def reward_figures(store: Store, *, experience_id: int, run_ids: QuerySet | None = None) -> dict:
    """Return an experience's rewards for its analytics (two grouped queries).

    ``run_ids``: a query of run ids (one version's runs) to count only their grants. Grants are
    counted by status with their value; ``cost`` is the value of what customers actually got
    (redeemed grants, and credit spent). Cross-sell offers are counted by answer, and
    ``revenue_added`` is what accepted offers added to orders (price times quantity).
    """
    grants = scoped(RewardGrant, store).filter(experience_id=experience_id)
    if run_ids is not None:
        grants = grants.filter(run_id__in=run_ids)
    by_status = {s: {"count": 0, "value": ZERO} for s in RewardGrant.Status.values}
    for status, count, value in (
        grants.values_list("status")
        .annotate(count=Count("id"), value=Sum("amount", default=ZERO))
        .order_by()
    ):
        by_status[status] = {"count": count, "value": value}
    spent = (
        scoped(CreditEntry, store)
        .filter(grant__in=grants, kind=CreditEntry.Kind.SPEND)
        .aggregate(s=Sum("amount", default=ZERO))["s"]
    )
    redeemed_other = (
        grants.filter(status=RewardGrant.Status.REDEEMED)
        .exclude(kind=RewardGrant.Kind.CREDIT)
        .aggregate(s=Sum("amount", default=ZERO))["s"]
    )
    offers = scoped(CrossSellOffer, store).filter(grant__in=grants)
    with connection.cursor() as cur:
        sql, params = offers.values("id").query.sql_with_params()
        cur.execute(
            f"""SELECT o.status, count(*),
                   coalesce(sum(CASE WHEN o.status = 'accepted'
                       THEN coalesce((g.item->>'price')::numeric, 0)
                            * coalesce((g.item->>'quantity')::numeric, 1) END), 0)
                FROM rewards_crossselloffer o JOIN rewards_rewardgrant g ON g.id = o.grant_id
                WHERE o.id IN ({sql}) GROUP BY o.status""",
            params,
        )
        offer_rows = cur.fetchall()
    offer_counts = {s: 0 for s in CrossSellOffer.Status.values}
    revenue = ZERO
    for status, count, added in offer_rows:
        offer_counts[status] = count
        revenue += Decimal(added)
    return {
        "currency": store.currency,
        "grants": {
            s: {"count": v["count"], "value": str(v["value"])} for s, v in by_status.items()
        },
        "cost": str(-spent + redeemed_other),
        "offers": offer_counts,
        "revenue_added": str(revenue.quantize(Decimal("0.01"))),
    }
