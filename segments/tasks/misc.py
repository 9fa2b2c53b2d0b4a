"""Small tasks that belong to no concern in particular."""

from celery import shared_task


@shared_task(name="segments.ping")
def ping(marker: str = "") -> str:
    """Do nothing: the baseline for benchmarks and the worker fixture's smoke test."""
    return marker


@shared_task(name="scheduled.maintain_partitions", acks_late=True)
def maintain_partitions() -> dict:
    """Create the coming months' partitions and empty raw payloads past their retention."""
    from .. import partitions

    return partitions.maintain()
