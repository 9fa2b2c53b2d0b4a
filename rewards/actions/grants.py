"""Give a reward once: ``grant_reward`` checks the store's caps and the experience's budget under
advisory locks, writes the grant (unique per source and per run step), opens the credit lot or
adds the line to the upcoming order, and opens the cross-sell offer. ``grant_rewards`` does the
same for many requests at once, set-based (what the engine's batches use). Revoke and extend too.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from config.metrics import GRANTS, count_after_commit
from segments.models import Customer, Store, UpcomingOrder

from ..models import (
    ZERO,
    CreditEntry,
    CrossSellOffer,
    ExperienceSpend,
    Incentive,
    RewardGrant,
    RewardPolicy,
)
from ..params import CreditParams, CrossSellParams, DiscountParams, FreeGiftParams, parse_params
from .common import (
    RewardError,
    add_to_upcoming,
    customer_lock,
    experience_lock,
    lock_customers,
    lock_keys,
    order_line,
    remove_from_upcoming,
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


def what_is_given(kind, incentive, amount, upcoming) -> tuple[Decimal, dict]:
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
    the caller's transaction; raises ``RewardError`` on bad input. A batch of one
    (``grant_rewards``).
    """
    request = GrantRequest(
        store=store, customer=customer, source_key=source_key, kind=kind, incentive=incentive,
        amount=amount, expires_in_days=expires_in_days, experience_id=experience_id,
        run_id=run_id, step_id=step_id, budget=budget, respond_within_days=respond_within_days,
        now=now,
    )  # fmt: skip
    (result,) = grant_rewards([request])
    if isinstance(result, RewardError):
        raise result
    return result


@dataclass(kw_only=True)
class GrantRequest:
    """One grant asked of ``grant_rewards``: the keyword arguments of ``grant_reward``."""

    store: Store
    customer: Customer
    source_key: str
    kind: str
    incentive: Incentive | None = None
    amount: Decimal | None = None
    expires_in_days: int | None = None
    experience_id: int | None = None
    run_id: int | None = None
    step_id: int | None = None
    budget: Decimal | None = None
    respond_within_days: int | None = None
    now: dt.datetime | None = None


def _check(r: GrantRequest) -> None:
    if r.kind not in RewardGrant.Kind.values:
        raise RewardError(f"Choose one of {', '.join(RewardGrant.Kind.values)}.", field="kind")
    if r.customer.store_id != r.store.pk:
        raise RewardError("The customer is not of this store.", field="customer")
    if r.incentive is not None:
        if r.incentive.store_id != r.store.pk:
            raise RewardError("The incentive is not of this store.", field="incentive")
        if r.incentive.kind != r.kind:
            raise RewardError(f"The incentive gives {r.incentive.kind}, not {r.kind}.", "incentive")


def _existing_many(requests: list[GrantRequest]) -> tuple[dict, dict]:
    """The grants already written for these sources or steps (one statement), by
    ``(store_id, source_key)`` and by ``step_id``."""
    keys: dict[int, set[str]] = defaultdict(set)
    steps = set()
    for r in requests:
        keys[r.store.pk].add(r.source_key)
        if r.step_id is not None:
            steps.add(r.step_id)
    query = Q(step_id__in=steps) if steps else Q(pk__in=[])
    for store_id, source_keys in keys.items():
        query |= Q(store_id=store_id, source_key__in=sorted(source_keys))
    by_source, by_step = {}, {}
    for grant in RewardGrant.objects.filter(query).order_by("pk"):
        by_source.setdefault((grant.store_id, grant.source_key), grant)
        if grant.step_id is not None:
            by_step.setdefault(grant.step_id, grant)
    return by_source, by_step


def _recent_by_customer(requests: list[GrantRequest], policies: dict) -> dict:
    """Each capped customer's grants in the policy's period: ``{(customer_id, since): (count,
    credit)}``, one aggregate statement per store and period (one in practice)."""
    wanted: dict[tuple[int, dt.datetime], set[int]] = defaultdict(set)
    for r in requests:
        policy = policies.get(r.store.pk)
        if policy is not None:
            since = r.now - dt.timedelta(days=policy.period_days)
            wanted[(r.store.pk, since)].add(r.customer.pk)
    recent = {}
    for (_store_id, since), customer_ids in wanted.items():
        rows = (
            RewardGrant.objects.filter(customer_id__in=customer_ids, created_at__gte=since)
            .exclude(status=RewardGrant.Status.SKIPPED)
            .exclude(source_key__startswith=MANUAL_PREFIX)
            .values("customer_id")
            .annotate(
                count=Count("id"),
                credit=Sum("amount", filter=Q(kind=RewardGrant.Kind.CREDIT), default=ZERO),
            )
        )
        for customer_id in customer_ids:
            recent[(customer_id, since)] = [0, ZERO]
        for row in rows:
            recent[(row["customer_id"], since)] = [row["count"], row["credit"]]
    return recent


