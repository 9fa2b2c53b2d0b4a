"""The cross-sell offer page, ``/offers/<token>/``: it stands in for the customer portal, so it
is not behind a login; the signed, expiring token is the customer's proof. Accept and Decline
are POSTs with CSRF; a tampered or expired token gets a clear page and changes nothing."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from . import actions
from .models import CrossSellOffer
from .offers import BadToken, ExpiredToken, read_token

ANSWERS = {"accept": actions.ACCEPT, "decline": actions.DECLINE}


def _problem(request, title: str, message: str, status: int) -> HttpResponse:
    return render(
        request, "rewards/offer_problem.html", {"title": title, "message": message}, status=status
    )


@require_http_methods(["GET", "POST"])
def offer_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        parsed = read_token(token)
    except ExpiredToken:
        return _problem(
            request, "This offer has expired", "The time to answer this offer has passed.", 410
        )
    except BadToken:
        return _problem(
            request,
            "This link is not valid",
            "Check that you opened the whole link from your email.",
            404,
        )
    offer = (
        CrossSellOffer.objects.select_related("grant", "store", "upcoming_order")
        .filter(pk=parsed.offer_id)
        .first()
    )
    if offer is None:
        return _problem(request, "This offer is no longer available", "", 404)
    changed = None
    if request.method == "POST":
        answer = ANSWERS.get(request.POST.get("answer", ""))
        if answer is None:
            return _problem(request, "Choose Accept or Decline", "", 400)
        offer, changed = actions.answer_offer(offer, answer)
        offer = CrossSellOffer.objects.select_related("grant", "store", "upcoming_order").get(
            pk=offer.pk
        )
    item = offer.grant.item
    return render(
        request,
        "rewards/offer.html",
        {
            "offer": offer,
            "item": item,
            "store": offer.store,
            "discounted": item.get("discount_type") is not None,
            "changed": changed,
            "token": token,
        },
    )
