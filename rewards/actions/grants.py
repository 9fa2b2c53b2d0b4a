"""Give a reward once: ``grant_reward`` checks the store's caps and the experience's budget under
advisory locks, writes the grant (unique per source and per run step), opens the credit lot or
adds the line to the upcoming order, and opens the cross-sell offer. Revoke and extend too."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from config.metrics import GRANTS, count_after_commit
from segments.models import Customer, Store, UpcomingOrder

from ..models import ZERO, CreditEntry, CrossSellOffer, Incentive, RewardGrant, RewardPolicy
from ..params import CreditParams, CrossSellParams, DiscountParams, FreeGiftParams, parse_params
from .common import (
    RewardError,
    add_to_upcoming,
    customer_lock,
    experience_lock,
    lock_customers,
    lock_keys,
    remove_from_upcoming,
    soonest_upcoming,
)

CENT = Decimal("0.01")
DEFAULT_RESPOND_DAYS = 7
MANUAL_PREFIX = "adjustment:"  # source keys of manual credit (not counted against the caps)


def _existing(store: Store, source_key: str, step_id: int | None) -> RewardGrant | None:
    query = Q(store=store, source_key=source_key)
    if step_id is not None:
        query |= Q(step_id=step_id)
    return RewardGrant.objects.filter(query).first()


def _money(value) -> Decimal:
    return Decimal(value).quantize(CENT)


def _product_item(params, price: Decimal) -> dict:
    return {
        "product_id": params.product_id,
        "variant_id": params.variant_id,
        "sku": params.sku,
        "title": params.title,
        "quantity": params.quantity,
        "price": str(price),
    }


def _what_is_given(kind, incentive, amount, upcoming) -> tuple[Decimal, dict]:
    """Return the grant's amount (the value given) and the item it adds to an order."""
    if kind == RewardGrant.Kind.CREDIT:
        if amount is None:
            if incentive is None:
                raise RewardError("A credit grant needs an amount.", field="amount")
            params = parse_params("credit", incentive.params)
            assert isinstance(params, CreditParams)
            if params.amount_type != "fixed":
                raise RewardError(
                    "A percent credit needs the amount computed by its node.", field="amount"
                )
            amount = params.amount
        amount = _money(amount)
        if amount < 0:
            raise RewardError("An amount cannot be negative.", field="amount")
        return amount, {}
    if incentive is None:
        raise RewardError(f"A {kind} grant needs an incentive.", field="incentive")
    params = parse_params(kind, incentive.params)
    if isinstance(params, DiscountParams):
        item = {"type": params.discount_type, "value": str(params.value), "title": incentive.name}
        if params.discount_type == "fixed":
            value = params.value
        else:
            base = upcoming.total if upcoming is not None else ZERO
            value = base * params.value / 100
        return _money(value), item
    if isinstance(params, FreeGiftParams):
        item = {**_product_item(params, ZERO), "list_price": str(params.price)}
        return _money(params.price * params.quantity), item
    assert isinstance(params, CrossSellParams)
    offered = params.offered_price()
    item = {
        **_product_item(params, offered),
        "list_price": str(params.price),
        "discount_type": params.discount_type,
        "discount_value": str(params.discount_value) if params.discount_value else None,
    }
    return _money((params.price - offered) * params.quantity), item


def _cap_reason(store, customer, kind, amount, now) -> str:
    policy = RewardPolicy.objects.filter(store=store).first()
    if policy is None or (
        policy.max_rewards_per_customer is None and policy.max_credit_per_customer is None
    ):
        return ""
    since = now - dt.timedelta(days=policy.period_days)
    recent = (
        RewardGrant.objects.filter(customer=customer, created_at__gte=since)
        .exclude(status=RewardGrant.Status.SKIPPED)
        .exclude(source_key__startswith=MANUAL_PREFIX)
        .aggregate(
            count=Count("id"),
            credit=Sum("amount", filter=Q(kind=RewardGrant.Kind.CREDIT), default=ZERO),
        )
    )
    limit = policy.max_rewards_per_customer
    if limit is not None and recent["count"] + 1 > limit:
        return (
            f"Cap reached: at most {limit} rewards per customer in {policy.period_days} days "
            f"({recent['count']} given)."
        )
    limit = policy.max_credit_per_customer
    if kind == RewardGrant.Kind.CREDIT and limit is not None and recent["credit"] + amount > limit:
        return (
            f"Cap reached: at most {limit} {store.currency} credit per customer in "
            f"{policy.period_days} days ({recent['credit']} given)."
        )
    return ""


