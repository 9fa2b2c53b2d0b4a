"""Event processing actions: store a delivery, wake the workers, apply pending events in batches,
sweep the outbox, replay failed events.

Exactly once in effect: an event is claimed with ``FOR UPDATE SKIP LOCKED`` while still
``received`` and marked ``processed`` in the same transaction as its effects, so a redelivered or
duplicated task finds nothing to do. Per customer in order: a batch takes a transaction-level
advisory lock per customer (store + who the event is about, since the customer row may not exist
yet) in a fixed order, then applies its events sorted by customer and the event's own time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import threading
import time
from dataclasses import dataclass
from functools import cache

from celery import current_app
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from config.logs import log_context
from config.metrics import EVENTS, count_after_commit

from .. import domain
from ..figures import refresh_customer_figures
from ..models import InboundEvent
from .apply import ProcessingError, apply_event
from .batch import Batch
from .topics import PayloadError, check_payload, topic_for

logger = logging.getLogger(__name__)

DRAIN_TASK = "ingest.process_pending"
WAKE_FLAG = "subexp:ingest:drain-pending"


# --- the request path ------------------------------------------------------------------------

# One statement, one round trip: the delivery's key first (the exactly-once record, in its own
# unpartitioned table, segments/partitions.py), then the event, only when the key was new. The
# event's id is drawn for the key's row, so the key names its event.
_INSERT = """
WITH delivery AS (
    INSERT INTO segments_inbounddelivery (store_id, source, dedupe_key, event_id, received_at)
    VALUES (%(store)s, %(source)s, %(key)s, nextval('segments_inboundevent_id_seq'), %(now)s)
    ON CONFLICT (store_id, source, dedupe_key) DO NOTHING
    RETURNING event_id
)
INSERT INTO segments_inboundevent (
    id, store_id, source, topic, dedupe_key, customer_key, occurred_at, received_at, payload,
    status, attempts, last_error
)
SELECT event_id, %(store)s, %(source)s, %(topic)s, %(key)s, %(customer)s, %(occurred)s,
    %(now)s, {payload}, %(status)s, 0, ''
