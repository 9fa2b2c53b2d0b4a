"""Runs that grant rewards, driven in process by domain events: the right grant once, skips with
their reason (budget, caps), and a cross-sell following the branch of the answer or its timer."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from experiences import actions
from experiences.models import Run, RunStep
from rewards.actions import answer_offer, set_policy
from rewards.models import CreditEntry, CrossSellOffer, RewardGrant
from segments import domain
from tests.fixtures.factories import (
    make_customer,
    make_order,
    make_subscription,
    make_upcoming_order,
)

from .helpers import (
    cross_sell_graph,
    event,
    incentive,
    node,
    order_event,
    publish,
    reward_graph,
)

pytestmark = pytest.mark.django_db


def credit(amount, amount_type="fixed", **extra):
    return node("credit", "credit", {"amount_type": amount_type, "amount": amount, **extra})


def step_of(run, key):
    return RunStep.objects.get(run=run, node__key=key)


def test_percent_credit_takes_the_subscription_items_of_the_order_once(store):
    # given 3% credit on every subscription order, and an order of a subscribed product (19.00)
    # next to a one-time product (19.00)
    experience = publish(store, *reward_graph(credit("3", "percent", expires_in_days=30)))
    customer = make_customer(store)
    make_subscription(customer, product_id="1001")
    order = make_order(customer, lines=2, total=Decimal("38.00"), is_subscription=True)
    ev = order_event(order)
    # when the order is processed, twice (a redelivery)
    actions.process_event(ev)
    actions.process_event(ev)
    # then one credit of 3% of 19.00, expiring in 30 days, recorded on the step
    grant = RewardGrant.objects.get(customer=customer)
    assert (grant.kind, grant.amount, grant.status) == ("credit", Decimal("0.57"), "issued")
    assert grant.experience_id == experience.pk and grant.currency == store.currency
    assert dt.timedelta(days=29) < grant.expires_at - timezone.now() <= dt.timedelta(days=30)
    run = Run.objects.get(experience=experience)
    assert run.status == Run.Status.COMPLETED
    step = step_of(run, "credit")
    assert grant.source_key == f"step:{step.pk}" and grant.step_id == step.pk
    assert step.result["grant_id"] == grant.pk and step.result["amount"] == "0.57"
    assert CreditEntry.objects.get(customer=customer).amount == Decimal("0.57")


def test_incentive_gift_lands_on_the_upcoming_order(store):
    gift = incentive(store, "free_gift")
    publish(store, *reward_graph(node("gift", "incentive", {"incentive_id": gift.pk})))
    customer = make_customer(store)
    upcoming = make_upcoming_order(customer)
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    grant = RewardGrant.objects.get(customer=customer)
    assert (grant.kind, grant.status, grant.incentive_id) == ("free_gift", "applied", gift.pk)
    upcoming.refresh_from_db()
    assert [item["title"] for item in upcoming.added_items] == ["Sample"]


def test_budget_skips_with_the_reason_and_the_run_goes_on(store):
    # given 4.00 credit per order and a budget of 5.00 for the experience
    experience = publish(store, *reward_graph(credit("4.00")), reward_budget=Decimal("5.00"))
    first, second = make_customer(store), make_customer(store)
    # when two customers order
    actions.process_event(order_event(make_order(first, is_subscription=True)))
    actions.process_event(order_event(make_order(second, is_subscription=True)))
    # then the first gets 4.00, the second's grant is skipped with the budget as reason
    granted = RewardGrant.objects.get(customer=first)
    skipped = RewardGrant.objects.get(customer=second)
    assert granted.status == "issued" and skipped.status == "skipped"
    assert "budget" in skipped.reason.lower()
    run = Run.objects.get(experience=experience, customer=second)
    assert run.status == Run.Status.COMPLETED  # the run went on to its end
    assert "budget" in step_of(run, "credit").result["skipped"].lower()
    assert not CreditEntry.objects.filter(customer=second).exists()


def test_store_cap_skips_across_experiences(store):
    # given at most one reward per customer in 30 days, and two experiences granting credit
    set_policy(store, max_rewards_per_customer=1, max_credit_per_customer=None, period_days=30)
    publish(store, *reward_graph(credit("2.00")), name="One")
    publish(store, *reward_graph(credit("3.00")), name="Two")
    customer = make_customer(store)
    # when one order starts both
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    # then one grant is issued and the other skipped naming the cap
    statuses = sorted(RewardGrant.objects.filter(customer=customer).values_list("status", "reason"))
    assert [s for s, _ in statuses] == ["issued", "skipped"]
    assert "at most 1" in statuses[1][1].lower() or "cap" in statuses[1][1].lower()
    assert Run.objects.filter(customer=customer, status=Run.Status.COMPLETED).count() == 2


def _offer_run(store, received_events=None):
    offer = incentive(store, "cross_sell")
    experience = publish(
        store, *cross_sell_graph(offer, days=2), kind="upcoming_order_cross_sell", name="Offer"
    )
    customer = make_customer(store)
    make_upcoming_order(customer)
    # an upcoming_order trigger three days before a charge that is 3 days away starts at once
    make_subscription(customer, next_charge_date=timezone.localdate() + dt.timedelta(days=3))
    actions.process_event(event(domain.UPCOMING_ORDER_SCHEDULED, customer))
    run = Run.objects.get(experience=experience)
    return run, customer


@pytest.mark.parametrize("answer, end", [("accepted", "yes"), ("declined", "no")])
def test_cross_sell_follows_the_answer(
    store, received_events, django_capture_on_commit_callbacks, answer, end
):
    # given a run waiting at its offer
    run, customer = _offer_run(store)
    assert run.status == Run.Status.WAITING
    offer = CrossSellOffer.objects.get(customer=customer)
    waiting = step_of(run, "offer")
    assert waiting.status == "waiting" and waiting.result["grant_id"] == offer.grant_id
    # when the customer answers, and the engine gets the announced event (twice)
    with django_capture_on_commit_callbacks(execute=True):
        answer_offer(offer, answer)
    answered = [e for e in received_events if e.name == "cross_sell_answered"]
    assert len(answered) == 1
    actions.process_event(answered[0])
    actions.process_event(answered[0])
    # then the run followed the branch named by the answer to its end
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert step_of(run, "offer").branch == answer
    assert RunStep.objects.filter(run=run, node__key=end, status="done").exists()
    assert RewardGrant.objects.filter(customer=customer).count() == 1


def test_answer_to_another_offer_does_not_resume_the_run(store):
    run, customer = _offer_run(store)
    stray = event("cross_sell_answered", customer, grant_id=-1, offer_id=-1, answer="accepted")
    actions.process_event(stray)
    run.refresh_from_db()
    assert run.status == Run.Status.WAITING


def test_cross_sell_unanswered_expires_by_its_timer(store):
    run, customer = _offer_run(store)
    start = timezone.now()
    with time_machine.travel(start + dt.timedelta(days=1)):
        assert actions.resume_due_waits() == []
    with time_machine.travel(start + dt.timedelta(days=2, minutes=1)):
        assert actions.resume_due_waits() == [run.pk]
        actions.advance_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert step_of(run, "offer").branch == "expired"
    assert RunStep.objects.filter(run=run, node__key="late", status="done").exists()


def test_deactivated_incentive_is_a_skipped_grant_and_the_run_goes_on(store):
    # given a gift experience whose incentive is deactivated after publishing
    from rewards.actions import deactivate_incentive

    gift = incentive(store, "free_gift")
    experience = publish(store, *reward_graph(node("gift", "incentive", {"incentive_id": gift.pk})))
    deactivate_incentive(gift)
    customer = make_customer(store)
    # when an order starts a run
    actions.process_event(order_event(make_order(customer, is_subscription=True)))
    # then the ledger records the skip with its reason, and the run completes
    grant = RewardGrant.objects.get(customer=customer)
    assert grant.status == "skipped" and "inactive" in grant.reason
    run = Run.objects.get(experience=experience)
    assert run.status == Run.Status.COMPLETED
    assert "inactive" in step_of(run, "gift").result["skipped"]
