"""Emails of notification steps: delivered at most once, stranded ones swept."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from experiences import actions
from experiences.models import EmailDelivery, RunStep

from .helpers import order_event

pytestmark = pytest.mark.django_db


def _strand_an_email(milestone_customer):
    """Run the milestone, then put its email back to pending as if delivery never ran."""
    _, order = milestone_customer
    actions.process_event(order_event(order))
    mail.outbox.clear()
    delivery = EmailDelivery.objects.get()
    EmailDelivery.objects.filter(pk=delivery.pk).update(status="pending", sent_at=None)
    return delivery


def test_sweep_sends_an_email_whose_delivery_never_ran(milestone, milestone_customer):
    delivery = _strand_an_email(milestone_customer)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2)):
        assert actions.sweep_emails() == {"sent": 1, "uncertain": 0}
    delivery.refresh_from_db()
    assert delivery.status == "sent" and len(mail.outbox) == 1
    # and a second sweep sends nothing more
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=3)):
        assert actions.sweep_emails() == {"sent": 0, "uncertain": 0}
    assert len(mail.outbox) == 1


def test_a_claimed_email_whose_worker_died_is_marked_uncertain_not_resent(
    milestone, milestone_customer
):
    delivery = _strand_an_email(milestone_customer)
    EmailDelivery.objects.filter(pk=delivery.pk).update(status="sending", claimed_at=timezone.now())
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=11)):
        assert actions.sweep_emails() == {"sent": 0, "uncertain": 1}
    assert not mail.outbox
    assert actions.deliver_email(delivery.pk) == "not claimed"


def test_email_step_and_outbox_row_are_one_per_step(milestone, milestone_customer):
    _, order = milestone_customer
    actions.process_event(order_event(order))
    step = RunStep.objects.get(node__key="email")
    assert step.email.subject == "Congratulations Alice!"
    assert step.result["email_delivery_id"] == step.email.pk
