"""The merchant app's experience pages: the list (with runs of the last 30 days), create,
duplicate and archive, and links to the builder. State changes go through ``actions``."""

from __future__ import annotations

import datetime as dt
from functools import wraps

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from segments.models import Role
from segments.views.common import render_page
from segments.web import merchant_view

from . import actions
from .blueprints import BLUEPRINTS, blueprints_for
from .models import Experience, Run
from .queries import experiences_for

RUNS_WINDOW = dt.timedelta(days=30)


def experiences_page(role: str = Role.VIEWER):
    """A ``merchant_view`` that shows a clear page when the store has no experiences."""

    def decorate(view):
        @merchant_view(role)
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.store.experiences_enabled:
                return render_page(request, "experiences/not_enabled.html")
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _experience(request: HttpRequest, experience_id: int) -> Experience:
    return get_object_or_404(experiences_for(request.store), pk=experience_id)


def builder_url(experience_id: int) -> str:
    return f"/app/experiences/{experience_id}/builder/"


@experiences_page()
def experience_list(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - RUNS_WINDOW
    show_archived = request.GET.get("archived") == "1"
    experiences = experiences_for(request.store).annotate(
        recent_runs=Count("runs", filter=Q(runs__started_at__gte=since))
    )
    if not show_archived:
        experiences = experiences.exclude(status=Experience.Status.ARCHIVED)
    archived = experiences_for(request.store).filter(status=Experience.Status.ARCHIVED)
    rows = list(experiences.order_by("name", "id"))
    kinds, statuses = dict(Experience.Kind.choices), dict(Experience.Status.choices)
    for row in rows:  # labels once per value, not get_FOO_display's per-row choice lookup
        row.kind_label, row.status_label = kinds[row.kind], statuses[row.status]
    return render_page(
        request,
        "experiences/experience_list.html",
        {
            "experiences": rows,
            "show_archived": show_archived,
            "archived_count": archived.count(),
        },
    )


def _template_choices(store) -> list[dict]:
    """Every template, with its kind and whether this store can use it (Rewards)."""
    return [
        {
            "key": b.key,
            "kind": b.kind,
            "name": b.name,
            "description": b.description,
            "available": store.rewards_enabled or not b.requires_rewards,
        }
        for b in blueprints_for()
    ]


def _check_template(store, values: dict) -> dict[str, list[str]]:
    blueprint = BLUEPRINTS.get(values["template"])
    if blueprint is None:
        return {"template": ["Choose a template from the list, or a blank flow."]}
    if blueprint.kind != values["kind"]:
        kind = Experience.Kind(blueprint.kind).label.lower()
        return {"template": [f"“{blueprint.name}” is a {kind} template: choose that kind."]}
    if blueprint.requires_rewards and not store.rewards_enabled:
        return {
            "template": [
                f"“{blueprint.name}” gives rewards, and Rewards are not enabled for this store."
            ]
        }
    return {}


@experiences_page(Role.EDITOR)
def experience_create(request: HttpRequest) -> HttpResponse:
    """Create an experience, blank or from a template of its kind, and open the builder."""
    values = {"name": "", "kind": Experience.Kind.REWARD_STRATEGY, "template": ""}
    if request.method == "GET" and request.GET.get("kind") in Experience.Kind.values:
        values["kind"] = request.GET["kind"]
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in values}
        if not values["name"]:
            errors["name"] = ["Give the experience a name."]
        elif len(values["name"]) > 200:
            errors["name"] = ["Keep the name under 200 characters."]
        if values["kind"] not in Experience.Kind.values:
            errors["kind"] = ["Choose one of the kinds below."]
        elif values["template"]:
            errors.update(_check_template(request.store, values))
        if not errors:
            try:
                if values["template"]:
                    experience = actions.create_from_template(
                        request.store, name=values["name"], template=values["template"]
                    )
                else:
                    experience = actions.create_experience(
                        request.store, name=values["name"], kind=values["kind"]
                    )
            except ValidationError as exc:
                found = exc.message_dict if hasattr(exc, "error_dict") else {"name": exc.messages}
                for field, messages in found.items():
                    errors.setdefault(field if field in values else "name", []).extend(messages)
            except actions.ExperienceError as exc:
                errors["name"] = [str(exc)]
            else:
                return redirect(builder_url(experience.pk))
    return render_page(
        request,
        "experiences/experience_form.html",
        {
            "values": values,
            "errors": errors,
            "kinds": Experience.Kind.choices,
            "templates": _template_choices(request.store),
        },
        status=400 if errors else 200,
    )


@require_POST
@experiences_page(Role.EDITOR)
def experience_duplicate(request: HttpRequest, experience_id: int) -> HttpResponse:
    experience = _experience(request, experience_id)
    actions.duplicate_experience(experience)
    return redirect("app-experiences")


@require_POST
@experiences_page(Role.OWNER)
def experience_archive(request: HttpRequest, experience_id: int) -> HttpResponse:
    experience = _experience(request, experience_id)
    if experience.status != Experience.Status.ARCHIVED:
        actions.archive_experience(experience)
    return redirect("app-experiences")


def runs_section(request, customer) -> tuple[str, dict]:
    """The customer page's section of experience runs (registered in ``apps.py``)."""
    from segments.queries import scoped

    runs = (
        scoped(Run, request.store)
        .filter(customer=customer)
        .select_related("experience")
        .order_by("-started_at", "-id")[:50]
    )
    return "experiences/_customer_runs.html", {"runs": runs}


@merchant_view()
def builder(request, experience_id: int):
    """Render the full-screen flow builder of an experience of the current store (404 otherwise).

    The page is a shell: it hands the client what it needs to talk to the public API (store slug,
    experience id, role, API base); the canvas does everything else through that API, exactly
    like an integration would.
    """
    experience = get_object_or_404(experiences_for(request.store), pk=experience_id)
    boot = {
        "store": request.store.slug,
        "experience": experience.pk,
        "name": experience.name,
        "kind": experience.kind,
        "role": request.membership.role,
        "api": f"{reverse('store-list')}{request.store.slug}/",
        "back": "/app/experiences/",
        "analytics": reverse("app-experience-analytics", args=[experience.pk]),
    }
    return render(
        request,
        "experiences/builder.html",
        {
            "experience": experience,
            "boot": boot,
            "script": static("experiences/builder/builder.js"),
            "stylesheet": static("experiences/builder/builder.css"),
        },
    )