def batch_cap_reason(store, policy, recent, kind, amount) -> str:
    """Return why the store's caps refuse one more grant to a customer whose recent grants are
    ``recent`` (count, credit), or "" when they allow it. The simulation asks the same question."""
    if policy is None:
        return ""
    count, credit = recent
    limit = policy.max_rewards_per_customer
    if limit is not None and count + 1 > limit:
        return (
            f"Cap reached: at most {limit} rewards per customer in {policy.period_days} days "
            f"({count} given)."
        )
    limit = policy.max_credit_per_customer
    if kind == RewardGrant.Kind.CREDIT and limit is not None and credit + amount > limit:
        return (
            f"Cap reached: at most {limit} {store.currency} credit per customer in "
            f"{policy.period_days} days ({credit} given)."
        )
    return ""


def grant_rewards(requests: list[GrantRequest]) -> list[RewardGrant | RewardError]:
    """Give many rewards at once, with the guarantees of ``grant_reward`` one by one in order.

    Answer, for each request, its grant (the existing one when its source already granted, or a
    ``skipped`` one with the reason) or the ``RewardError`` that refused it. Under the customers'
    and experiences' advisory locks (taken once, in the ledger's order) it reads the existing
    grants, the policies, the recent grants of the capped customers, the spent budgets and the
    upcoming orders in a statement each, decides in request order (two grants of the batch to
    one customer both count against the cap), then writes the grants, the credit lots and the
    offers in an insert each, and each upcoming order's new lines in one update.
    """
    results: list[RewardGrant | RewardError | None] = [None] * len(requests)
    todo: list[int] = []
    now = timezone.now()  # one for the batch: its caps' periods start at one instant
    for i, r in enumerate(requests):
        r.now = r.now or now
        try:
            _check(r)
        except RewardError as exc:
            results[i] = exc
            continue
        todo.append(i)
    if not todo:
        return results  # type: ignore[return-value]
    # No savepoint of its own: a refusal is an answer, not an exception, and a conflict on insert
    # has its own savepoint below; the caller's transaction (or this one) holds the locks.
    with transaction.atomic(savepoint=False):
        asked = [requests[i] for i in todo]
        # Customer locks sort before experience locks: every path takes them in one order.
        lock_keys(
            [customer_lock(r.customer.pk) for r in asked]
            + [experience_lock(r.experience_id) for r in asked if r.experience_id is not None]
        )
        by_source, by_step = _existing_many(asked)
        fresh = []
        for i in todo:
            r = requests[i]
            found = by_source.get((r.store.pk, r.source_key))
            if found is None and r.step_id is not None:
                found = by_step.get(r.step_id)
            if found is not None:
                results[i] = found
            else:
                fresh.append(i)
        if not fresh:
            return results  # type: ignore[return-value]
        asked = [requests[i] for i in fresh]
        policies = {
            p.store_id: p
            for p in RewardPolicy.objects.filter(store_id__in={r.store.pk for r in asked})
            if p.max_rewards_per_customer is not None or p.max_credit_per_customer is not None
        }
        recent = _recent_by_customer(asked, policies)
        budgeted = {r.experience_id for r in asked if r.budget is not None and r.experience_id}
        spent = defaultdict(lambda: ZERO)
        if budgeted:  # kept by the database's triggers on the grants (``ExperienceSpend``)
            spent.update(
                ExperienceSpend.objects.filter(experience_id__in=budgeted).values_list(
                    "experience_id", "spent"
                )
            )
        upcoming_of: dict[int, UpcomingOrder] = {}
        for order in (
            UpcomingOrder.objects.select_for_update(of=("self",))
            .filter(
                customer_id__in={r.customer.pk for r in asked},
                status=UpcomingOrder.Status.SCHEDULED,
            )
            .order_by("customer_id", "scheduled_at", "id")
        ):
            upcoming_of.setdefault(order.customer_id, order)

        new: list[tuple[int, RewardGrant]] = []
        seen_source: dict[tuple[int, str], RewardGrant] = {}
        seen_step: dict[int, RewardGrant] = {}
        later: dict[int, int] = {}  # a request of a source granted earlier in the batch
        for i in fresh:
            r = requests[i]
            earlier = seen_source.get((r.store.pk, r.source_key))
            if earlier is None and r.step_id is not None:
                earlier = seen_step.get(r.step_id)
            if earlier is not None:
                later[i] = id(earlier)
                results[i] = earlier
                continue
            upcoming = upcoming_of.get(r.customer.pk)
            try:
                value, item = what_is_given(r.kind, r.incentive, r.amount, upcoming)
            except RewardError as exc:
                results[i] = exc
                continue
            policy = policies.get(r.store.pk)
            since = r.now - dt.timedelta(days=policy.period_days) if policy else None
            counted = recent.get((r.customer.pk, since)) if policy else None
            reason = ""
            if r.incentive is not None and not r.incentive.active:
                reason = f"The incentive {r.incentive.name!r} is inactive."
            elif r.kind == RewardGrant.Kind.CREDIT and value <= 0:
                reason = "Nothing to give: the credit amount is 0.00."
            reason = reason or batch_cap_reason(r.store, policy, counted, r.kind, value)
            if not reason and r.budget is not None and r.experience_id is not None:
                total = spent[r.experience_id]
                if total + value > r.budget:
                    reason = (
                        f"Budget reached: {total} of {r.budget} {r.store.currency} given, "
                        f"this grant is {value}."
                    )
            days = r.expires_in_days
            if days is None and r.incentive is not None:
                days = r.incentive.expires_in_days
            if r.kind == RewardGrant.Kind.CROSS_SELL:
                days = r.respond_within_days or days or DEFAULT_RESPOND_DAYS
            grant = RewardGrant(
                store=r.store,
                customer=r.customer,
                incentive=r.incentive,
                kind=r.kind,
                source_key=r.source_key,
                experience_id=r.experience_id,
                run_id=r.run_id,
                step_id=r.step_id,
                amount=value,
                currency=r.store.currency,
                item=item,
                status=RewardGrant.Status.SKIPPED if reason else RewardGrant.Status.ISSUED,
                reason=reason[:500],
                expires_at=r.now + dt.timedelta(days=days) if days else None,
            )
            if not reason:
                if counted is not None and not r.source_key.startswith(MANUAL_PREFIX):
                    counted[0] += 1
                    if r.kind == RewardGrant.Kind.CREDIT:
                        counted[1] += value
                if r.experience_id is not None:
                    spent[r.experience_id] += value
                if upcoming is not None:
                    grant.upcoming_order = upcoming
                    if r.kind != RewardGrant.Kind.CROSS_SELL:
                        grant.status = RewardGrant.Status.APPLIED
            seen_source[(r.store.pk, r.source_key)] = grant
            if r.step_id is not None:
                seen_step[r.step_id] = grant
            new.append((i, grant))
            results[i] = grant
        if not new:
            return results  # type: ignore[return-value]
        try:
            with transaction.atomic():
                RewardGrant.objects.bulk_create([g for _, g in new])
        except IntegrityError:
            # Written meanwhile outside these locks (the insert waited for it to commit).
            if len(requests) == 1:  # a batch of one: that grant is the answer
                r = requests[0]
                found = _existing(r.store, r.source_key, r.step_id)
                if found is None:
                    raise
                results[0] = found
                return results  # type: ignore[return-value]
            # Else one by one: each a batch of one, which now reads the grant written meanwhile.
            for i in [i for i, _ in new] + list(later):
                results[i] = grant_rewards([requests[i]])[0]
            return results  # type: ignore[return-value]
        _write_after_grants([g for _, g in new])
    return results  # type: ignore[return-value]


