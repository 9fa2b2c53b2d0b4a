"""Monthly partitions for the data that grows without bound, the retention of raw payloads, of
dedupe keys and of old inbound months, and the outbox's months dropped whole.

Partitioned (PostgreSQL declarative partitioning by range of months):

- ``segments_segmenthistory`` on ``at``: every add and remove, kept forever, no unique key and
  nothing pointing at it (bulk announcements name its ids as plain integers), so the partition
  key can join the primary key, ``(id, at)``, without weakening anything.
- ``segments_inboundevent`` on ``received_at``. Its exactly-once key, ``(store, source,
  dedupe_key)``, cannot stay on it (a unique key of a partitioned table must contain the month,
  and a delivery repeated across a month boundary would then be applied twice), so it lives in
  ``segments_inbounddelivery``, unpartitioned and narrow: the request writes the key and the
  event in one statement (``INSERT ... ON CONFLICT DO NOTHING RETURNING`` in a CTE, then the
  event's insert from what it returned), so a duplicate writes neither and the event exists iff
  its key does. Keys older than ``INBOUND_DEDUPE_RETENTION_DAYS`` (30) are deleted: Shopify
  retries for 4 hours and Recharge for 48, so a redelivery of a key that old does not happen.
  Payloads are emptied after ``INBOUND_PAYLOAD_RETENTION_DAYS`` (90), and a month's partition is
  dropped whole once it ended ``INBOUND_EVENT_RETENTION_DAYS`` (400) ago, unless it still holds
  an event to apply or a failed one (``drop_old_inbound_months``). Readers by id
  (replay, admin) read every partition's primary key index; the worker's claim and its updates
  carry ``received_at`` bounds so that they read only the months they need.
- ``segments_outboxevent`` on ``created_at``, with ``key`` unique within each month's partition
  (a partition-local unique index; the insert's ``ON CONFLICT DO NOTHING`` names no target, so
  it checks them). The DomainEvent's ``occurred_at`` could not key it: it is the time the object
  was built, and a follow-up built again gets a new one. What the month gives up is narrow: a
  key recorded again across a month boundary while its first row is still kept (unsent, or
  sent less than a day ago) is recorded twice where it was absorbed before. The old key already
  let through a key recorded again after its row was deleted, so receivers dedupe on the key
  (one run per experience and trigger key), and keys are recorded by the transaction that
  creates what they name (an inbound event applied once, a history row, a run step), which its
  own unique keys keep from running twice: "an event is recorded once" holds in effect. Sent
  rows are deleted a day after; a past month's partition with nothing left to send is dropped
  whole (``drop_sent_outbox_months``) instead of deleting its last rows.

Higher layers partition their own tables and ``register`` them here, so that the same beat task
keeps their months ahead (``experiences_run`` and ``experiences_runstep``, on the month of the
triggering event: ``experiences/partitions.py`` says why their keys stay as strong).

A partition per month is created ahead by the beat task ``scheduled.maintain_partitions``; a
default partition catches rows outside them (a clock far off, an import of old history), and
``ensure_partitions`` moves such rows into the month's partition when it creates it. A table that
other tables' foreign keys point at cannot have rows moved out of its default partition (the keys
are checked against each partition); for those, a month whose rows already sit in the default is
left there, with a warning, instead of created.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

# table -> the timestamp column it is partitioned on
PARTITIONED = {
    "segments_segmenthistory": "at",
    "segments_inboundevent": "received_at",
    "segments_outboxevent": "created_at",
}
# table -> columns unique within each partition (a local index, created with the partition)
LOCAL_UNIQUE = {"segments_outboxevent": ("key",)}
OUTBOX = "segments_outboxevent"
INBOUND = "segments_inboundevent"
# tables whose rows stay in the default partition (foreign keys point at them)
UNMOVABLE: set[str] = set()


def register(table: str, column: str, *, movable: bool = True) -> None:
    """Keep months ahead for a higher layer's table, partitioned by range of ``column``
    (called from its ``AppConfig.ready()``); ``movable=False`` for a table foreign keys name."""
    PARTITIONED[table] = column
    if not movable:
        UNMOVABLE.add(table)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_p{month:%Y%m}"


def default_partition(table: str) -> str:
    return f"{table}_default"


def _bound(month: dt.date) -> str:
    return f"{month.isoformat()} 00:00:00+00"


def existing_partitions(table: str) -> set[str]:
    """Names of the table's partitions (the default one included)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [table],
        )
        return {row[0] for row in cursor.fetchall()}


