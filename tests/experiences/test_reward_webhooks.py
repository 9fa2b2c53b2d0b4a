"""End to end, on real workers: signed webhooks in, the experiences created from every template
run, and the ledger holds the right grants, once. A duplicate delivery grants nothing; a worker
killed mid-grant grants once; a budget skips with its reason; a cross-sell offer answered on its
page (or left to expire) moves the run onto the branch of the answer."""

import datetime as dt
import time
from decimal import Decimal

import psycopg
import time_machine
from django.db import connection
from django.utils import timezone

from experiences import actions
from experiences.models import EmailDelivery, Experience, Run, RunStep
from experiences.nodes.base import bucket
from rewards.models import CrossSellOffer, RewardGrant
from rewards.offers import offer_path
from segments.models import Customer, MembershipSource, Segment, SegmentMembership
from tests.fixtures.factories import make_customer, make_order, make_subscription
from tests.fixtures.payloads import load, post_recharge, post_shopify
from tests.fixtures.worker import wait_until

WORKER_ENV = {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
ORDER_TEMPLATES = [
    "credit_after_purchase",
    "milestone_gift",
    "streak_reward",
    "ab_test_reward",
    "tag_milestone_customers",
    "surprise_free_gift",
]


def from_template(store, key, **settings) -> Experience:
    experience = actions.create_from_template(store, name=key, template=key, **settings)
    actions.publish_draft(experience)
    experience.refresh_from_db()
    return experience


def subscriber(store, shopify_id: str, prior_orders: int) -> Customer:
    """A customer subscribed to product 1001 with ``prior_orders`` subscription orders."""
    customer = make_customer(store, shopify_id=shopify_id, email=f"c{shopify_id}@example.com")
    make_subscription(customer, product_id="1001", variant_id="2001")
    for n in range(prior_orders):
        make_order(customer, external_id=f"{shopify_id}-{n}", is_subscription=True)
    return customer


def post_order(client, store, customer, order_id: int):
    """A paid subscription order: the subscribed coffee (19.00) and a one-time mug (10.00)."""
    payload = {
        "id": order_id,
        "name": f"#{order_id}",
        "email": customer.email,
        "currency": "USD",
        "total_price": "29.00",
        "financial_status": "paid",
        "tags": "Subscription, Subscription Recurring Order",
        "customer": {"id": int(customer.shopify_id), "email": customer.email},
        "line_items": [
            {"product_id": 1001, "variant_id": 2001, "sku": "COFFEE-1", "title": "Coffee",
             "quantity": 1, "price": "19.00"},
            {"product_id": 3001, "variant_id": 4001, "sku": "MUG", "title": "Mug",
             "quantity": 1, "price": "10.00"},
        ],
        "created_at": "2026-11-25T10:00:00Z",
        "processed_at": "2026-11-25T10:00:00Z",
    }  # fmt: skip
    answer = post_shopify(
        client,
        store,
        "orders/paid",
        payload,
        event_id=f"event-{order_id}",
        HTTP_X_SHOPIFY_WEBHOOK_ID=f"webhook-{order_id}",
    )
    assert answer.status_code in (200, 201, 202), answer.content


def grants_by_experience(customer) -> dict[str, tuple[str, str, Decimal]]:
    names = dict(Experience.objects.values_list("pk", "name"))
    found: dict[str, tuple[str, str, Decimal]] = {}
    for grant in RewardGrant.objects.filter(customer=customer):
        name = names[grant.experience_id]
        assert name not in found, f"two grants from {name}"
        found[name] = (grant.kind, grant.status, grant.amount)
    return found


def _runs_done(count: int) -> bool:
    return Run.objects.filter(status__in=["completed", "failed"]).count() >= count


def test_every_order_template_grants_once_from_signed_webhooks(
    celery_worker_process, store, client
):
    # given every order-triggered template live, and customers at their 1st, 2nd, 3rd, 6th order
    live = {key: from_template(store, key) for key in ORDER_TEMPLATES}
    first = subscriber(store, "8001", prior_orders=0)
    seconds = []  # two customers at their 2nd order, one on each path of the A/B test
    for n in range(20):
        candidate = subscriber(store, f"81{n:02d}", prior_orders=1)
        path = "reward" if bucket(live["ab_test_reward"].pk, "split", candidate.pk) < 50 else ""
        if path not in {bucket_path for _, bucket_path in seconds}:
            seconds.append((candidate, path))
        if len(seconds) == 2:
            break
    assert len(seconds) == 2, "no customer on one of the A/B paths"
    third = subscriber(store, "8201", prior_orders=2)
    sixth = subscriber(store, "8301", prior_orders=5)
    members = Segment.objects.get(store=store, name="Surprise and delight")
    for customer, _ in seconds:
        SegmentMembership.objects.create(
            store=store, segment=members, customer=customer, source=MembershipSource.MANUAL
        )
    celery_worker_process(extra_env=WORKER_ENV)
    buyers = [first, *(c for c, _ in seconds), third, sixth]
    # when each customer's order arrives as a signed webhook, delivered twice
    for i, customer in enumerate(buyers):
        for _ in range(2):
            post_order(client, store, customer, 9100 + i)
    # then (runs: 1 + 2x3 + 3 + 2 = 12) each template granted what it gives, once
    wait_until(lambda: _runs_done(12), timeout=90, message="the runs did not finish")
    time.sleep(2)  # let the duplicates be processed too
    assert not Run.objects.filter(status="failed").exists()
    assert Run.objects.count() == 12
    credit = ("credit", "issued", Decimal("0.57"))  # 3% of the coffee, not of the mug
    gift = ("free_gift", "issued", Decimal("5.00"))  # no upcoming order yet: issued
    assert grants_by_experience(first) == {"credit_after_purchase": credit}
    for customer, path in seconds:
        expected = {"credit_after_purchase": credit, "surprise_free_gift": gift}
        if path == "reward":
            expected["ab_test_reward"] = ("credit", "issued", Decimal("5.00"))
        assert grants_by_experience(customer) == expected
    assert grants_by_experience(third) == {
        "credit_after_purchase": credit,
        "milestone_gift": gift,
        "tag_milestone_customers": ("credit", "issued", Decimal("5.00")),
    }
    assert (
        Segment.objects.get(name="Milestone customers").memberships.filter(customer=third).exists()
    )
    assert grants_by_experience(sixth) == {
        "credit_after_purchase": credit,
        "streak_reward": ("credit", "issued", Decimal("10.00")),
    }
    # and every grant is keyed by its step
    for grant in RewardGrant.objects.all():
        assert grant.source_key == f"step:{grant.step_id}"


def _test_db_dsn() -> str:
    s = connection.settings_dict
    return (
        f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432}"
        f" user={s['USER']} dbname={s['NAME']}"
        + (f" password={s['PASSWORD']}" if s.get("PASSWORD") else "")
    )


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0]


