"""Signed, expiring links to a cross-sell offer: ``/offers/<token>/`` stands in for the customer
portal, so the token alone says which offer it is and until when it may be answered."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from .models import CrossSellOffer

SALT = "rewards.offer"


@dataclass(frozen=True)
class OfferToken:
    offer_id: int
    expires_at: dt.datetime


class BadToken(ValueError):
    """The token was tampered with or is not one of ours."""


class ExpiredToken(ValueError):
    """The token is genuine but its time to answer has passed."""


def make_token(offer: CrossSellOffer) -> str:
    """Return the signed token of an offer, valid until its ``respond_by``."""
    return signing.dumps({"o": offer.pk, "e": int(offer.respond_by.timestamp())}, salt=SALT)


def read_token(token: str, *, now: dt.datetime | None = None) -> OfferToken:
    """Return what a token names; raise ``BadToken`` or ``ExpiredToken``."""
    try:
        data = signing.loads(token, salt=SALT)
        parsed = OfferToken(
            offer_id=int(data["o"]), expires_at=dt.datetime.fromtimestamp(int(data["e"]), dt.UTC)
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise BadToken("This link is not valid.") from exc
    if (now or timezone.now()) >= parsed.expires_at:
        raise ExpiredToken("This offer has expired.")
    return parsed


def offer_path(offer: CrossSellOffer) -> str:
    return reverse("rewards-offer", args=[make_token(offer)])


def offer_url(offer: CrossSellOffer) -> str:
    """Return the link to send the customer (absolute when ``PUBLIC_BASE_URL`` is set)."""
    return getattr(settings, "PUBLIC_BASE_URL", "").rstrip("/") + offer_path(offer)
