"""The merchant app's rewards pages (``/app/rewards/``): the overview (liability, grants by
status), incentives (a form per kind), the grant ledger with filters, the store's caps, and a
customer's credit, grants and offers on the customer page, with adjust, revoke and extend.

Viewers read; editors manage incentives, credit and grants; owners set the caps. Every change
goes through ``rewards.actions``, exactly like the API; a store without Rewards gets a clear page.
"""

from __future__ import annotations

import uuid
from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from segments.models import Customer, Role
from segments.queries import scoped
from segments.views.common import render_page
from segments.web import merchant_view

from . import actions
from .actions.idempotency import Answer, KeyConflict, answer_once
from .experience_names import experience_names
from .forms import (
    INCENTIVE_FORMS,
    AdjustCreditForm,
    ExtendForm,
    GrantFilterForm,
    PolicyForm,
    RevokeForm,
    add_action_errors,
)
from .models import CreditEntry, CrossSellOffer, RewardGrant, RewardKind, RewardPolicy
from .queries import balance_of, grant_summary, grants_for, incentives_for

ENTRIES_ON_CUSTOMER = 10
GRANTS_ON_CUSTOMER = 20
GRANTS_PER_PAGE = 50
INCENTIVES_PER_PAGE = 50


def rewards_page(role: str = Role.VIEWER):
    """A ``merchant_view`` that shows a clear page when the store has not enabled Rewards."""

    def decorate(view):
        @merchant_view(role)
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.store.rewards_enabled:
                return render_page(request, "rewards/app/not_enabled.html")
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _customer(request, customer_id: int) -> Customer:
    customer = get_object_or_404(scoped(Customer, request.store), pk=customer_id)
    customer.store = request.store
    return customer


def _grant(request, grant_id: int) -> RewardGrant:
    return get_object_or_404(grants_for(request.store), pk=grant_id)


def _label_grants(store, grants) -> None:
    """Give each grant its experience's name (one query) and its kind and status labels."""
    names = experience_names(store, [g.experience_id for g in grants])
    kinds, statuses = dict(RewardKind.choices), dict(RewardGrant.Status.choices)
    for grant in grants:
        grant.experience_name = names.get(grant.experience_id, "")
        grant.kind_label, grant.status_label = kinds[grant.kind], statuses[grant.status]
        grant.is_open = grant.status in RewardGrant.OPEN


# --- the customer page's section -----------------------------------------------------------


def customer_section(request, customer) -> tuple[str, dict]:
    """The customer page's "Rewards" section (registered in ``apps.py``): a constant number of
    queries whatever the customer's history."""
    store = request.store
    if not store.rewards_enabled:
        return "rewards/app/_customer_rewards.html", {"rewards_off": True}
    entries = list(
        CreditEntry.objects.filter(customer_id=customer.pk)
        .select_related("acting_user")
        .order_by("-created_at", "-id")[:ENTRIES_ON_CUSTOMER]
    )
    grants = list(grants_for(store).filter(customer_id=customer.pk)[:GRANTS_ON_CUSTOMER])
    _label_grants(store, grants)
    offers = list(
        scoped(CrossSellOffer, store)
        .filter(customer_id=customer.pk, status=CrossSellOffer.Status.SHOWN)
        .select_related("grant")
        .order_by("respond_by", "id")
    )
    can_edit = request.membership.has_role(Role.EDITOR)
    return "rewards/app/_customer_rewards.html", {
        "balance": balance_of(customer),
        "entries": entries,
        "grants": grants,
        "offers": offers,
        "can_edit_rewards": can_edit,
        "adjust_form": AdjustCreditForm(initial={"key": uuid.uuid4().hex}) if can_edit else None,
    }