def _budget_reason(experience_id, budget, amount, currency) -> str:
    if budget is None or experience_id is None:
        return ""
    spent = (
        RewardGrant.objects.filter(experience_id=experience_id)
        .exclude(status=RewardGrant.Status.SKIPPED)
        .aggregate(total=Sum("amount", default=ZERO))["total"]
    )
    if spent + amount > budget:
        return f"Budget reached: {spent} of {budget} {currency} given, this grant is {amount}."
    return ""


def grant_reward(
    *,
    store: Store,
    customer: Customer,
    source_key: str,
    kind: str,
    incentive: Incentive | None = None,
    amount: Decimal | None = None,
    expires_in_days: int | None = None,
    experience_id: int | None = None,
    run_id: int | None = None,
    step_id: int | None = None,
    budget: Decimal | None = None,
    respond_within_days: int | None = None,
    now: dt.datetime | None = None,
) -> RewardGrant:
    """Give ``customer`` a reward once per ``source_key`` (and per ``step_id``).

    Return the existing grant when this source already granted. A grant that would break the
    store's caps or the experience's budget is written ``skipped`` with the reason. Runs inside
    the caller's transaction (savepoints only); raises ``RewardError`` on bad input.
    """
    now = now or timezone.now()
    if kind not in RewardGrant.Kind.values:
        raise RewardError(f"Choose one of {', '.join(RewardGrant.Kind.values)}.", field="kind")
    if customer.store_id != store.pk:
        raise RewardError("The customer is not of this store.", field="customer")
    if incentive is not None:
        if incentive.store_id != store.pk:
            raise RewardError("The incentive is not of this store.", field="incentive")
        if incentive.kind != kind:
            raise RewardError(f"The incentive gives {incentive.kind}, not {kind}.", "incentive")
    found = _existing(store, source_key, step_id)
    if found is not None:
        return found
    with transaction.atomic():
        keys = [customer_lock(customer.pk)]
        if experience_id is not None:
            keys.append(experience_lock(experience_id))
        # Customer locks sort before experience locks: every path takes them in one order.
        lock_keys(keys)
        found = _existing(store, source_key, step_id)  # a concurrent worker may have granted
        if found is not None:
            return found
        if kind == RewardGrant.Kind.CROSS_SELL:  # offered for it; the line waits for "accept"
            upcoming = (
                UpcomingOrder.objects.filter(
                    customer=customer, status=UpcomingOrder.Status.SCHEDULED
                )
                .order_by("scheduled_at", "id")
                .first()
            )
        else:
            upcoming = soonest_upcoming(customer.pk)
        value, item = _what_is_given(kind, incentive, amount, upcoming)
        reason = ""
        if incentive is not None and not incentive.active:
            reason = f"The incentive {incentive.name!r} is inactive."
        elif kind == RewardGrant.Kind.CREDIT and value <= 0:
            reason = "Nothing to give: the credit amount is 0.00."
        reason = (
            reason
            or _cap_reason(store, customer, kind, value, now)
            or _budget_reason(experience_id, budget, value, store.currency)
        )
        days = expires_in_days
        if days is None and incentive is not None:
            days = incentive.expires_in_days
        if kind == RewardGrant.Kind.CROSS_SELL:
            days = respond_within_days or days or DEFAULT_RESPOND_DAYS
        grant = RewardGrant(
            store=store,
            customer=customer,
            incentive=incentive,
            kind=kind,
            source_key=source_key,
            experience_id=experience_id,
            run_id=run_id,
            step_id=step_id,
            amount=value,
            currency=store.currency,
            item=item,
            status=RewardGrant.Status.SKIPPED if reason else RewardGrant.Status.ISSUED,
            reason=reason[:500],
            expires_at=now + dt.timedelta(days=days) if days else None,
        )
        try:
            with transaction.atomic():
                grant.save(force_insert=True)
        except IntegrityError:
            found = _existing(store, source_key, step_id)
            if found is None:
                raise
            return found
        count_after_commit(GRANTS, kind=kind, status=grant.status)
        if reason:
            return grant
        if kind == RewardGrant.Kind.CREDIT:
            CreditEntry.objects.create(
                store=store,
                customer=customer,
                grant=grant,
                kind=CreditEntry.Kind.GRANT,
                amount=value,
                currency=store.currency,
                key=f"grant:{grant.pk}",
                cause=source_key,
                expires_at=grant.expires_at,
            )
        if kind == RewardGrant.Kind.CROSS_SELL:
            CrossSellOffer.objects.create(
                store=store,
                customer=customer,
                grant=grant,
                upcoming_order=upcoming,
                respond_by=grant.expires_at,
            )
            grant.upcoming_order = upcoming
        elif upcoming is not None:
            add_to_upcoming(upcoming, grant)
            grant.status = RewardGrant.Status.APPLIED
        if grant.upcoming_order_id or grant.status != RewardGrant.Status.ISSUED:
            grant.save(update_fields=["upcoming_order", "status", "updated_at"])
        return grant


