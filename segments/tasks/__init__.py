"""Celery tasks of the ``segments`` app, one module per concern; thin wrappers over actions."""

from .ingest import process_pending, sweep_inbound_events
from .misc import ping

__all__ = ["ping", "process_pending", "sweep_inbound_events"]
