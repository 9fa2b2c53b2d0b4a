"""The analytics refresh: incremental, in the background, visible, restarted when it dies.

One ``AnalyticsRefresh`` row per store says what the refresh is doing. ``run_refresh`` claims it
(``running``, with a heartbeat it moves after every segment and experience version), recomputes
what changed since its watermarks and records the new ones with ``computed_at``. What changed:

- daily sizes: the days from the first new membership-history row of each segment (and every
  segment's rows are carried forward to today);
- behaviour and retention: segments whose membership changed since the last refresh, or with a
  member whose orders or subscriptions moved (a new order dated before today, or an existing
  order or subscription changed: cancelled, refunded, edited; found by their ``updated_at``
  against the ``changes_at`` watermark), and every segment once the day has moved (the windows
  end today);
- experiences: what the apps registered with ``register_refresher`` decide from the same
  context (``experiences.analytics`` refreshes the versions whose runs, grants or customers'
  orders moved).

``sweep`` (beat, ``scheduled.analytics_sweep``) finds a refresh whose heartbeat stopped, marks
it queued again with a note saying so and when, counts the restart and queues it; it also queues
the stores whose figures are older than ``ANALYTICS_REFRESH_SECONDS`` and a full refresh daily.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from ..models import (
    AnalyticsRefresh,
    Segment,
    SegmentDailySize,
    SegmentHistory,
    SegmentSummary,
    Store,
)
from . import figures

logger = logging.getLogger(__name__)

TASK = "segments.refresh_analytics"


@dataclass
class RefreshContext:
    """What a refresher needs to know to do only what changed."""

    store: Store
    now: dt.datetime
    full: bool
    since: dt.datetime | None  # the previous refresh's computed_at
    order_watermark: int  # orders with a larger id are new since then
    changed_since: dt.datetime | None  # orders and subscriptions updated after this changed
    new_day: bool  # the store's date moved since the previous refresh
    as_of: dt.datetime  # the start of today in the store's time zone: windows end there
    beat: Callable[[], None]  # call after each unit of work: moves the heartbeat


_refreshers: list[Callable[[RefreshContext], int]] = []


def register_refresher(refresher: Callable[[RefreshContext], int]) -> None:
    """Let a higher app refresh its own summaries in the same run (without being imported)."""
    if refresher not in _refreshers:
        _refreshers.append(refresher)


def stale_after() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "ANALYTICS_STALE_SECONDS", 300)))


def change_overlap() -> dt.timedelta:
    """How far back of the last refresh's start changed rows are looked for again: a
    transaction that began before it (its rows carry its start time) may commit after it."""
    return dt.timedelta(seconds=int(getattr(settings, "ANALYTICS_CHANGE_OVERLAP_SECONDS", 300)))


def refresh_every() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "ANALYTICS_REFRESH_SECONDS", 900)))


def status_of(store: Store) -> AnalyticsRefresh:
    return AnalyticsRefresh.objects.get_or_create(store=store)[0]


def request_refresh(store: Store, *, full: bool = False) -> AnalyticsRefresh:
    """Queue a refresh of the store's analytics unless one is already on its way."""
    from ..actions import enqueue

    now = timezone.now()
    with transaction.atomic():
        row, _ = AnalyticsRefresh.objects.select_for_update().get_or_create(store=store)
        if row.state in (AnalyticsRefresh.State.QUEUED, AnalyticsRefresh.State.RUNNING):
            if full and not row.full:
                row.full = True
                row.save(update_fields=["full"])
            return row
        row.state = AnalyticsRefresh.State.QUEUED
        row.queued_at = now
        row.full = row.full or full
        row.note = ""
        row.save(update_fields=["state", "queued_at", "full", "note"])
        transaction.on_commit(lambda: enqueue(TASK, store.pk))
    return row


def _claim(store_id: int, now: dt.datetime) -> AnalyticsRefresh | None:
    with transaction.atomic():
        row, _ = AnalyticsRefresh.objects.select_for_update().get_or_create(store_id=store_id)
        alive = row.heartbeat_at and row.heartbeat_at > now - stale_after()
        if row.state == AnalyticsRefresh.State.RUNNING and alive:
            return None  # another worker is on it
        row.state = AnalyticsRefresh.State.RUNNING
        row.started_at = row.heartbeat_at = now
        row.error = ""
        row.save(update_fields=["state", "started_at", "heartbeat_at", "error"])
    return row


