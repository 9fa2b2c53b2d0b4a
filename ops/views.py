"""The operations page of the admin: is work flowing, and what needs a hand.

Staff only (``admin_site.admin_view``). It shows the queues' backlog and lag, the failed inbound
events with a replay (the same ``replay_events`` as the events admin's action), recomputes that
stopped moving, waits past their due time, and the outbox backlog. Read-only apart from replay.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from segments.ingest.actions import replay_events

from . import queries


def _age(seconds: float) -> str:
    if seconds < 1:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def operations(request):
    if request.method == "POST":
        return _replay(request)
    backlog = queries.backlog()
    context = {
        **admin.site.each_context(request),
        "title": "Operations",
        "backlog": backlog,
        "received_age": _age(backlog.oldest_received_seconds),
        "unsent_age": _age(backlog.oldest_unsent_seconds),
        "journal_age": _age(backlog.oldest_queued_seconds),
        "failed_events": list(queries.failed_events()),
        "failed_days": queries.FAILED_EVENTS_DAYS,
        "stuck": list(queries.stuck_calculations()),
        "waits": list(queries.waits_due()),
        "may_replay": request.user.has_perm("segments.view_inboundevent"),
    }
    return TemplateResponse(request, "admin/ops/operations.html", context)


def _replay(request):
    if not request.user.has_perm("segments.view_inboundevent"):
        raise PermissionDenied
    ids = [int(i) for i in request.POST.getlist("event") if i.isdigit()]
    if not ids:
        messages.warning(request, "Select the failed events to replay.")
    else:
        count = replay_events(ids)
        messages.success(request, f"{count} event(s) queued again.")
        if len(ids) > count:
            messages.warning(
                request, f"{len(ids) - count} event(s) skipped: only failed events replay."
            )
    return HttpResponseRedirect(reverse("admin-operations"))
