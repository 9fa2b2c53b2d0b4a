"""The simulation's ``Effects``: record what nodes decided, and decide grants as the ledger would.

Memberships and emails are tallied. A grant is valued and checked as ``rewards.actions.grants``
checks it (the same valuation and cap wording, reused from there): an inactive incentive, a
credit of 0.00, the store's caps per customer over their period (counting the grants this
simulation issued before it in replayed time) and the experience's budget (counting this
simulation's grants from the start of the period, as if the version had been live since). So
``skipped_by_cap`` and where the budget bites are what the ledger would have answered.

The replay walks many runs side by side, so grants are asked for out of replayed time. When no
node routes on a grant's answer (``RewardNode.routes_on_answer``), the cap and budget decisions
are deferred: each grant is answered "issued" at once, and ``decide_until`` later decides the
deferred ones in replayed time (then in the order they were asked), updating every answer and
step result that holds them. The replay calls it with a moment no later grant can precede, so the
ledger meets the grants in the order the live engine would.
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


@dataclass
class Deferred:
    """A grant answered "issued" for now, whose cap and budget are decided in replayed time."""

    now: dt.datetime
    seq: int
    customer_id: int
    kind: str
    value: Decimal
    node_key: str
    answers: list[dict] = field(default_factory=list)  # every dict that shows its answer


class SimulatedEffects(RecordEffects):
    """Record effects into tallies (not a list: a year of a large store is millions of them)."""

    def __init__(self, store, experience, *, defer: bool = False):
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
        # Deferred decisions (only when a budget or a cap can refuse): see the module's text.
        self.defer = defer and (self.budget is not None or self.policy is not None)
        self._deferred: list[Deferred] = []
        self._deferred_by_answer: dict[int, Deferred] = {}
        self._seq = 0

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
        reason = ""
        if e.incentive is not None and not e.incentive.active:
            reason = f"The incentive {e.incentive.name!r} is inactive."
        elif e.kind == Grant.Kind.CREDIT and value <= 0:
            reason = "Nothing to give: the credit amount is 0.00."
        answer: dict[str, Any] = {
            "grant_id": None,
            "kind": e.kind,
            "status": Grant.Status.ISSUED,
            "amount": str(value),
            "currency": self.store.currency,
        }
        self._seq += 1
        deferred = Deferred(e.now, self._seq, e.customer.pk, e.kind, value, e.node.key, [answer])
        if reason:
            self._answer(deferred, reason, "other")
        elif self.defer:
            self._deferred.append(deferred)
            self._deferred_by_answer[id(answer)] = deferred
        else:
            self._decide(deferred)
        return answer

    def bind(self, applied: list, result: dict) -> None:
        """``result`` (a step's result) shows these answers too: a deferred decision updates it."""
        for answer in applied:
            if not isinstance(answer, dict):
                continue
            deferred = self._deferred_by_answer.get(id(answer))
            if deferred is not None:
                deferred.answers.append(result)

    def decide_until(self, moment: dt.datetime | None) -> None:
        """Decide the deferred grants asked for before ``moment`` (None: all), in replayed time."""
        if not self._deferred:
            return
        self._deferred.sort(key=lambda d: (d.now, d.seq))
        cut = len(self._deferred)
        if moment is not None:
            cut = next((i for i, d in enumerate(self._deferred) if d.now >= moment), cut)
        due, self._deferred = self._deferred[:cut], self._deferred[cut:]
        for deferred in due:
            del self._deferred_by_answer[id(deferred.answers[0])]
            self._decide(deferred)

    def _decide(self, d: Deferred) -> None:
        """The store's caps, then the experience's budget, as the ledger decides them."""
        reason, why = "", ""
        recent = self._recent_of(d.customer_id, d.now)
        if recent is not None:
            reason = batch_cap_reason(self.store, self.policy, recent, d.kind, d.value)
            why = "cap" if reason else ""
        if not reason and self.budget is not None and self.tally.cost + d.value > self.budget:
            reason = (
                f"Budget reached: {self.tally.cost} of {self.budget} {self.store.currency}"
                f" given, this grant is {d.value}."
            )
            why = "budget"
        if reason:
            self._answer(d, reason, why)
            return
        self.tally.issued[d.kind] += 1
        self.tally.cost += d.value
        self.tally.wanted_cost += d.value
        self.tally.per_node_cost[d.node_key] += d.value
        if self.policy is not None:
            self._recent[d.customer_id].append(
                (d.now, d.value if d.kind == Grant.Kind.CREDIT else ZERO)
            )

    def _answer(self, d: Deferred, reason: str, why: str) -> None:
        """A skipped grant: counted by why, and shown so in every answer that holds it."""
        for answer in d.answers:
            answer["status"] = Grant.Status.SKIPPED
            answer["skipped"] = reason
        if why == "cap":
            self.tally.skipped_by_cap += 1
        elif why == "budget":
            self.tally.skipped_by_budget += 1
            self.tally.wanted_cost += d.value
            if self.tally.budget_reached_at is None:
                self.tally.budget_reached_at = d.now
        else:
            self.tally.skipped_other += 1

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
