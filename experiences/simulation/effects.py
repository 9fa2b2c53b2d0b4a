"""The simulation's ``Effects``: record what nodes decided, and decide grants as the ledger would.

Memberships and emails are tallied. A grant is valued and checked as ``rewards.actions.grants``
checks it (the same valuation and cap wording, reused from there): an inactive incentive, a
credit of 0.00, the store's caps per customer over their period (counting the grants this
simulation issued before it in replayed time) and the experience's budget (counting this
simulation's grants from the start of the period, as if the version had been live since). So
``skipped_by_cap`` and where the budget bites are what the ledger would have answered.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rewards.actions import RewardError
from rewards.actions.grants import batch_cap_reason, what_is_given
from rewards.models import RewardGrant as Grant
from rewards.models import RewardPolicy

from ..effects import (
    Effect,
    EffectFailed,
    MembershipChange,
    OutboxEmail,
    RecordEffects,
    RewardGrant,
)

ZERO = Decimal("0")


@dataclass
class Tally:
    """What the recorded effects add up to."""

    emails: Counter = field(default_factory=Counter)  # per node key
    added: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    removed: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    issued: Counter = field(default_factory=Counter)  # per kind
    cost: Decimal = ZERO
    wanted_cost: Decimal = ZERO  # issued + what the budget refused (the cost without a budget)
    skipped_by_cap: int = 0
    skipped_by_budget: int = 0
    skipped_other: int = 0
    budget_reached_at: dt.datetime | None = None
    per_node_cost: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))


class SimulatedEffects(RecordEffects):
    """Record effects into tallies (not a list: a year of a large store is millions of them)."""

    def __init__(self, store, experience):
        super().__init__()
        self.store = store
        self.experience = experience
        self.budget: Decimal | None = experience.reward_budget
        policy = RewardPolicy.objects.filter(store_id=store.pk).first()
        if policy is not None and (
            policy.max_rewards_per_customer is None and policy.max_credit_per_customer is None
        ):
            policy = None
        self.policy = policy
        self.tally = Tally()
        # Per capped customer: the grants issued within the policy's period, oldest first.
        self._recent: dict[int, deque] = defaultdict(deque)
        self._members: dict[int, dict[int, bool]] = defaultdict(dict)

    def apply(self, effects: list[Effect]) -> list[dict[str, Any] | EffectFailed]:
        answers: list[dict[str, Any] | EffectFailed] = []
        for e in effects:
            if isinstance(e, MembershipChange):
                answers.append(self._membership(e))
            elif isinstance(e, OutboxEmail):
                self.tally.emails[e.node.key] += 1
                answers.append({"email_delivery_id": None, "to": e.to, "recorded": True})
            elif isinstance(e, RewardGrant):
                answers.append(self._grant(e))
            else:
                answers.append(EffectFailed(f"unknown effect {type(e).__name__}"))
        return answers

    def _membership(self, e: MembershipChange) -> dict[str, Any]:
        state = self._members[e.segment_id]
        changed = state.get(e.customer.pk) is not e.add
        state[e.customer.pk] = e.add
        if changed:
            (self.tally.added if e.add else self.tally.removed)[e.segment_id].add(e.customer.pk)
            other = self.tally.removed if e.add else self.tally.added
            other[e.segment_id].discard(e.customer.pk)
        action = "add" if e.add else "remove"
        return {"action": action, "segment_id": e.segment_id, "changed": changed}

    def _grant(self, e: RewardGrant) -> dict[str, Any] | EffectFailed:
        try:
            value, _item = what_is_given(e.kind, e.incentive, e.amount, None)
        except RewardError as exc:
            return EffectFailed(str(exc))
        reason, why = "", ""
        if e.incentive is not None and not e.incentive.active:
            reason, why = f"The incentive {e.incentive.name!r} is inactive.", "other"
        elif e.kind == Grant.Kind.CREDIT and value <= 0:
            reason, why = "Nothing to give: the credit amount is 0.00.", "other"
        recent = self._recent_of(e.customer.pk, e.now)
        if not reason and recent is not None:
            reason = batch_cap_reason(self.store, self.policy, recent, e.kind, value)
            why = "cap" if reason else ""
        if not reason and self.budget is not None:
            if self.tally.cost + value > self.budget:
                reason = (
                    f"Budget reached: {self.tally.cost} of {self.budget} {self.store.currency}"
                    f" given, this grant is {value}."
                )
                why = "budget"
        answer: dict[str, Any] = {
            "grant_id": None,
            "kind": e.kind,
            "status": Grant.Status.SKIPPED if reason else Grant.Status.ISSUED,
            "amount": str(value),
            "currency": self.store.currency,
        }
        if reason:
            answer["skipped"] = reason
            if why == "cap":
                self.tally.skipped_by_cap += 1
            elif why == "budget":
                self.tally.skipped_by_budget += 1
                self.tally.wanted_cost += value
                if self.tally.budget_reached_at is None:
                    self.tally.budget_reached_at = e.now
            else:
                self.tally.skipped_other += 1
            return answer
        self.tally.issued[e.kind] += 1
        self.tally.cost += value
        self.tally.wanted_cost += value
        self.tally.per_node_cost[e.node.key] += value
        if self.policy is not None:
            self._recent[e.customer.pk].append(
                (e.now, value if e.kind == Grant.Kind.CREDIT else ZERO)
            )
        return answer

    def _recent_of(self, customer_id: int, now: dt.datetime) -> list | None:
        """The customer's [count, credit] in the policy's period up to ``now`` (as the ledger
        reads it), or None without a policy."""
        if self.policy is None:
            return None
        since = now - dt.timedelta(days=self.policy.period_days)
        grants = self._recent[customer_id]
        while grants and grants[0][0] < since:
            grants.popleft()
        if self.policy.max_credit_per_customer is None:
            return [len(grants), ZERO]  # (the credit given is only read against a credit cap)
        return [len(grants), sum((credit for _, credit in grants), ZERO)]
