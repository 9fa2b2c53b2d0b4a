"""A simulation's caps and budget decide grants in replayed time, whatever order the replay's
side-by-side walk asks for them in (the live engine meets them in that time)."""

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from experiences.effects import RewardGrant
from experiences.simulation.effects import SimulatedEffects
from rewards.models import RewardGrant as Grant
from rewards.models import RewardPolicy
from tests.fixtures.factories import make_customer

from .helpers import publish, static_segment
from .simulation_helpers import replay_graph

pytestmark = pytest.mark.django_db


def _grant(store, experience, customer, now, key="credit"):
    return RewardGrant(
        store=store,
        customer=customer,
        experience=experience,
        run=None,
        node=SimpleNamespace(key=key),
        step=None,
        event=None,
        now=now,
        kind=Grant.Kind.CREDIT,
        amount=Decimal("5.00"),
    )


def _experience(store, **settings):
    nodes, edges = replay_graph(static_segment(store, "VIP"))
    return publish(store, nodes, edges, **settings)


def test_the_budget_goes_to_the_earliest_grants_whatever_order_they_are_asked_in(store):
    # given a budget of one credit and two grants asked for late first, then early
    experience = _experience(store, reward_budget=Decimal("5.00"))
    effects = SimulatedEffects(store, experience, defer=True)
    early, late = timezone.now() - dt.timedelta(days=2), timezone.now() - dt.timedelta(days=1)
    ann, bob = make_customer(store), make_customer(store)
    [late_answer] = effects.apply([_grant(store, experience, bob, late)])
    [early_answer] = effects.apply([_grant(store, experience, ann, early)])
    step_result = dict(late_answer)
    effects.bind([late_answer], step_result)  # a step's result that shows the late answer
    # when the grants before the late one's moment are decided, then all
    effects.decide_until(late)
    assert early_answer["status"] == Grant.Status.ISSUED
    assert effects.tally.cost == Decimal("5.00") and not effects.tally.skipped_by_budget
    effects.decide_until(None)
    # then the early one was issued and the late one refused by the budget, on its step too
    assert late_answer["status"] == step_result["status"] == Grant.Status.SKIPPED
    assert step_result["skipped"].startswith("Budget reached")
    assert effects.tally.skipped_by_budget == 1
    assert effects.tally.budget_reached_at == late


def test_a_cap_counts_the_grants_before_in_replayed_time(store):
    # given at most one reward per customer in 30 days, and one customer's three grants asked for
    # out of order (day 20, day 1, day 40)
    RewardPolicy.objects.create(store=store, max_rewards_per_customer=1, period_days=30)
    experience = _experience(store)
    effects = SimulatedEffects(store, experience, defer=True)
    ann = make_customer(store)
    start = timezone.now() - dt.timedelta(days=60)
    answers = {
        day: effects.apply([_grant(store, experience, ann, start + dt.timedelta(days=day))])[0]
        for day in (20, 1, 40)
    }
    effects.decide_until(None)
    # then day 1 is issued, day 20 capped (day 1 is within 30 days), day 40 issued again
    assert [answers[d]["status"] for d in (1, 20, 40)] == [
        Grant.Status.ISSUED,
        Grant.Status.SKIPPED,
        Grant.Status.ISSUED,
    ]
    assert effects.tally.skipped_by_cap == 1 and sum(effects.tally.issued.values()) == 2


def test_without_deferral_the_grants_are_decided_as_asked(store):
    # given the same budget and order, decided at once (a version with a cross-sell)
    experience = _experience(store, reward_budget=Decimal("5.00"))
    effects = SimulatedEffects(store, experience, defer=False)
    early, late = timezone.now() - dt.timedelta(days=2), timezone.now() - dt.timedelta(days=1)
    [late_answer] = effects.apply([_grant(store, experience, make_customer(store), late)])
    [early_answer] = effects.apply([_grant(store, experience, make_customer(store), early)])
    # then the first asked took the budget
    assert late_answer["status"] == Grant.Status.ISSUED
    assert early_answer["status"] == Grant.Status.SKIPPED
