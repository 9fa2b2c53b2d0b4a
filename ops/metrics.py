"""``/metrics``: every process's counters (multiprocess mode) plus queue lag computed now.

Who may read it: with ``METRICS_TOKEN`` set, only a request carrying
``Authorization: Bearer <METRICS_TOKEN>``; without it, only requests from the loopback addresses
(a Prometheus or agent on the same host). Behind a reverse proxy on the same host every request
looks local, so a proxied deployment sets ``METRICS_TOKEN``. Anyone else gets 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .queries import backlog


class BacklogCollector:
    """Gauges read by SQL at scrape time: the same figures for every process, never stale."""

    def collect(self):
        now = backlog()
        for name, help_text, value in (
            ("subexp_events_received", "Inbound events waiting to be processed", now.received),
            (
                "subexp_events_oldest_received_age_seconds",
                "Age of the oldest inbound event still received (processing lag)",
                now.oldest_received_seconds,
            ),
            ("subexp_outbox_unsent", "Outbox rows not yet delivered", now.unsent_outbox),
            (
                "subexp_outbox_oldest_unsent_age_seconds",
                "Age of the oldest unsent outbox row",
                now.oldest_unsent_seconds,
            ),
            ("subexp_waits_due", "Waiting experience steps past their due time", now.waits_due),
            (
                "subexp_segment_recomputes_stuck",
                "Segment recomputes that stopped moving",
                now.stuck_recomputes,
            ),
            ("subexp_task_journal_waiting", "Journalled tasks not yet run", now.queued_tasks),
            (
                "subexp_task_journal_oldest_age_seconds",
                "Age of the oldest journalled task not yet run",
                now.oldest_queued_seconds,
            ),
        ):
            yield GaugeMetricFamily(name, help_text, value=value)


class _ThisProcess:
    def collect(self):
        yield from REGISTRY.collect()


def may_read(request) -> bool:
    """Whether this request may read the metrics (see the module's docstring)."""
    token = getattr(settings, "METRICS_TOKEN", "")
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@never_cache
def metrics(request):
    if not may_read(request):
        return JsonResponse(
            {"detail": "Metrics are read from the loopback address or with METRICS_TOKEN."},
            status=403,
        )
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        try:
            multiprocess.MultiProcessCollector(registry)
        except ValueError as exc:  # the directory is gone: say so rather than fail
            return JsonResponse({"detail": f"Metrics unavailable: {exc}"}, status=503)
    else:
        registry.register(_ThisProcess())
    registry.register(BacklogCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
