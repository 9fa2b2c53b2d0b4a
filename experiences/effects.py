"""Effects: what a node decided to do to the world, as records, and the ways to carry them out.

Executing a node DECIDES: it reads what it needs and returns an ``Outcome`` (a branch, a wait)
with effect records: a membership change, an outbox email, a reward grant. Applying them is a
separate step behind the ``Effects`` interface, so the same decisions can be applied for real
(``ApplyEffects``: set-based writes, in the transaction of their steps, keeping every unique key
of the database) or only recorded (``RecordEffects``: nothing outside its own list changes; a
simulation keeps them as its results). Whoever walks the runs (one at a time, or a batch side by
side) hands every effect of a level to one ``apply`` call.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from django.db import DatabaseError, transaction

if TYPE_CHECKING:
    from segments.domain import DomainEvent
    from segments.models import Customer, Store

    from .models import Experience, Node, Run, RunStep

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class Effect:
    """Where an effect comes from: the run's step (its row exists when the effect is applied)."""

    store: Store
    customer: Customer
    experience: Experience
    run: Run
    node: Node
    step: RunStep
    event: DomainEvent
    now: dt.datetime

    # Whether the effect's rows point at its step, whose row must then exist when it is applied.
    needs_step_row: ClassVar[bool] = True

    @property
    def reference(self) -> str:
        return f"run:{self.run.pk}/node:{self.node.key}"


@dataclass(kw_only=True)
class MembershipChange(Effect):
    segment_id: int
    add: bool

    needs_step_row: ClassVar[bool] = False  # its reference names the run and the node


@dataclass(kw_only=True)
class OutboxEmail(Effect):
    to: str
    subject: str
    body: str


@dataclass(kw_only=True)
class RewardGrant(Effect):
    kind: str
    incentive: Any = None
    amount: Decimal | None = None
    expires_in_days: int | None = None
    respond_within_days: int | None = None


class EffectFailed(Exception):
    """An effect that could not be carried out; its node's step fails (the others go on)."""


class Effects(Protocol):
    def apply(self, effects: list[Effect]) -> list[dict[str, Any] | EffectFailed]:
        """Carry out the effects (in the caller's transaction); return, for each, what its step
        records (merged into the step's result), or the failure of that one effect."""
        ...