@rewards_page(Role.EDITOR)
def credit_adjust(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Add or take back a customer's credit with a reason (``actions.adjust_credit``).

    The form carries an idempotency key: a double submit replays the first answer (one entry),
    exactly like the API's ``Idempotency-Key``.
    """
    customer = _customer(request, customer_id)
    form = AdjustCreditForm(
        request.POST or None, initial={"key": uuid.uuid4().hex, "amount": request.GET.get("amount")}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        body = {
            "amount": str(data["amount"]),
            "reason": data["reason"].strip(),
            **({"expires_in_days": data["expires_in_days"]} if data["expires_in_days"] else {}),
        }

        def compute() -> Answer:
            try:
                actions.adjust_credit(
                    customer,
                    amount=data["amount"],
                    reason=data["reason"],
                    expires_in_days=data["expires_in_days"],
                    acting_user=request.user,
                    key=data["key"],
                )
            except actions.RewardError as exc:
                return Answer(400, exc.errors)
            return Answer(201, {"balance": str(balance_of(customer))})

        try:
            answer = answer_once(
                request.store,
                key=data["key"],
                scope=f"credit-adjust:{customer.pk}",
                body=body,
                user=request.user,
                compute=compute,
            )
        except KeyConflict:
            form.add_error(
                None, "This form was already sent with other values: check and send again."
            )
        else:
            if answer.status == 201:
                if not answer.replayed:
                    messages.success(
                        request,
                        f"Credit adjusted by {data['amount']} {request.store.currency}; "
                        f"the balance is {answer.body['balance']} {request.store.currency}.",
                    )
                return redirect("app-customer", customer_id=customer.pk)
            add_action_errors(form, actions.RewardError(answer.body))
    if form.is_bound:  # a fresh key, so the corrected form is a new request
        form.data = form.data.copy()
        form.data["key"] = uuid.uuid4().hex
    return render_page(
        request,
        "rewards/app/credit_adjust.html",
        {"customer": customer, "form": form, "balance": balance_of(customer)},
        status=400 if form.is_bound else 200,
    )


def _safe_next(value: str | None) -> str:
    """Return ``value`` when it is a page of the app, else ''."""
    value = value or ""
    ok = value.startswith("/app/") and "//" not in value and "\\" not in value
    return value if ok else ""


def _grant_change(request, grant_id: int, form_class, change, verb: str) -> HttpResponse:
    grant = _grant(request, grant_id)
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            change(grant, form.cleaned_data)
        except actions.RewardError as exc:
            add_action_errors(form, exc)
        else:
            messages.success(request, f"The grant was {verb}.")
            back = _safe_next(request.POST.get("next"))
            if back:
                return redirect(back)
            return redirect("app-customer", customer_id=grant.customer_id)
    _label_grants(request.store, [grant])
    return render_page(
        request,
        "rewards/app/grant_change.html",
        {
            "grant": grant,
            "form": form,
            "verb": verb,
            "next": _safe_next(request.GET.get("next") or request.POST.get("next")),
        },
        status=400 if form.is_bound else 200,
    )


@rewards_page(Role.EDITOR)
def grant_revoke(request: HttpRequest, grant_id: int) -> HttpResponse:
    return _grant_change(
        request,
        grant_id,
        RevokeForm,
        lambda grant, data: actions.revoke_grant(
            grant, reason=data["reason"], acting_user=request.user
        ),
        "revoked",
    )


@rewards_page(Role.EDITOR)
def grant_extend(request: HttpRequest, grant_id: int) -> HttpResponse:
    return _grant_change(
        request,
        grant_id,
        ExtendForm,
        lambda grant, data: actions.extend_grant(
            grant, reason=data["reason"], days=data["days"], acting_user=request.user
        ),
        "extended",
    )


# --- the Rewards section -------------------------------------------------------------------


@rewards_page()
def overview(request: HttpRequest) -> HttpResponse:
    summary = grant_summary(request.store)
    statuses = [
        (value, label, summary["grants_by_status"][value])
        for value, label in RewardGrant.Status.choices
    ]
    kinds = [
        (value, label, summary["grants_by_kind"][value]) for value, label in RewardKind.choices
    ]
    return render_page(
        request,
        "rewards/app/overview.html",
        {
            "summary": summary,
            "statuses": statuses,
            "kinds": kinds,
            "incentive_count": incentives_for(request.store).filter(active=True).count(),
            "caps_set": RewardPolicy.objects.filter(store=request.store)
            .filter(
                Q(max_rewards_per_customer__isnull=False) | Q(max_credit_per_customer__isnull=False)
            )
            .exists(),
        },
    )


@rewards_page()
def incentive_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(
        incentives_for(request.store).order_by("-active", "name", "id"), INCENTIVES_PER_PAGE
    ).get_page(request.GET.get("page"))
    kinds = dict(RewardKind.choices)
    for incentive in page.object_list:
        incentive.kind_label = kinds[incentive.kind]
    return render_page(
        request,
        "rewards/app/incentive_list.html",
        {"incentives": page.object_list, "page": page, "kinds": RewardKind.choices},
    )


@rewards_page(Role.EDITOR)
def incentive_create(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("kind") or request.GET.get("kind") or RewardKind.CREDIT
    if kind not in INCENTIVE_FORMS:
        return render_page(
            request,
            "rewards/app/incentive_form.html",
            {"kind_error": "Choose one of the kinds below.", "kinds": RewardKind.choices},
            status=400,
        )
    form_class = INCENTIVE_FORMS[kind]
    if request.method == "POST":
        form = form_class(request.POST)
    else:  # switching kind keeps what was typed in the fields both kinds have
        typed = {k: v for k, v in request.GET.items() if k in form_class.base_fields and v}
        form = form_class(initial=typed)
    if request.method == "POST" and form.is_valid():
        try:
            incentive = actions.create_incentive(
                request.store,
                name=form.cleaned_data["name"],
                kind=kind,
                params=form.params(),
                expires_in_days=form.cleaned_data["expires_in_days"],
            )
        except actions.RewardError as exc:
            add_action_errors(form, exc)
        else:
            messages.success(request, f"Incentive “{incentive.name}” created.")
            return redirect("app-rewards-incentives")
    return render_page(
        request,
        "rewards/app/incentive_form.html",
        {
            "form": form,
            "kind": kind,
            "kind_label": RewardKind(kind).label,
            "kinds": RewardKind.choices,
        },
        status=400 if form.is_bound else 200,
    )


@rewards_page()
def incentive_edit(request: HttpRequest, incentive_id: int) -> HttpResponse:
    incentive = get_object_or_404(incentives_for(request.store), pk=incentive_id)
    form_class = INCENTIVE_FORMS[incentive.kind]
    can_edit = request.membership.has_role(Role.EDITOR)
    if request.method == "POST" and not can_edit:
        raise PermissionDenied("This needs the editor role.")
    form = form_class(request.POST or None, initial=form_class.initial_from(incentive))
    if request.method == "POST" and form.is_valid():
        try:
            incentive = actions.update_incentive(
                incentive,
                name=form.cleaned_data["name"],
                params=form.params(),
                expires_in_days=form.cleaned_data["expires_in_days"],
            )
        except actions.RewardError as exc:
            add_action_errors(form, exc)
        else:
            messages.success(request, f"Incentive “{incentive.name}” saved.")
            return redirect("app-rewards-incentives")
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    grants = grants_for(request.store).filter(incentive=incentive)
    return render_page(
        request,
        "rewards/app/incentive_form.html",
        {
            "form": form,
            "incentive": incentive,
            "kind": incentive.kind,
            "kind_label": RewardKind(incentive.kind).label,
            "grant_count": grants.count(),
        },
        status=400 if form.is_bound else 200,
    )


@require_POST
@rewards_page(Role.EDITOR)
def incentive_deactivate(request: HttpRequest, incentive_id: int) -> HttpResponse:
    incentive = get_object_or_404(incentives_for(request.store), pk=incentive_id)
    if incentive.active:
        actions.deactivate_incentive(incentive)
        messages.success(
            request,
            f"“{incentive.name}” is deactivated: experiences stop giving it (their grants are "
            "recorded as skipped); what was granted stays.",
        )
    return redirect("app-rewards-incentives")


@require_POST
@rewards_page(Role.EDITOR)
def incentive_activate(request: HttpRequest, incentive_id: int) -> HttpResponse:
    incentive = get_object_or_404(incentives_for(request.store), pk=incentive_id)
    if not incentive.active:
        try:
            actions.update_incentive(incentive, active=True)
        except actions.RewardError as exc:  # its parameters no longer validate: edit them first
            messages.error(request, f"“{incentive.name}” cannot be reactivated: {exc}")
        else:
            messages.success(request, f"“{incentive.name}” is active again.")
    return redirect("app-rewards-incentives")


@rewards_page()
def grant_list(request: HttpRequest) -> HttpResponse:
    store = request.store
    form = GrantFilterForm(request.GET or None, experiences=experience_names(store))
    grants = grants_for(store)
    customer = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["status"]:
            grants = grants.filter(status=data["status"])
        if data["kind"]:
            grants = grants.filter(kind=data["kind"])
        if data["experience"] is not None:
            grants = grants.filter(experience_id=data["experience"])
        if data["customer"]:
            customer = scoped(Customer, store).filter(pk=data["customer"]).first()
            grants = grants.filter(customer_id=data["customer"])
        if data["email"]:
            grants = grants.filter(customer__email__icontains=data["email"].strip())
    elif form.is_bound:
        grants = grants.none()
    page = Paginator(grants.order_by("-created_at", "-id"), GRANTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    _label_grants(store, page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "rewards/app/grant_list.html",
        {
            "form": form,
            "page": page,
            "filter_query": query.urlencode(),
            "filtered_customer": customer,
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


@rewards_page()
def caps(request: HttpRequest) -> HttpResponse:
    store = request.store
    policy = RewardPolicy.objects.filter(store=store).first() or RewardPolicy(store=store)
    is_owner = request.membership.has_role(Role.OWNER)
    if request.method == "POST" and not is_owner:
        raise PermissionDenied("This needs the owner role.")
    form = PolicyForm(
        request.POST or None,
        initial={
            "max_rewards_per_customer": policy.max_rewards_per_customer,
            "max_credit_per_customer": policy.max_credit_per_customer,
            "period_days": policy.period_days,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            actions.set_policy(store, **form.cleaned_data)
        except actions.RewardError as exc:
            add_action_errors(form, exc)
        else:
            messages.success(request, "The caps are saved; they apply to the next grants.")
            return redirect("app-rewards-caps")
    if not is_owner:
        for field in form.fields.values():
            field.disabled = True
    return render_page(
        request,
        "rewards/app/caps.html",
        {"form": form, "policy": policy},
        status=400 if form.is_bound else 200,
    )
