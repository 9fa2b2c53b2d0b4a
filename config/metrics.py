"""Prometheus metrics of every process, defined once (``prometheus-client``).

With ``PROMETHEUS_MULTIPROC_DIR`` set (the settings default it to ``VAR_DIR/prometheus``) each
process (gunicorn workers, Celery pool processes) writes its samples to files there and the
``/metrics`` view sums them, so a counter moved by a worker shows on the web's scrape. The
directory must exist and should be emptied when the whole stack starts (``make run``/``stack``).

Counts are taken after commit (:func:`count_after_commit`): a transaction that rolls back (a
batch retried one by one, a redelivered task) counts nothing. Label values are bounded: topics
outside the registry count as ``other``. Queue lags are not here: ``ops.metrics`` computes them
by SQL at scrape time.
"""

from __future__ import annotations

import logging

from django.db import transaction
from prometheus_client import Counter, Histogram

WEBHOOKS = Counter(
    "subexp_webhooks_total",
    "Webhook deliveries answered, by source, topic and result",
    ["source", "topic", "result"],
)
EVENTS = Counter(
    "subexp_events_total",
    "Inbound events applied (processed) or given up on (failed), by source",
    ["source", "result"],
)
RUNS_STARTED = Counter(
    "subexp_runs_started_total", "Experience runs started, by status at start", ["status"]
)
STEPS = Counter(
    "subexp_steps_executed_total",
    "Experience steps executed, by node type and outcome",
    ["node_type", "outcome"],
)
RECOMPUTE_SECONDS = Histogram(
    "subexp_segment_recompute_seconds",
    "Full segment recompute durations, by outcome",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
logger = logging.getLogger(__name__)

GRANTS = Counter(
    "subexp_grants_total", "Reward grants written, by kind and status", ["kind", "status"]
)


def count(counter, amount: float = 1, **labels) -> None:
    """Add ``amount`` to ``counter`` now; a metrics failure is logged, never raised.

    Counting must not fail the work it counts: in multiprocess mode a first sample opens a file
    in ``PROMETHEUS_MULTIPROC_DIR``, which may have been removed under a running process.
    """
    try:
        counter.labels(**labels).inc(amount)
    except Exception as exc:  # noqa: BLE001
        logger.warning("Metric %s not counted: %s", counter._name, exc)


def observe(histogram, value: float, **labels) -> None:
    """Record ``value`` in ``histogram``; a metrics failure is logged, never raised."""
    try:
        histogram.labels(**labels).observe(value)
    except Exception as exc:  # noqa: BLE001
        logger.warning("Metric %s not observed: %s", histogram._name, exc)


def count_after_commit(counter, amount: float = 1, **labels) -> None:
    """Add ``amount`` to ``counter`` once the current transaction commits (at once outside one)."""
    if amount:
        transaction.on_commit(lambda: count(counter, amount, **labels))
