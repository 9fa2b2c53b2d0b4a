"""Celery tasks of the ``segments`` app, one module per concern; thin wrappers over actions."""

from .misc import ping
from .segmentation import (
    announce_history,
    evaluate_customer,
    recompute_dynamic_segments,
    recompute_segment,
    run_import,
    sweep_stuck_segment_calculations,
)

__all__ = [
    "announce_history",
    "evaluate_customer",
    "ping",
    "recompute_dynamic_segments",
    "recompute_segment",
    "run_import",
    "sweep_stuck_segment_calculations",
]
