"""Create, change and deactivate a store's incentives (parameters validated per kind), and set
the store's reward caps."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from segments.models import Store

from ..models import Incentive, RewardPolicy
from ..params import InvalidParams, validate_params
from .common import RewardError

UNSET = object()


def _clean(kind: str, params, expires_in_days) -> dict:
    try:
        cleaned = validate_params(kind, params)
    except InvalidParams as exc:
        raise RewardError(exc.errors) from None
    if expires_in_days is not None and expires_in_days < 1:
        raise RewardError("Expire after one day at least.", field="expires_in_days")
    return cleaned


def create_incentive(
    store: Store, *, name: str, kind: str, params: dict, expires_in_days: int | None = None
) -> Incentive:
    """Create an incentive; raise ``RewardError`` naming the bad field."""
    if not (name or "").strip():
        raise RewardError("Give the incentive a name.", field="name")
    cleaned = _clean(kind, params, expires_in_days)
    return Incentive.objects.create(
        store=store, name=name.strip(), kind=kind, params=cleaned, expires_in_days=expires_in_days
    )


def update_incentive(
    incentive: Incentive, *, name=UNSET, params=UNSET, expires_in_days=UNSET, active=UNSET
) -> Incentive:
    """Change an incentive (its kind stays); grants already made keep what they gave."""
    with transaction.atomic():
        incentive = Incentive.objects.select_for_update().get(pk=incentive.pk)
        if name is not UNSET:
            if not (name or "").strip():
                raise RewardError("Give the incentive a name.", field="name")
            incentive.name = name.strip()
        days = incentive.expires_in_days if expires_in_days is UNSET else expires_in_days
        incentive.params = _clean(
            incentive.kind, incentive.params if params is UNSET else params, days
        )
        incentive.expires_in_days = days
        if active is not UNSET:
            incentive.active = bool(active)
        incentive.save()
        return incentive


def deactivate_incentive(incentive: Incentive) -> Incentive:
    """Stop giving an incentive; grants already made stay as they are."""
    return update_incentive(incentive, active=False)


def set_policy(
    store: Store,
    *,
    max_rewards_per_customer: int | None,
    max_credit_per_customer: Decimal | None,
    period_days: int,
) -> RewardPolicy:
    """Set the store's caps across all experiences (``None`` means no cap)."""
    if period_days is None or period_days < 1:
        raise RewardError("The period is at least one day.", field="period_days")
    if max_rewards_per_customer is not None and max_rewards_per_customer < 0:
        raise RewardError("A cap cannot be negative.", field="max_rewards_per_customer")
    if max_credit_per_customer is not None and max_credit_per_customer < 0:
        raise RewardError("A cap cannot be negative.", field="max_credit_per_customer")
    policy, _ = RewardPolicy.objects.update_or_create(
        store=store,
        defaults={
            "max_rewards_per_customer": max_rewards_per_customer,
            "max_credit_per_customer": max_credit_per_customer,
            "period_days": period_days,
        },
    )
    return policy