class ApplyEffects:
    """The real thing: memberships, emails and grants written in the caller's transaction.

    Memberships of a whole batch are one set-based change (``segments.actions.change_memberships``),
    emails one insert; grants one call of the ledger (``rewards.actions.grant_rewards``: the
    customers' and experiences' locks once, in the ledger's order, for the caps and budgets, and
    set-based reads and writes), in a savepoint (on an unexpected error, one by one instead).
    ``delivery_ids`` collects the emails to send once the transaction has committed.
    """

    def __init__(self):
        self.delivery_ids: list[int] = []

    def apply(self, effects: list[Effect]) -> list[dict[str, Any] | EffectFailed]:
        answers: list[dict[str, Any] | EffectFailed | None] = [None] * len(effects)
        memberships = [(i, e) for i, e in enumerate(effects) if isinstance(e, MembershipChange)]
        emails = [(i, e) for i, e in enumerate(effects) if isinstance(e, OutboxEmail)]
        grants = [(i, e) for i, e in enumerate(effects) if isinstance(e, RewardGrant)]
        if memberships:
            self._memberships(memberships, answers)
        if emails:
            self._emails(emails, answers)
        if grants:
            self._grants(grants, answers)
        return answers  # type: ignore[return-value]

    def _memberships(self, items, answers) -> None:
        from segments.actions import MembershipRequest, change_memberships
        from segments.models import MembershipSource

        by_store: dict[int, list] = {}
        for i, e in items:
            by_store.setdefault(e.store.pk, []).append((i, e))
        for store_id, group in by_store.items():
            results = change_memberships(
                store_id,
                [
                    MembershipRequest(
                        e.segment_id, e.customer.pk, e.add, reference=e.reference, cause=e.event
                    )
                    for _, e in group
                ],
                source=MembershipSource.EXPERIENCE,
            )
            for (i, e), result in zip(group, results, strict=True):
                action = "add" if e.add else "remove"
                if result == "missing":
                    answers[i] = {"skipped": f"segment {e.segment_id} no longer exists"}
                elif result == "dynamic":
                    answers[i] = EffectFailed("Members of a dynamic segment follow its rule.")
                else:
                    answers[i] = {
                        "action": action,
                        "segment_id": e.segment_id,
                        "changed": result == "changed",
                    }

    def _emails(self, items, answers) -> None:
        from .models import EmailDelivery

        rows = EmailDelivery.objects.bulk_create(
            [
                EmailDelivery(
                    store_id=e.store.pk,
                    step=e.step,
                    step_month=e.step.month,
                    to=e.to,
                    subject=e.subject,
                    body=e.body,
                )
                for _, e in items
            ]
        )
        for (i, e), row in zip(items, rows, strict=True):
            self.delivery_ids.append(row.pk)
            answers[i] = {"email_delivery_id": row.pk, "to": e.to}

    def _grants(self, items, answers) -> None:
        from rewards.actions import RewardError, grant_rewards

        try:
            with transaction.atomic():
                results = grant_rewards([_grant_request(e) for _, e in items])
        except DatabaseError:
            raise
        except Exception:  # noqa: BLE001 - one grant's surprise must not fail the others
            logger.exception("Batch of %s grants failed; granting one by one", len(items))
            for i, e in items:
                answers[i] = self._grant(e)
            return
        for (i, e), result in zip(items, results, strict=True):
            if isinstance(result, RewardError):
                logger.warning("Grant of step %s refused: %s", e.step.pk, result)
                answers[i] = EffectFailed(str(result))
            else:
                answers[i] = grant_result(result)

    def _grant(self, e: RewardGrant) -> dict[str, Any] | EffectFailed:
        from rewards.actions import RewardError, grant_rewards

        try:
            with transaction.atomic():
                (grant,) = grant_rewards([_grant_request(e)])
            if isinstance(grant, RewardError):
                raise grant
        except DatabaseError:
            raise
        except Exception as exc:  # noqa: BLE001 - the ledger refused: this step fails, visibly
            logger.exception("Grant of step %s failed", e.step.pk)
            return EffectFailed(str(exc))
        return grant_result(grant)


def _grant_request(e: RewardGrant):
    """The ledger's request for a step's grant: one per step, keyed by the step."""
    from rewards.actions import GrantRequest

    return GrantRequest(
        store=e.store,
        customer=e.customer,
        source_key=f"step:{e.step.pk}",
        kind=e.kind,
        incentive=e.incentive,
        amount=e.amount,
        expires_in_days=e.expires_in_days,
        respond_within_days=e.respond_within_days,
        experience_id=e.experience.pk,
        run_id=e.run.pk,
        step_id=e.step.pk,
        budget=e.experience.reward_budget,
        now=e.now,
    )


def grant_result(grant) -> dict[str, Any]:
    """What the step records about its grant (a skip keeps its reason under ``skipped``)."""
    from rewards.models import RewardGrant as Grant

    result: dict[str, Any] = {
        "grant_id": grant.pk,
        "kind": grant.kind,
        "status": grant.status,
        "amount": str(grant.amount),
        "currency": grant.currency,
    }
    if grant.status == Grant.Status.SKIPPED:
        result["skipped"] = grant.reason
    return result


@dataclass
class RecordEffects:
    """Record the effects and change nothing else (what a simulation keeps as its results).

    Each effect is answered as the real one would be when nothing stands in its way: a membership
    changes, an email is written, a grant is issued (``status: "recorded"``).
    """

    recorded: list[Effect] = field(default_factory=list)

    def apply(self, effects: list[Effect]) -> list[dict[str, Any] | EffectFailed]:
        self.recorded.extend(effects)
        answers: list[dict[str, Any] | EffectFailed] = []
        for e in effects:
            if isinstance(e, MembershipChange):
                action = "add" if e.add else "remove"
                answers.append({"action": action, "segment_id": e.segment_id, "changed": True})
            elif isinstance(e, OutboxEmail):
                answers.append({"email_delivery_id": None, "to": e.to, "recorded": True})
            elif isinstance(e, RewardGrant):
                amount = str(e.amount) if e.amount is not None else ""
                answers.append({"grant_id": None, "kind": e.kind, "status": "recorded",
                                "amount": amount})  # fmt: skip
            else:
                answers.append(EffectFailed(f"unknown effect {type(e).__name__}"))
        return answers