def test_worker_killed_mid_grant_grants_once(celery_worker_process, store, client):
    # given the 3% credit experience, and another connection holding its ledger lock so the
    # worker blocks in the middle of the grant
    experience = from_template(store, "credit_after_purchase")
    customer = subscriber(store, "8401", prior_orders=0)
    worker = celery_worker_process(extra_env=WORKER_ENV)
    blocker = psycopg.connect(_test_db_dsn())
    blocker.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
        [f"rewards:experience:{experience.pk}"],
    )
    try:
        post_order(client, store, customer, 9401)
        wait_until(_waiting_on_a_lock, timeout=40, message="the worker never reached the grant")
        # when the worker is killed there
        worker.kill()
    finally:
        blocker.rollback()
        blocker.close()
    assert not RewardGrant.objects.exists()
    # and a new worker picks the unacknowledged task up again
    time.sleep(3)
    celery_worker_process(extra_env={**WORKER_ENV, "CELERY_VISIBILITY_TIMEOUT": "2"})
    wait_until(lambda: _runs_done(1), timeout=40, message="not resumed")
    # then the credit was granted once
    time.sleep(1)
    assert Run.objects.get().status == "completed"
    grant = RewardGrant.objects.get()
    assert (grant.customer_id, grant.amount) == (customer.pk, Decimal("0.57"))
    assert grant.status == "issued"


