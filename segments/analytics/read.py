"""What the analytics API and pages read: summary rows only, never raw orders."""

import datetime as dt

from ..models import AnalyticsRefresh, Segment, SegmentDailySize, SegmentSummary
from . import figures

SIZE_DAYS = 365


def refresh_status(store) -> dict:
    row = AnalyticsRefresh.objects.filter(store=store).first()
    if row is None:
        return {
            "state": "idle",
            "computed_at": None,
            "heartbeat_at": None,
            "restarts": 0,
            "note": "",
            "error": "",
        }
    return {
        "state": row.state,
        "computed_at": row.computed_at,
        "started_at": row.started_at,
        "heartbeat_at": row.heartbeat_at,
        "restarts": row.restarts,
        "note": row.note,
        "error": row.error,
    }


def segment_analytics(segment: Segment, window: int) -> dict:
    """The published shape of a segment's analytics for one window (30, 60 or 90 days)."""
    summary = SegmentSummary.objects.filter(segment=segment).first()
    refresh = AnalyticsRefresh.objects.filter(store_id=segment.store_id).first()
    last = SegmentDailySize.objects.filter(segment=segment).order_by("-date").values("date").first()
    sizes = []
    if last:
        sizes = [
            {"date": d, "members": m, "entered": e, "left": lft}
            for d, m, e, lft in SegmentDailySize.objects.filter(
                segment=segment, date__gt=last["date"] - dt.timedelta(days=SIZE_DAYS)
            )
            .order_by("date")
            .values_list("date", "members", "entered", "left")
        ]
    behaviour = None
    if summary is not None and str(window) in summary.behaviour:
        block = summary.behaviour[str(window)]
        store_sums = (refresh.store_sums or {}).get(str(window)) if refresh else None
        behaviour = {
            "before": block["before"],
            "after": block["after"],
            "rest": figures.rest_of_store(store_sums, block["members_period"])
            if store_sums
            else None,
        }
    return {
        "segment": segment.pk,
        "window": window,
        "computed_at": summary.computed_at if summary else None,
        "refresh": refresh_status(segment.store),
        "size": sizes,
        "behaviour": behaviour,
        "retention": summary.retention if summary else [],
    }