def _write_after_grants(grants: list[RewardGrant]) -> None:
    """The credit lots, the offers and the upcoming orders' lines of freshly written grants."""
    entries, offers = [], []
    lines: dict[int, tuple[UpcomingOrder, dict[str, list]]] = {}
    for grant in grants:
        count_after_commit(GRANTS, kind=grant.kind, status=grant.status)
        if grant.status == RewardGrant.Status.SKIPPED:
            continue
        if grant.kind == RewardGrant.Kind.CREDIT:
            entries.append(
                CreditEntry(
                    store=grant.store,
                    customer=grant.customer,
                    grant=grant,
                    kind=CreditEntry.Kind.GRANT,
                    amount=grant.amount,
                    currency=grant.currency,
                    key=f"grant:{grant.pk}",
                    cause=grant.source_key,
                    expires_at=grant.expires_at,
                )
            )
        if grant.kind == RewardGrant.Kind.CROSS_SELL:
            offers.append(
                CrossSellOffer(
                    store=grant.store,
                    customer=grant.customer,
                    grant=grant,
                    upcoming_order=grant.upcoming_order,
                    respond_by=grant.expires_at,
                )
            )
        elif grant.upcoming_order is not None:
            line = order_line(grant)
            if line is not None:
                order = grant.upcoming_order
                _, changed = lines.setdefault(order.pk, (order, {}))
                name, entry = line
                current = changed.get(name)
                if current is None:
                    current = changed[name] = list(getattr(order, name) or [])
                if not any(isinstance(e, dict) and e.get("grant_id") == grant.pk for e in current):
                    current.append(entry)
    if entries:
        CreditEntry.objects.bulk_create(entries)
    if offers:
        CrossSellOffer.objects.bulk_create(offers)
    for order, changed in lines.values():
        for name, value in changed.items():
            setattr(order, name, value)
        UpcomingOrder.objects.filter(pk=order.pk).update(**changed)


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