def create_month(table: str, column: str, month: dt.date) -> bool:
    """Create the month's partition unless it exists; return whether it was created.

    Rows of that month already in the default partition are moved into the new one before it
    is attached (attaching checks that the default holds none of its range).
    """
    name = partition_name(table, month)
    if name in existing_partitions(table):
        return False
    low, high = _bound(month), _bound(add_months(month, 1))
    default = default_partition(table)
    with transaction.atomic(), connection.cursor() as cursor:
        if table in UNMOVABLE:
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM {default} WHERE {column} >= %s AND {column} < %s)",
                [low, high],
            )
            if cursor.fetchone()[0]:
                logger.warning(
                    "%s: rows of %s are in the default partition; left there", table, month
                )
                return False
        cursor.execute(
            f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        for col in LOCAL_UNIQUE.get(table, ()):
            cursor.execute(f"CREATE UNIQUE INDEX {name}_{col} ON {name} ({col})")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {default} WHERE {column} >= %s AND {column} < %s "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved",
            [low, high],
        )
        cursor.execute(
            f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",
            [low, high],
        )
    return True


def ensure_partitions(*, months_ahead: int | None = None, today: dt.date | None = None) -> list:
    """Create this month's partition and the next ``months_ahead`` ones; return those created."""
    if connection.vendor != "postgresql":
        return []
    ahead = settings.PARTITION_MONTHS_AHEAD if months_ahead is None else months_ahead
    this_month = month_start(today or timezone.now().date())
    created = []
    for table, column in PARTITIONED.items():
        for n in range(ahead + 1):
            month = add_months(this_month, n)
            if create_month(table, column, month):
                created.append(partition_name(table, month))
    if created:
        logger.info("Created partitions %s", ", ".join(created))
    return created


def _in_batches(sql: str, cutoff: dt.datetime, batch: int, batches: int) -> int:
    """Run a retention statement (``sql`` takes the cutoff and a batch size) until it touches
    fewer rows than a batch, at most ``batches`` times; return the rows touched. Each batch is
    its own short transaction, so a first run on a large table holds no long one."""
    touched = 0
    for _ in range(batches):
        with connection.cursor() as cursor:
            cursor.execute(sql, [cutoff, batch])
            touched += cursor.rowcount
            if cursor.rowcount < batch:
                break
    return touched


def drop_old_payloads(*, days: int | None = None, batch: int = 5000, batches: int = 20) -> int:
    """Empty the raw payloads of inbound events applied more than ``days`` ago; return how many.

    Only events ``processed`` or ``ignored`` (a failed one keeps its payload for a replay); the
    row stays, as the record that makes a redelivery count once. Batched, so that a first run on
    a large table does not hold one long transaction.
    """
    days = settings.INBOUND_PAYLOAD_RETENTION_DAYS if days is None else days
    if not days:
        return 0
    emptied = _in_batches(
        "UPDATE segments_inboundevent SET payload = '{}'::jsonb WHERE id IN ("
        " SELECT id FROM segments_inboundevent WHERE received_at < %s"
        " AND status IN ('processed', 'ignored') AND payload <> '{}'::jsonb"
        " LIMIT %s FOR UPDATE SKIP LOCKED)",
        timezone.now() - dt.timedelta(days=days),
        batch,
        batches,
    )
    if emptied:
        logger.info("Emptied the payloads of %d inbound events older than %d days", emptied, days)
    return emptied


def drop_old_dedupe_keys(*, days: int | None = None, batch: int = 5000, batches: int = 20) -> int:
    """Delete the delivery keys received more than ``days`` ago; return how many.

    A key is kept far beyond the platforms' retry windows (hours, two days), so a redelivery
    never finds its key gone. Batched like ``drop_old_payloads``.
    """
    days = settings.INBOUND_DEDUPE_RETENTION_DAYS if days is None else days
    if not days:
        return 0
    deleted = _in_batches(
        "DELETE FROM segments_inbounddelivery WHERE id IN ("
        " SELECT id FROM segments_inbounddelivery WHERE received_at < %s"
        " LIMIT %s FOR UPDATE SKIP LOCKED)",
        timezone.now() - dt.timedelta(days=days),
        batch,
        batches,
    )
    if deleted:
        logger.info("Deleted %d delivery keys older than %d days", deleted, days)
    return deleted


