"""On a real worker: a signed Recharge charge/paid, delivered twice, spends credit once."""

from decimal import Decimal

from rewards.actions import grant_reward
from rewards.models import CreditEntry
from rewards.queries import balance_of
from tests.fixtures.factories import make_customer, make_store
from tests.fixtures.payloads import load, post_recharge
from tests.fixtures.worker import wait_until


def test_charge_paid_spends_credit_once_on_a_real_worker(celery_worker_process, client):
    # given Jane with 50.00 of credit, and a worker on every queue
    store = make_store()
    jane = make_customer(store, email="jane.doe@example.com", recharge_id="87654321")
    grant_reward(store=store, customer=jane, source_key="s", kind="credit", amount=Decimal(50))
    celery_worker_process(concurrency=2)
    # when her 39.20 charge is paid, and the webhook is delivered twice
    for _ in range(2):
        response = post_recharge(client, store, "charge/paid", load("recharge_charge_paid"))
        assert response.status_code in (200, 202)
    # then it is spent once
    wait_until(lambda: CreditEntry.objects.filter(kind="spend").exists(), timeout=60)
    assert CreditEntry.objects.filter(kind="spend").count() == 1
    assert balance_of(jane) == Decimal("10.80")
