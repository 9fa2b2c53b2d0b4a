"""The Analytics page of an experience: funnel bars, rewards, the outcome comparisons in plain
words, CSV downloads, and the in-place refresh shared with the segment page."""

from __future__ import annotations

import csv

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_POST

from segments.analytics import charts
from segments.analytics.refresh import request_refresh
from segments.models import Role
from segments.views.analytics import status_response
from segments.views.common import render_page
from segments.web import merchant_view

from .analytics import experience_analytics, version_for
from .models import ExperienceVersion
from .queries import experiences_for

METRIC_LABELS = {
    "ordered_rate": "Share who ordered",
    "orders_per_customer": "Orders per customer",
    "revenue_per_customer": "Revenue per customer",
}


def _context(request, experience_id: int) -> dict:
    experience = get_object_or_404(experiences_for(request.store), pk=experience_id)
    raw = request.GET.get("version", "")
    number = int(raw) if raw.isdigit() and len(raw) < 9 else None
    version = version_for(experience, number)
    if number is not None and (version is None or version.state == ExperienceVersion.State.DRAFT):
        raise Http404("No such published version.")
    data = experience_analytics(experience, version)
    funnel = data["funnel"]
    outcome = data["outcome"] or {}
    return {
        "experience": experience,
        "data": data,
        "status_url": reverse("app-experience-analytics-status", args=[experience.pk]),
        "refresh_url": reverse("app-experience-analytics-refresh", args=[experience.pk]),
        "funnel_chart": charts.bar_chart(
            [(f"{n['node']} ({n['type']})", n["reached"]) for n in funnel],
            title="Customers who reached each node",
        )
        if funnel
        else None,
        "comparisons": [
            {**c, "label": METRIC_LABELS.get(c["metric"], c["metric"])}
            for c in outcome.get("comparisons", [])
        ],
        "groups": outcome.get("groups", {}),
        "windows": [str(w) for w in outcome.get("window_days", [])],
    }


@merchant_view()
def experience_analytics_page(request: HttpRequest, experience_id: int) -> HttpResponse:
    context = _context(request, experience_id)
    if request.htmx:
        return render_page(request, "experiences/_analytics_body.html", context)
    return render_page(request, "experiences/experience_analytics.html", context)


@merchant_view()
def analytics_status(request: HttpRequest, experience_id: int) -> HttpResponse:
    get_object_or_404(experiences_for(request.store), pk=experience_id)
    return status_response(
        request,
        {
            "status_url": reverse("app-experience-analytics-status", args=[experience_id]),
            "refresh_url": reverse("app-experience-analytics-refresh", args=[experience_id]),
        },
    )


@require_POST
@merchant_view(Role.EDITOR)
def analytics_refresh(request: HttpRequest, experience_id: int) -> HttpResponse:
    get_object_or_404(experiences_for(request.store), pk=experience_id)
    request_refresh(request.store)
    return analytics_status(request, experience_id)


@merchant_view()
def analytics_csv(request: HttpRequest, experience_id: int) -> HttpResponse:
    """Download one table: ``?table=funnel|rewards|outcome``."""
    context = _context(request, experience_id)
    table = request.GET.get("table", "funnel")
    if table not in ("funnel", "rewards", "outcome"):
        return HttpResponse(
            "Unknown table; give funnel, rewards or outcome.", status=400, content_type="text/plain"
        )
    data = context["data"]
    response = HttpResponse(content_type="text/csv")
    name = f"experience-{experience_id}-v{data['version'] or 0}-{table}"
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    writer = csv.writer(response)
    if table == "funnel":
        writer.writerow(["node", "type", "reached", "path", "customers on path", "share"])
        for n in data["funnel"]:
            writer.writerow([n["node"], n["type"], n["reached"], "", "", ""])
            for path, count in n["paths"].items():
                writer.writerow([n["node"], n["type"], "", path, count, n["shares"].get(path)])
    elif table == "rewards":
        rewards = data["rewards"] or {"grants": {}, "offers": {}}
        writer.writerow(["what", "status", "count", "value"])
        for status, g in rewards["grants"].items():
            writer.writerow(["grant", status, g["count"], g["value"]])
        for status, n in rewards["offers"].items():
            writer.writerow(["cross-sell offer", status, n, ""])
        writer.writerow(["cost", "", "", rewards.get("cost", "")])
        writer.writerow(["revenue added", "", "", rewards.get("revenue_added", "")])
    else:
        writer.writerow(
            [
                "metric",
                "window days",
                "a",
                "b",
                "difference",
                "ci low",
                "ci high",
                "p value",
                "p value holm",
                "method",
                "enough data",
                "cuped difference",
                "cuped ci low",
                "cuped ci high",
                "cuped narrower by",
                "summary",
            ]
        )
        for c in context["comparisons"]:
            cu = c["cuped"] or {}
            writer.writerow(
                [
                    c["metric"],
                    c["window_days"],
                    c["a"],
                    c["b"],
                    c["difference"],
                    c["ci_low"],
                    c["ci_high"],
                    c["p_value"],
                    c.get("p_value_holm"),
                    c["method"],
                    c["enough_data"],
                    cu.get("difference"),
                    cu.get("ci_low"),
                    cu.get("ci_high"),
                    cu.get("narrower_by"),
                    c["summary"],
                ]
            )
    return response