def _month_of(name: str, table: str) -> dt.date | None:
    suffix = name.removeprefix(f"{table}_p")
    if suffix == name or len(suffix) != 6 or not suffix.isdigit():
        return None
    return dt.date(int(suffix[:4]), int(suffix[4:]), 1)


# Whether a month's partition ({name}) still holds rows that keep it: an outbox row unsent; an
# inbound event still to apply or failed (kept for a replay), two probes of the month's small
# partial indexes (``inboundevent_pending``, ``inboundevent_failed``), never a scan of the month.
HAS_UNSENT = "SELECT EXISTS (SELECT 1 FROM {name} WHERE sent_at IS NULL)"
HAS_OPEN = (
    "SELECT EXISTS (SELECT 1 FROM {name} WHERE status = 'received')"
    " OR EXISTS (SELECT 1 FROM {name} WHERE status = 'failed')"
)


def _holds(still_needed: str, name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(still_needed.format(name=name))
        return cursor.fetchone()[0]


def _drop_months(table: str, ended_before: dt.datetime, still_needed: str) -> list[str]:
    """Drop ``table``'s month partitions that ended before ``ended_before`` and in which the
    query ``still_needed`` (``HAS_UNSENT``, ``HAS_OPEN``) finds nothing; return their names.

    The check runs again under the partition's lock, so no row can be changed or added
    meanwhile; a short lock timeout makes a busy moment skip the drop until the next run rather
    than queue the table's writers behind it.
    """
    if connection.vendor != "postgresql":
        return []
    dropped = []
    for name in sorted(existing_partitions(table)):
        month = _month_of(name, table)
        if month is None:
            continue
        end = dt.datetime.combine(add_months(month, 1), dt.time(0), dt.UTC)
        if end > ended_before or _holds(still_needed, name):
            continue
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '500ms'")
                cursor.execute(f"LOCK TABLE {table}, {name} IN ACCESS EXCLUSIVE MODE")
                if _holds(still_needed, name):
                    continue
                cursor.execute(f"DROP TABLE {name}")
        except OperationalError as exc:
            logger.info("Could not drop %s now (%s); the next run will", name, exc)
            continue
        dropped.append(name)
    return dropped


def drop_sent_outbox_months(*, keep: dt.timedelta = dt.timedelta(days=1)) -> list[str]:
    """Drop the outbox partitions of months that ended more than ``keep`` ago and hold no unsent
    row; return their names.

    Such a partition holds only rows the sweep would delete one by one; dropping it returns its
    space at once.
    """
    dropped = _drop_months(OUTBOX, timezone.now() - keep, HAS_UNSENT)
    if dropped:
        logger.info("Dropped the sent outbox months %s", ", ".join(dropped))
    return dropped


def drop_old_inbound_months(*, days: int | None = None) -> list[str]:
    """Drop the inbound event partitions of months that ended more than ``days`` ago
    (``INBOUND_EVENT_RETENTION_DAYS``; 0: kept forever); return their names.

    Such events were applied long ago: their orders, customers and runs hold what they said,
    their payloads were emptied after ``INBOUND_PAYLOAD_RETENTION_DAYS`` and their delivery keys
    deleted after ``INBOUND_DEDUPE_RETENTION_DAYS``, so the rows are only a receipt. A month that
    still holds an event to apply or a failed one (kept for a replay) is kept whole.
    """
    days = settings.INBOUND_EVENT_RETENTION_DAYS if days is None else days
    if not days:
        return []
    dropped = _drop_months(INBOUND, timezone.now() - dt.timedelta(days=days), HAS_OPEN)
    if dropped:
        logger.info("Dropped the inbound event months %s", ", ".join(dropped))
    return dropped


def maintain() -> dict:
    """The beat task's work: partitions ahead; payloads, dedupe keys and inbound months past
    their retention."""
    return {
        "created": ensure_partitions(),
        "payloads_emptied": drop_old_payloads(),
        "dedupe_keys_deleted": drop_old_dedupe_keys(),
        "inbound_months_dropped": drop_old_inbound_months(),
    }
