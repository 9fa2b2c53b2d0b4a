"""Analytics tasks: the store's refresh (``segments`` queue) and the beat sweep."""

from celery import shared_task

from ..analytics import refresh

_RELIABLE = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="segments.refresh_analytics", **_RELIABLE)
def refresh_analytics(store_id: int) -> str:
    """Refresh one store's analytics summaries (what changed since the last refresh)."""
    return refresh.run_refresh(store_id)


@shared_task(name="scheduled.analytics_sweep")
def analytics_sweep() -> dict:
    """Restart refreshes that died and queue the stores whose figures are due."""
    return refresh.sweep()