def test_budget_skips_with_the_reason_on_a_worker(celery_worker_process, store, client):
    # given 3% credit with a budget of 1.00: room for one 0.57 credit, not two
    experience = from_template(store, "credit_after_purchase", reward_budget=Decimal("1.00"))
    one, two = subscriber(store, "8501", 0), subscriber(store, "8502", 0)
    celery_worker_process(extra_env=WORKER_ENV)
    post_order(client, store, one, 9501)
    wait_until(lambda: _runs_done(1), timeout=40)
    post_order(client, store, two, 9502)
    wait_until(lambda: _runs_done(2), timeout=40)
    assert RewardGrant.objects.get(customer=one).status == "issued"
    skipped = RewardGrant.objects.get(customer=two)
    assert skipped.status == "skipped" and "budget" in skipped.reason.lower()
    run = Run.objects.get(customer=two, experience=experience)
    assert run.status == "completed"
    assert "budget" in RunStep.objects.get(run=run, node__key="credit").result["skipped"].lower()


def _charge_upcoming(client, store, charge_id: int, recharge_customer: int, email: str):
    payload = load("recharge_charge_upcoming")
    charge = payload["charge"]
    charge["id"] = charge_id
    charge["scheduled_at"] = (timezone.localdate() + dt.timedelta(days=3)).isoformat()
    charge["customer"]["id"] = recharge_customer
    charge["customer"]["email"] = email
    charge["customer"]["external_customer_id"] = {"ecommerce": str(recharge_customer + 1)}
    answer = post_recharge(client, store, "charge/upcoming", payload)
    assert answer.status_code in (200, 201, 202), answer.content


def _offer_for(email: str) -> CrossSellOffer:
    return wait_until(
        lambda: CrossSellOffer.objects.filter(customer__email=email).first(),
        timeout=40,
        message=f"no offer for {email}",
    )


def test_cross_sell_answers_on_the_offer_page_follow_their_branch(
    celery_worker_process, store, client
):
    # given the cross-sell template live, and two customers whose next charge is in 3 days
    experience = from_template(store, "cross_sell_before_charge")
    celery_worker_process(extra_env=WORKER_ENV)
    _charge_upcoming(client, store, 7701, 5501, "yes@example.com")
    _charge_upcoming(client, store, 7702, 5502, "no@example.com")
    yes, no = _offer_for("yes@example.com"), _offer_for("no@example.com")
    wait_until(lambda: Run.objects.filter(status="waiting").count() == 2, timeout=20)
    # when one accepts and the other declines on the offer page (the CSRF-exempt test client)
    for offer, answer in ((yes, "accept"), (no, "decline")):
        page = client.get(offer_path(offer))
        assert page.status_code == 200
        assert client.post(offer_path(offer), {"answer": answer}).status_code == 200
    # then each run resumes onto the branch of its answer, the accepted one thanking by email
    wait_until(lambda: Run.objects.filter(status="completed").count() == 2, timeout=40)
    branches = dict(
        RunStep.objects.filter(run__experience=experience, node__key="offer").values_list(
            "run__customer__email", "branch"
        )
    )
    assert branches == {"yes@example.com": "accepted", "no@example.com": "declined"}
    wait_until(lambda: EmailDelivery.objects.filter(status="sent").exists(), timeout=20)
    assert list(EmailDelivery.objects.values_list("to", flat=True)) == ["yes@example.com"]
    assert RewardGrant.objects.count() == 2


def test_cross_sell_left_unanswered_expires_onto_its_branch(celery_worker_process, store, client):
    # given a customer waiting at an offer
    experience = from_template(store, "cross_sell_before_charge")
    celery_worker_process(extra_env=WORKER_ENV)
    _charge_upcoming(client, store, 7801, 5601, "late@example.com")
    _offer_for("late@example.com")
    run = wait_until(lambda: Run.objects.filter(status="waiting").first(), timeout=20)
    # when the sweep runs after the two days to answer have passed
    with time_machine.travel(timezone.now() + dt.timedelta(days=2, minutes=5)):
        assert actions.resume_due_waits() == [run.pk]
    # then the worker walks it on the expired branch to its end, with no email
    wait_until(lambda: Run.objects.filter(status="completed").exists(), timeout=40)
    step = RunStep.objects.get(run=run, node__key="offer")
    assert step.branch == "expired"
    assert RunStep.objects.filter(run=run, node__key="end", status="done").exists()
    assert not EmailDelivery.objects.filter(step__run__experience=experience).exists()
