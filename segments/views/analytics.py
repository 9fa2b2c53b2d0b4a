"""The Analytics tab of a segment: charts and tables from the summary rows, CSV downloads and a
refresh that updates the page in place (htmx) without a reload."""

import csv

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from ..analytics import charts
from ..analytics.figures import WINDOWS
from ..analytics.read import refresh_status, segment_analytics
from ..analytics.refresh import request_refresh
from ..models import Role
from ..queries import segments_for
from ..web import merchant_view
from .common import render_page

BLOCKS = (
    ("customers", "Customers"),
    ("orders_per_customer", "Orders per customer"),
    ("aov", "Average order value"),
    ("revenue", "Revenue"),
    ("repeat_rate", "Repeat-purchase rate"),
    ("cancellations", "Subscription cancellations"),
    ("active_subscriptions", "Active subscriptions"),
)


def _shown(key: str, value):
    """A figure as the page shows it (the CSV keeps the raw value)."""
    if value is None:
        return None
    if key == "repeat_rate":
        return f"{value * 100:.1f}%"
    if key == "orders_per_customer":
        return f"{value:.2f}"
    return value


def _window(request) -> int:
    raw = request.GET.get("window", "30")
    return int(raw) if raw in {str(w) for w in WINDOWS} else 30


def _context(request, segment_id: int) -> dict:
    segment = get_object_or_404(segments_for(request.store), pk=segment_id)
    window = _window(request)
    data = segment_analytics(segment, window)
    sizes = data["size"]
    behaviour = data["behaviour"]
    rows = []
    if behaviour:
        for key, label in BLOCKS:
            rows.append(
                (
                    label,
                    *(
                        behaviour[k][key] if behaviour[k] else None
                        for k in ("before", "after", "rest")
                    ),
                )
            )
    shown = [
        (label, *(_shown(key, v) for v in values))
        for (label, *values), (key, _) in zip(rows, BLOCKS, strict=False)
    ]
    retention = data["retention"]
    width = max((len(c["months"]) for c in retention), default=0)
    return {
        "segment": segment,
        "status_url": reverse("app-segment-analytics-status", args=[segment.pk]),
        "refresh_url": reverse("app-segment-analytics-refresh", args=[segment.pk]),
        "window": window,
        "windows": WINDOWS,
        "data": data,
        "behaviour_rows": rows,
        "behaviour_shown": shown,
        "retention": [
            {**c, "cells": [(s, charts.shade(s)) for s in c["months"]]} for c in retention
        ],
        "retention_months": range(width),
        "size_chart": charts.line_chart(
            [str(s["date"]) for s in sizes],
            {"Members": [s["members"] for s in sizes]},
            title=f"Members of {segment.name} per day",
        )
        if sizes
        else None,
        "retention_chart": charts.line_chart(
            [f"Month {k}" for k in range(width)],
            {c["cohort"]: c["months"] for c in retention},
            title="Share of each cohort ordering, by month since joining",
            percent=True,
        )
        if retention
        else None,
    }


@merchant_view()
def segment_analytics_page(request: HttpRequest, segment_id: int) -> HttpResponse:
    context = _context(request, segment_id)
    if request.htmx:
        return render_page(request, "segments/_analytics_body.html", context)
    return render_page(request, "segments/segment_analytics.html", context)


@merchant_view()
def analytics_status(request: HttpRequest, segment_id: int) -> HttpResponse:
    """The status line; says ``analytics-refreshed`` to the page when a refresh has finished."""
    segment = get_object_or_404(segments_for(request.store), pk=segment_id)
    return status_response(
        request,
        {
            "segment": segment,
            "status_url": reverse("app-segment-analytics-status", args=[segment.pk]),
            "refresh_url": reverse("app-segment-analytics-refresh", args=[segment.pk]),
        },
    )


def status_response(request: HttpRequest, context: dict) -> HttpResponse:
    """The store's refresh status line (segment and experience pages alike); tells the page
    ``analytics-refreshed`` when a refresh it was waiting for has finished."""
    status = refresh_status(request.store)
    can_edit = request.membership.has_role(Role.EDITOR)  # who is offered "Refresh now"
    response = TemplateResponse(
        request,
        "segments/_analytics_status.html",
        {"status": status, "can_edit": can_edit, **context},
    )
    if request.GET.get("was") in ("queued", "running") and status["state"] in ("done", "failed"):
        response["HX-Trigger"] = "analytics-refreshed"
    return response


@require_POST
@merchant_view(Role.EDITOR)
def analytics_refresh(request: HttpRequest, segment_id: int) -> HttpResponse:
    get_object_or_404(segments_for(request.store), pk=segment_id)
    request_refresh(request.store)
    return analytics_status(request, segment_id)


@merchant_view()
def analytics_csv(request: HttpRequest, segment_id: int) -> HttpResponse:
    """Download one table of the tab: ``?table=size|behaviour|retention``."""
    context = _context(request, segment_id)
    table = request.GET.get("table", "size")
    if table not in ("size", "behaviour", "retention"):
        return HttpResponse(
            "Unknown table; give size, behaviour or retention.",
            status=400,
            content_type="text/plain",
        )
    response = HttpResponse(content_type="text/csv")
    suffix = f"-{context['window']}" if table == "behaviour" else ""
    name = f"segment-{segment_id}-{table}{suffix}"
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    writer = csv.writer(response)
    data = context["data"]
    if table == "size":
        writer.writerow(["date", "members", "entered", "left"])
        for s in data["size"]:
            writer.writerow([s["date"], s["members"], s["entered"], s["left"]])
    elif table == "behaviour":
        writer.writerow(
            [
                "figure",
                f"before ({context['window']} days)",
                f"after ({context['window']} days)",
                "rest of store",
            ]
        )
        writer.writerows(context["behaviour_rows"])
    else:
        writer.writerow(["cohort", "size", *(f"month {k}" for k in context["retention_months"])])
        for c in data["retention"]:
            writer.writerow([c["cohort"], c["size"], *c["months"]])
    return response
