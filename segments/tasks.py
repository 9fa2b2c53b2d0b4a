"""Celery tasks of the ``segments`` app: thin wrappers that take ids and call actions."""

from celery import shared_task


@shared_task(name="segments.ping")
def ping(marker: str = "") -> str:
    """A no-op task: the baseline for benchmarks and the worker fixture's smoke test."""
    return marker