def attach_issued(upcoming: UpcomingOrder) -> int:
    """Attach the customer's issued, unattached grants to a newly scheduled upcoming order."""
    with transaction.atomic():
        lock_customers([upcoming.customer_id])
        upcoming = (
            UpcomingOrder.objects.select_for_update(of=("self",)).filter(pk=upcoming.pk).first()
        )
        if upcoming is None or upcoming.status != UpcomingOrder.Status.SCHEDULED:
            return 0
        grants = list(
            RewardGrant.objects.select_for_update(of=("self",))
            .filter(
                customer_id=upcoming.customer_id,
                status=RewardGrant.Status.ISSUED,
                upcoming_order__isnull=True,
            )
            # A cross-sell joins an order once accepted; manual credit is never attached.
            .filter(~Q(kind=RewardGrant.Kind.CROSS_SELL) | Q(offer__status="accepted"))
            .exclude(source_key__startswith=MANUAL_PREFIX)
            .order_by("pk")
        )
        for grant in grants:
            add_to_upcoming(upcoming, grant)
            grant.status = RewardGrant.Status.APPLIED
            grant.save(update_fields=["upcoming_order", "status", "updated_at"])
        CrossSellOffer.objects.filter(
            grant__in=[g.pk for g in grants if g.kind == RewardGrant.Kind.CROSS_SELL]
        ).update(upcoming_order=upcoming)
        return len(grants)


def revoke_grant(
    grant: RewardGrant, *, reason: str, acting_user=None, now: dt.datetime | None = None
) -> RewardGrant:
    """Revoke an open grant: take its line off the order, and what is left of a credit lot."""
    from .credit import close_lot

    reason = (reason or "").strip()
    if not reason:
        raise RewardError("Say why the grant is revoked.", field="reason")
    with transaction.atomic():
        lock_customers([grant.customer_id])
        grant = RewardGrant.objects.select_for_update(of=("self",)).get(pk=grant.pk)
        if grant.status not in RewardGrant.OPEN:
            raise RewardError(
                f"Only an issued or applied grant can be revoked; this one is {grant.status}.",
                field="status",
            )
        if grant.kind == RewardGrant.Kind.CREDIT:
            close_lot(grant, CreditEntry.Kind.REVOCATION, reason=reason, acting_user=acting_user)
        remove_from_upcoming(grant)
        CrossSellOffer.objects.filter(grant=grant, status=CrossSellOffer.Status.SHOWN).update(
            status=CrossSellOffer.Status.REVOKED, responded_at=now or timezone.now()
        )
        grant.status = RewardGrant.Status.REVOKED
        grant.reason = reason[:500]
        grant.save(update_fields=["status", "reason", "updated_at"])
        return grant


def extend_grant(
    grant: RewardGrant,
    *,
    reason: str,
    expires_at: dt.datetime | None = None,
    days: int | None = None,
    acting_user=None,
    now: dt.datetime | None = None,
) -> RewardGrant:
    """Move an open grant's expiry later (to ``expires_at``, or by ``days``), with a reason."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise RewardError("Say why the grant is extended.", field="reason")
    if (expires_at is None) == (days is None):
        raise RewardError("Give either expires_at or days.", field="expires_at")
    if days is not None and days < 1:
        raise RewardError("Extend by at least one day.", field="days")
    with transaction.atomic():
        lock_customers([grant.customer_id])
        grant = RewardGrant.objects.select_for_update(of=("self",)).get(pk=grant.pk)
        if grant.status not in RewardGrant.OPEN:
            raise RewardError(
                f"Only an issued or applied grant can be extended; this one is {grant.status}.",
                field="status",
            )
        if days is not None:
            expires_at = (grant.expires_at or now) + dt.timedelta(days=days)
        if expires_at <= now or (grant.expires_at and expires_at <= grant.expires_at):
            raise RewardError("The new expiry must be later than the current one.", "expires_at")
        grant.expires_at = expires_at
        grant.reason = reason[:500]
        grant.save(update_fields=["expires_at", "reason", "updated_at"])
        CrossSellOffer.objects.filter(grant=grant, status=CrossSellOffer.Status.SHOWN).update(
            respond_by=expires_at
        )
        return grant
