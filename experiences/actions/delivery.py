"""Delivery of the emails notification steps write (an outbox), at most once.

The step's transaction writes the ``EmailDelivery`` row, so the message exists exactly once per
step. Sending claims the row first with a committed ``pending -> sending`` update that only one
caller can win, then talks to the mail backend, then marks it ``sent``. A redelivered task or an
overlapping sweep sees the claim and does nothing. If the worker dies between claim and sent we
cannot know whether the message left, so the sweep marks the row ``uncertain`` for a human
instead of risking a duplicate: we chose at most once, because a customer receiving the same
reward email twice is the complaint merchants make most about comparable tools.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.core.mail import EmailMessage
from django.db import connection
from django.db.models import F
from django.utils import timezone

from ..models import EmailDelivery

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


def deliver_email(delivery_id: int) -> str:
    """Send one pending email if nobody else has claimed it; return its resulting status."""
    now = timezone.now()
    claimed = EmailDelivery.objects.filter(
        pk=delivery_id, status=EmailDelivery.Status.PENDING
    ).update(status=EmailDelivery.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return "not claimed"
    delivery = EmailDelivery.objects.only("subject", "body", "to", "attempts").get(pk=delivery_id)
    try:
        EmailMessage(subject=delivery.subject, body=delivery.body, to=[delivery.to]).send()
    except Exception as exc:  # noqa: BLE001 - the backend said no: it was not sent, retry later
        logger.warning("Email %s not sent: %s", delivery_id, exc)
        status = (
            EmailDelivery.Status.FAILED
            if delivery.attempts >= MAX_ATTEMPTS
            else EmailDelivery.Status.PENDING
        )
        EmailDelivery.objects.filter(pk=delivery_id).update(status=status, error=str(exc)[:2000])
        return status
    EmailDelivery.objects.filter(pk=delivery_id).update(
        status=EmailDelivery.Status.SENT, sent_at=timezone.now()
    )
    return EmailDelivery.Status.SENT


def deliver_emails(delivery_ids: list[int]) -> dict[str, int]:
    """Send many pending emails (a batch's): claimed in one committed update, as
    ``deliver_email`` claims one, sent one by one, marked sent in one update."""
    if not delivery_ids:
        return {}
    with connection.cursor() as cursor:  # committed on its own (autocommit), like one claim
        cursor.execute(
            f"UPDATE {EmailDelivery._meta.db_table} SET status = %s, claimed_at = %s,"
            " attempts = attempts + 1 WHERE id = ANY(%s) AND status = %s"
            ' RETURNING id, subject, body, "to", attempts',
            [
                EmailDelivery.Status.SENDING,
                timezone.now(),
                list(delivery_ids),
                EmailDelivery.Status.PENDING,
            ],
        )
        rows = [
            EmailDelivery(pk=pk, subject=subject, body=body, to=to, attempts=attempts)
            for pk, subject, body, to, attempts in cursor.fetchall()
        ]
    sent: list[int] = []
    counts = {EmailDelivery.Status.SENT: 0}
    for delivery in rows:
        try:
            EmailMessage(subject=delivery.subject, body=delivery.body, to=[delivery.to]).send()
        except Exception as exc:  # noqa: BLE001 - the backend said no: not sent, retry later
            logger.warning("Email %s not sent: %s", delivery.pk, exc)
            status = (
                EmailDelivery.Status.FAILED
                if delivery.attempts >= MAX_ATTEMPTS
                else EmailDelivery.Status.PENDING
            )
            EmailDelivery.objects.filter(pk=delivery.pk).update(
                status=status, error=str(exc)[:2000]
            )
            counts[status] = counts.get(status, 0) + 1
            continue
        sent.append(delivery.pk)
    EmailDelivery.objects.filter(pk__in=sent).update(
        status=EmailDelivery.Status.SENT, sent_at=timezone.now()
    )
    counts[EmailDelivery.Status.SENT] = len(sent)
    return counts


def sweep_emails(
    pending_after: dt.timedelta = dt.timedelta(minutes=1),
    sending_after: dt.timedelta = dt.timedelta(minutes=10),
) -> dict[str, int]:
    """Send emails whose step committed but whose delivery never ran; flag lost sends."""
    now = timezone.now()
    uncertain = EmailDelivery.objects.filter(
        status=EmailDelivery.Status.SENDING, claimed_at__lt=now - sending_after
    ).update(status=EmailDelivery.Status.UNCERTAIN)
    pending = list(
        EmailDelivery.objects.filter(
            status=EmailDelivery.Status.PENDING, created_at__lt=now - pending_after
        ).values_list("pk", flat=True)[:500]
    )
    sent = sum(deliver_email(pk) == EmailDelivery.Status.SENT for pk in pending)
    return {"sent": sent, "uncertain": uncertain}