def run_refresh(store_id: int, *, now: dt.datetime | None = None) -> str:
    """Refresh one store's summaries; return the state it ends in (``busy`` if already taken)."""
    now = now or timezone.now()
    row = _claim(store_id, now)
    if row is None:
        return "busy"

    def beat() -> None:
        AnalyticsRefresh.objects.filter(pk=row.pk).update(heartbeat_at=timezone.now())

    try:
        store = Store.objects.get(pk=store_id)
        tz = store.timezone
        today = now.astimezone(store.tzinfo).date()
        as_of = dt.datetime.combine(today, dt.time(), tzinfo=store.tzinfo)
        full = row.full or row.computed_at is None
        with connection.cursor() as cur:
            cur.execute("SELECT clock_timestamp()")
            changes_mark = cur.fetchone()[0]
        # Rows changed since the previous refresh began (its start on the database's clock; a
        # status row from before that watermark existed falls back to the end of the last one).
        changed_since = (row.changes_at or row.computed_at or now) - change_overlap()
        new_day = row.computed_at is None or row.computed_at.astimezone(store.tzinfo).date() < today
        history_mark = SegmentHistory.objects.filter(store=store).aggregate(m=Max("id"))["m"] or 0
        order_mark = store.orders.aggregate(m=Max("id"))["m"] or 0
        segments = list(Segment.objects.filter(store=store).order_by("pk"))
        first_change = dict(
            SegmentHistory.objects.filter(
                store=store, id__gt=0 if full else row.history_id, segment__isnull=False
            )
            .values_list("segment_id")
            .annotate(at=Min("at"))
            .order_by()
        )
        last_days = dict(
            SegmentDailySize.objects.filter(store=store)
            .values_list("segment_id")
            .annotate(d=Max("date"))
            .order_by()
        )
        everything = full or new_day
        moved = (store.pk, row.order_id, changed_since, as_of)
        late = False if everything else _customers_moved(*moved)
        ordered = _segments_of_moved_customers(*moved) if late else set()
        if everything or late or not row.store_sums:
            store_sums = figures.store_period_sums(store.pk, as_of)
            store_sums = {str(w): [str(v) for v in sums] for w, sums in store_sums.items()}
        else:
            store_sums = row.store_sums
        for segment in segments:
            changed = segment.pk in first_change
            since = last_days.get(segment.pk) or dt.date.min
            if changed:
                since = min(since, first_change[segment.pk].astimezone(store.tzinfo).date())
            if full:
                since = dt.date.min
            figures.refresh_daily_sizes(segment.pk, store.pk, tz, since, today)
            summary = SegmentSummary.objects.filter(segment=segment).first()
            if everything or summary is None or segment.pk in ordered:
                _refresh_summary(segment, tz, as_of, now)
            elif changed and _only_joins_today(segment, row.history_id, as_of):
                _add_todays_joins(summary, row.history_id, tz, as_of, now)
            elif changed:
                _refresh_summary(segment, tz, as_of, now)
            beat()
        versions = sum(
            refresher(
                RefreshContext(
                    store,
                    now,
                    full,
                    row.computed_at,
                    row.order_id,
                    changed_since,
                    new_day,
                    as_of,
                    beat,
                )
            )
            for refresher in _refreshers
        )
        AnalyticsRefresh.objects.filter(pk=row.pk).update(
            state=AnalyticsRefresh.State.DONE,
            finished_at=timezone.now(),
            computed_at=now,
            full=False,
            history_id=history_mark,
            order_id=order_mark,
            changes_at=changes_mark,
            store_sums=store_sums,
            **({"last_full_at": now} if full else {}),
        )
        logger.info(
            "Analytics of store %s: %s segments, %s versions", store_id, len(segments), versions
        )
        return AnalyticsRefresh.State.DONE
    except Exception as exc:
        logger.exception("Analytics refresh of store %s failed", store_id)
        AnalyticsRefresh.objects.filter(pk=row.pk).update(
            state=AnalyticsRefresh.State.FAILED, finished_at=timezone.now(), error=str(exc)[:2000]
        )
        raise


def _only_joins_today(segment: Segment, history_mark: int, as_of: dt.datetime) -> bool:
    """Whether the segment's changes since the watermark are all joins dated today: those
    members have no whole window yet, so before/after stay as they are."""
    return (
        not SegmentHistory.objects.filter(segment=segment, id__gt=history_mark)
        .exclude(action=SegmentHistory.Action.ADDED, at__gte=as_of)
        .exists()
    )


def _add_todays_joins(
    summary: SegmentSummary, history_mark: int, tz: str, as_of: dt.datetime, now: dt.datetime
) -> None:
    """Add today's joins to the members' period sums and redo this month's cohort only."""
    added = figures.joined_since_sums(summary.store_id, summary.segment_id, history_mark, as_of)
    behaviour = summary.behaviour
    for window in figures.WINDOWS:
        block = behaviour[str(window)]
        block["members_period"] = [
            str(Decimal(old) + Decimal(new))
            for old, new in zip(block["members_period"], added[window], strict=True)
        ]
    month = as_of.astimezone(ZoneInfo(tz)).date().replace(day=1)
    kept = [c for c in summary.retention if c["cohort"] < month.strftime("%Y-%m")]
    summary.behaviour = behaviour
    summary.retention = kept + figures.retention(summary.segment_id, tz, as_of, month)
    summary.computed_at = now
    summary.save(update_fields=["behaviour", "retention", "computed_at"])


