"""Celery tasks of the ``segments`` app, one module per concern; thin wrappers over actions."""

from .analytics import analytics_sweep, refresh_analytics
from .ingest import process_pending, sweep_inbound_events, sweep_outbox, sweep_task_journal
from .misc import maintain_partitions, ping
from .segmentation import (
    announce_history,
    announce_pending,
    evaluate_customer,
    evaluate_customers,
    recompute_dynamic_segments,
    recompute_segment,
    run_import,
    sweep_stuck_segment_calculations,
)

__all__ = [
    "analytics_sweep",
    "refresh_analytics",
    "announce_history",
    "announce_pending",
    "evaluate_customer",
    "evaluate_customers",
    "maintain_partitions",
    "ping",
    "process_pending",
    "recompute_dynamic_segments",
    "recompute_segment",
    "run_import",
    "sweep_inbound_events",
    "sweep_outbox",
    "sweep_stuck_segment_calculations",
    "sweep_task_journal",
]