FROM delivery
RETURNING id
"""


@dataclass(frozen=True)
class Delivery:
    store_id: int
    source: str
    topic: str
    dedupe_key: str
    payload_text: str  # the JSON text to store
    triggered_at: dt.datetime | None = None  # the sender's own time, when the object has none


def record_delivery(delivery: Delivery, payload: object) -> int | None:
    """Store the delivery as an ``InboundEvent``; return its id, or None for a duplicate.

    Raise ``PayloadError`` when a supported topic lacks what it needs (nothing is stored). A topic
    we do not apply is stored as ``ignored``. Processing is woken after commit, never done here.
    """
    topic = topic_for(delivery.source, delivery.topic)
    if topic is None:
        status, key, occurred = InboundEvent.Status.IGNORED, "", None
    else:
        envelope = check_payload(topic, payload)
        status, key, occurred = (
            InboundEvent.Status.RECEIVED,
            envelope.customer_key,
            envelope.occurred_at or delivery.triggered_at,
        )
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT.format(payload="%(payload)s::jsonb"),
            {
                "store": delivery.store_id,
                "source": delivery.source,
                "key": delivery.dedupe_key,
                "topic": delivery.topic[:64],
                "customer": key[:300],
                "occurred": occurred,
                "now": timezone.now(),
                "payload": delivery.payload_text,
                "status": status,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    if status == InboundEvent.Status.RECEIVED:
        transaction.on_commit(_waker.request)
    return row[0]


# --- waking the workers ----------------------------------------------------------------------


class _BackgroundWaker:
    """Publish wake-ups from a thread of the web process, never from the request itself.

    A request only sets an event; the thread wakes processing, then waits a few milliseconds so
    a burst of requests shares one wake-up. The request never touches the broker, so a slow or
    down broker costs it nothing. A process that dies before its thread publishes loses no event:
    the row is committed and the sweep dispatches it.
    """

    def __init__(self):
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._app = None

    def request(self) -> None:
        if not settings.INGEST_WAKE_IN_BACKGROUND:
            wake_processing()
            return
        # Celery's current app is per thread: hand the thread the request's app.
        self._app = current_app._get_current_object()
        if self._pid != os.getpid():  # first use, or a forked child: threads do not survive fork
            with self._lock:
                if self._pid != os.getpid():
                    self._wanted = threading.Event()
                    threading.Thread(target=self._run, name="ingest-waker", daemon=True).start()
                    self._pid = os.getpid()
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            wake_processing(app=self._app)
            time.sleep(settings.INGEST_WAKE_COALESCE_SECONDS)


_waker = _BackgroundWaker()


@cache
def _flag_client(broker_url: str):
    """Return a Redis client for the wake flag when the broker is Redis, else None."""
    if not broker_url.startswith(("redis://", "rediss://")):
        return None
    import redis

    return redis.Redis.from_url(broker_url, socket_connect_timeout=0.5, socket_timeout=0.5)


def _broker_url(app=None) -> str:
    conf = (app or current_app).conf
    return conf.broker_write_url or conf.broker_url or ""


def wake_processing(*, force: bool = False, app=None) -> bool:
    """Make sure a drain task is on its way; return whether one was published.

    A Redis flag (set while a drain waits in the queue) coalesces wake-ups, so a burst of
    webhooks publishes a handful of tasks instead of one per event. A broker that is down is
    logged and swallowed: the events are safe in the database and the sweep dispatches them.
    """
    app = app or current_app
    client = _flag_client(_broker_url(app))
    try:
        if client is not None and not force:
            if not client.set(WAKE_FLAG, "1", nx=True, ex=settings.INGEST_WAKE_FLAG_SECONDS):
                return False
        app.send_task(DRAIN_TASK)
        return True
    except Exception as exc:  # noqa: BLE001 - any broker failure must not reach the sender
        logger.warning("Could not wake event processing (the sweep will): %s", exc)
        if client is not None and not force:
            try:
                client.delete(WAKE_FLAG)
            except Exception:  # noqa: BLE001
                pass
        return False


def _clear_wake_flag() -> None:
    client = _flag_client(_broker_url())
    if client is not None:
        try:
            client.delete(WAKE_FLAG)
        except Exception as exc:  # noqa: BLE001 - the flag expires by itself
            logger.warning("Could not clear the wake flag: %s", exc)


# --- the worker path -------------------------------------------------------------------------


def drain_pending(*, time_budget: float | None = None, every_month: bool = False) -> int:
    """Apply pending events batch after batch until none are left or the budget is spent.

    Return the number of events handled. When the budget runs out with work left, wake another
    drain so the queue keeps moving without one task hogging a worker. ``every_month`` claims
    events older than the claim window too (``process_batch``).
    """
    budget = settings.INGEST_DRAIN_SECONDS if time_budget is None else time_budget
    _clear_wake_flag()
    handled, started = 0, time.monotonic()
    while True:
        count = process_batch(every_month=every_month)
        handled += count
        if count < settings.INGEST_BATCH_SIZE:
            return handled
        if time.monotonic() - started > budget:
            wake_processing()
            return handled


# ``received_at`` bounds keep the claim to the months of its window (the table is partitioned by
# month, segments/partitions.py); the sweep claims with a window of None, every month.
_CLAIM = """
SELECT id, store_id, source, topic, customer_key, occurred_at, received_at, payload, attempts
FROM segments_inboundevent
WHERE status = 'received' AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)
  AND received_at >= %(since)s AND received_at <= %(until)s