# Customers whose figures may have moved since the watermarks: a new order dated before today
# (late), or an order or subscription that existed and changed (cancelled, refunded, edited,
# reactivated). Rows dated today count in no window yet (windows end at the start of today).
_MOVED = """
    SELECT customer_id FROM segments_order
    WHERE store_id = %(store)s AND processed_at < %(as_of)s
      AND (id > %(order_mark)s OR updated_at > %(since)s)
    UNION
    SELECT customer_id FROM segments_subscription
    WHERE store_id = %(store)s AND created_at < %(as_of)s AND updated_at > %(since)s
"""


def _moved_params(store_id, order_mark, since, as_of) -> dict:
    return {"store": store_id, "order_mark": order_mark, "since": since, "as_of": as_of}


def _customers_moved(
    store_id: int, order_mark: int, since: dt.datetime, as_of: dt.datetime
) -> bool:
    """Whether any customer's orders or subscriptions moved in a way the figures can see."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT EXISTS ({_MOVED})", _moved_params(store_id, order_mark, since, as_of))
        return cur.fetchone()[0]


def _segments_of_moved_customers(
    store_id: int, order_mark: int, since: dt.datetime, as_of: dt.datetime
) -> set[int]:
    """The segments with a member whose orders or subscriptions moved."""
    with connection.cursor() as cur:
        cur.execute(
            f"""SELECT DISTINCT m.segment_id FROM segments_segmentmembership m
            WHERE m.store_id = %(store)s AND m.customer_id IN ({_MOVED})""",
            _moved_params(store_id, order_mark, since, as_of),
        )
        return {r[0] for r in cur.fetchall()}


def _refresh_summary(segment: Segment, tz: str, as_of: dt.datetime, now: dt.datetime) -> None:
    behaviour = {}
    member_sums = figures.member_period_sums(segment.store_id, segment.pk, as_of)
    for window in figures.WINDOWS:
        before, after = figures.before_after(segment.pk, window, as_of)
        behaviour[str(window)] = {
            "before": before,
            "after": after,
            "members_period": [str(v) for v in member_sums[window]],
        }
    SegmentSummary.objects.update_or_create(
        segment=segment,
        defaults={
            "store_id": segment.store_id,
            "behaviour": behaviour,
            "retention": figures.retention(segment.pk, tz, as_of),
            "computed_at": now,
        },
    )


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """Restart refreshes that died, re-send lost ones and queue the stores that are due."""
    from ..actions import enqueue

    now = now or timezone.now()
    dead = AnalyticsRefresh.objects.filter(
        state=AnalyticsRefresh.State.RUNNING, heartbeat_at__lt=now - stale_after()
    )
    restarted = []
    for row in dead.select_related("store"):
        note = (
            f"The refresh started at {row.started_at:%Y-%m-%d %H:%M:%S} UTC stopped answering "
            f"after {row.heartbeat_at:%H:%M:%S}; restarted by the sweep at {now:%H:%M:%S}."
        )
        updated = AnalyticsRefresh.objects.filter(
            pk=row.pk, state=AnalyticsRefresh.State.RUNNING, heartbeat_at=row.heartbeat_at
        ).update(
            state=AnalyticsRefresh.State.QUEUED, queued_at=now, note=note, restarts=row.restarts + 1
        )
        if updated:
            logger.warning("Analytics of store %s: %s", row.store_id, note)
            restarted.append(row.store_id)
    lost = list(
        AnalyticsRefresh.objects.filter(
            state=AnalyticsRefresh.State.QUEUED, queued_at__lt=now - stale_after()
        ).values_list("store_id", flat=True)
    )
    for store_id in [*restarted, *lost]:
        enqueue(TASK, store_id)
    due = 0
    for store in Store.objects.exclude(
        analytics_refresh__state__in=[AnalyticsRefresh.State.QUEUED, AnalyticsRefresh.State.RUNNING]
    ).select_related("analytics_refresh"):
        row = getattr(store, "analytics_refresh", None)
        if row is None or row.computed_at is None or row.computed_at < now - refresh_every():
            full = (
                row is None
                or row.last_full_at is None
                or (row.last_full_at < now - dt.timedelta(days=1))
            )
            request_refresh(store, full=full)
            due += 1
    return {"restarted": len(restarted), "resent": len(lost), "queued": due}
