"""Small tasks that belong to no concern in particular."""

from celery import shared_task


@shared_task(name="segments.ping")
def ping(marker: str = "") -> str:
    """Do nothing: the baseline for benchmarks and the worker fixture's smoke test."""
    return marker
