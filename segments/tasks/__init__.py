"""Celery tasks of the ``segments`` app, one module per concern; thin wrappers over actions."""

from .misc import ping

__all__ = ["ping"]