ORDER BY received_at, id
LIMIT %(limit)s
{lock}
"""
# How far ahead of the worker's clock a web process's clock may be.
_CLOCK_SKEW = dt.timedelta(hours=1)
_EVERY_MONTH = dt.datetime(1, 1, 2, tzinfo=dt.UTC), dt.datetime(9999, 12, 30, tzinfo=dt.UTC)


def claim_bounds(now: dt.datetime, window: dt.timedelta | None) -> tuple[dt.datetime, dt.datetime]:
    """Return the ``received_at`` range a claim reads: its window up to now, or everything."""
    if window is None:
        return _EVERY_MONTH
    return now - window, now + _CLOCK_SKEW


def _claim_window() -> dt.timedelta:
    return dt.timedelta(days=settings.INGEST_CLAIM_WINDOW_DAYS)


@dataclass
class _Claimed:
    id: int
    store_id: int
    source: str
    topic: str
    customer_key: str
    occurred_at: dt.datetime | None
    received_at: dt.datetime
    payload: object
    attempts: int

    def sort_key(self):
        return (self.store_id, self.customer_key, self.occurred_at or self.received_at, self.id)


def process_batch(limit: int | None = None, *, every_month: bool = False) -> int:
    """Claim up to ``limit`` pending events, apply them and announce; return how many.

    Only events received in the last ``INGEST_CLAIM_WINDOW_DAYS`` are claimed, unless
    ``every_month``: older ones still pending are the sweep's (``sweep_pending``).
    """
    limit = limit or settings.INGEST_BATCH_SIZE
    window = None if every_month else _claim_window()
    now = timezone.now()
    since, until = claim_bounds(now, window)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                _CLAIM.format(lock="FOR UPDATE SKIP LOCKED"),
                {"now": now, "since": since, "until": until, "limit": limit},
            )
            rows = [_Claimed(*row) for row in cursor.fetchall()]
        if not rows:
            return 0
        if len(rows) == limit:
            wake_processing()  # more is waiting: let another worker process take the next batch
        for row in rows:
            if isinstance(row.payload, str):
                row.payload = json.loads(row.payload)
        rows.sort(key=_Claimed.sort_key)
        _lock_customers(rows)
        if settings.INGEST_TEST_PAUSE_SECONDS:
            time.sleep(settings.INGEST_TEST_PAUSE_SECONDS)  # lets tests kill a worker mid-task
        try:
            with transaction.atomic():
                _apply_all(rows)
        except Exception:  # noqa: BLE001 - one bad event must not hold back the others
            logger.info("Batch of %d failed as a whole; applying one by one", len(rows))
            for row in rows:
                _apply_one(row)
    return len(rows)


def _lock_customers(rows: list[_Claimed]) -> None:
    keys = sorted({f"{row.store_id}:{row.customer_key}" for row in rows})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(pg_advisory_xact_lock(hashtextextended(k, 0))) "
            "FROM (SELECT k FROM unnest(%s::text[]) AS k ORDER BY k) AS keys",
            [keys],
        )


def _apply_all(rows: list[_Claimed]) -> None:
    """Apply the rows in their order against one prepared ``Batch``; announce after commit.

    Every event's effects, the customers' figures and the events' status land in the caller's
    transaction; the domain events of the whole batch go to the receivers as one list.
    """
    items = []
    for row in rows:
        topic = topic_for(row.source, row.topic)
        # None: a topic dropped from the registry since the event was stored; nothing to apply.
        items.append((row, topic, check_payload(topic, row.payload).obj if topic else None))
    batch = Batch.prepare((row.store_id, topic, obj) for row, topic, obj in items if topic)
    touched, events = [], []
    for row, topic, obj in items:
        if topic is None:
            continue
        with log_context(store_id=row.store_id, event_id=f"inbound:{row.id}"):
            applied = apply_event(row.store_id, topic, obj, batch)
        touched.append(applied.customer_id)
        for n, (name, data) in enumerate(applied.announcements):
            events.append(
                domain.DomainEvent(
                    name=name,
                    store_id=row.store_id,
                    customer_id=applied.customer_id,
                    key=f"inbound:{row.id}" if n == 0 else f"inbound:{row.id}:{n}",
                    data=data,
                )
            )
    batch.flush()
    refresh_customer_figures(touched)
    now = timezone.now()
    for source in {row.source for row in rows}:
        done = sum(1 for row in rows if row.source == source)
        count_after_commit(EVENTS, done, source=source, result="processed")
    InboundEvent.objects.filter(
        pk__in=[row.id for row in rows],
        received_at__gte=min(row.received_at for row in rows),
        received_at__lte=max(row.received_at for row in rows),
    ).update(
        status=InboundEvent.Status.PROCESSED,
        processed_at=now,
        attempts=_plus_one(),
        next_attempt_at=None,
        last_error="",
    )
    domain.announce_all(events)


def _apply_one(row: _Claimed) -> None:
    with log_context(store_id=row.store_id, event_id=f"inbound:{row.id}"):
        _apply_one_logged(row)


def _apply_one_logged(row: _Claimed) -> None:
    try:
        with transaction.atomic():
            _apply_all([row])
    except (OperationalError, InterfaceError):
        # The database, not the event: a deadlock, a lost connection, a lock timeout. No attempt
        # is charged; the whole task is retried and the events stay ``received`` meanwhile.
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on the event, retried with backoff
        if record_failure(row.id, row.attempts + 1, exc, received_at=row.received_at):
            count_after_commit(EVENTS, source=row.source, result="failed")


def _plus_one():
    return F("attempts") + 1


def retry_delay(attempt: int) -> float:
    """Return the wait before the next attempt: exponential backoff with full jitter."""
    ceiling = min(
        settings.INGEST_RETRY_MAX_SECONDS, settings.INGEST_RETRY_BASE_SECONDS * 2**attempt
    )
    return random.uniform(ceiling / 2, ceiling)


def record_failure(
    event_id: int,
    attempts: int,
    exc: BaseException,
    *,
    received_at: dt.datetime | None = None,
) -> bool:
    """Keep the error; schedule a retry, or mark the event ``failed`` after the last attempt.

    Return whether the event is now ``failed`` (no attempt left). ``received_at``, when known,
    lets the update read only the event's month.
    """
    kind = "" if isinstance(exc, ProcessingError | PayloadError) else f"{type(exc).__name__}: "
    message = f"{kind}{exc}"[:4000]
    final = attempts >= settings.INGEST_MAX_ATTEMPTS
    rows = InboundEvent.objects.filter(pk=event_id)
    if received_at is not None:
        rows = rows.filter(received_at=received_at)
    rows.update(
        attempts=attempts,
        last_error=message,
        status=InboundEvent.Status.FAILED if final else InboundEvent.Status.RECEIVED,
        next_attempt_at=None
        if final
        else timezone.now() + dt.timedelta(seconds=retry_delay(attempts)),
    )
    log = logger.error if final else logger.warning
    log("Inbound event %s attempt %s failed: %s", event_id, attempts, message)
    return final


# --- the outbox sweep and replays ------------------------------------------------------------


def sweep_pending(*, grace_seconds: float | None = None) -> int:
    """Wake drains for events left ``received`` past the grace period or due for a retry; drain
    here those older than the drains' claim window.

    Return how many such events were found (at most 10,000 are counted). The drains take them in
    batches; a few are woken so both worker processes help with a backlog.
    """
    grace = settings.INGEST_SWEEP_GRACE_SECONDS if grace_seconds is None else grace_seconds
    now = timezone.now()
    overdue = InboundEvent.objects.filter(
        status=InboundEvent.Status.RECEIVED,
        next_attempt_at__isnull=True,
        received_at__lte=now - dt.timedelta(seconds=grace),
    ).values("pk")[:10_000]
    due = InboundEvent.objects.filter(
        status=InboundEvent.Status.RECEIVED, next_attempt_at__lte=now
    ).values("pk")[:10_000]
    found = overdue.count() + due.count()
    since, until = claim_bounds(now, _claim_window())
    stale = InboundEvent.objects.filter(
        Q(received_at__lt=since) | Q(received_at__gt=until), status=InboundEvent.Status.RECEIVED
    )
    if stale.exists():
        # Outside the drains' claim window (an outage that long, a retry across it, a clock far
        # ahead): drained here, reading every month.
        logger.warning("Sweep found events pending for over %s; draining them", _claim_window())
        drain_pending(every_month=True)
    if found:
        batches = -(-found // settings.INGEST_BATCH_SIZE)
        for _ in range(min(batches, settings.INGEST_SWEEP_MAX_WAKES)):
            wake_processing(force=True)
        logger.info("Sweep found %d pending events; woke processing", found)
    return found


def replay_events(event_ids: list[int]) -> int:
    """Put failed events back to ``received`` with fresh attempts; return how many."""
    with transaction.atomic():
        count = InboundEvent.objects.filter(
            pk__in=event_ids, status=InboundEvent.Status.FAILED
        ).update(status=InboundEvent.Status.RECEIVED, attempts=0, next_attempt_at=None)
        if count:
            transaction.on_commit(lambda: wake_processing(force=True))
    return count
