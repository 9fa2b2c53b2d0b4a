"""Monthly partitions for the data that grows without bound, and the retention of raw payloads.

Partitioned (PostgreSQL declarative partitioning by range of months):

- ``segments_segmenthistory`` on ``at``: every add and remove, kept forever, no unique key and
  nothing pointing at it (bulk announcements name its ids as plain integers), so the partition
  key can join the primary key, ``(id, at)``, without weakening anything.

Not partitioned, and why (each relies on a unique key that does not contain a time):

- ``segments_inboundevent``: ``(store, source, dedupe_key)`` is what makes a redelivered webhook
  count once; with the month in the key a delivery repeated across a month boundary would be
  applied twice. Its growth is the raw payload, which ``drop_old_payloads`` empties after
  ``INBOUND_PAYLOAD_RETENTION_DAYS``; the rows stay as the dedupe record.
- ``segments_outboxevent``: its ``key`` is unique (an event is recorded once) and sent rows are
  deleted after a day, so it does not grow.
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
from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

# table -> the timestamp column it is partitioned on
PARTITIONED = {"segments_segmenthistory": "at"}
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


def drop_old_payloads(*, days: int | None = None, batch: int = 5000, batches: int = 20) -> int:
    """Empty the raw payloads of inbound events applied more than ``days`` ago; return how many.

    Only events ``processed`` or ``ignored`` (a failed one keeps its payload for a replay); the
    row stays, as the record that makes a redelivery count once. Batched, so that a first run on
    a large table does not hold one long transaction.
    """
    days = settings.INBOUND_PAYLOAD_RETENTION_DAYS if days is None else days
    if not days:
        return 0
    cutoff = timezone.now() - dt.timedelta(days=days)
    emptied = 0
    for _ in range(batches):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE segments_inboundevent SET payload = '{}'::jsonb WHERE id IN ("
                " SELECT id FROM segments_inboundevent WHERE received_at < %s"
                " AND status IN ('processed', 'ignored') AND payload <> '{}'::jsonb"
                " LIMIT %s FOR UPDATE SKIP LOCKED)",
                [cutoff, batch],
            )
            emptied += cursor.rowcount
            if cursor.rowcount < batch:
                break
    if emptied:
        logger.info("Emptied the payloads of %d inbound events older than %d days", emptied, days)
    return emptied


def maintain() -> dict:
    """The beat task's work: partitions ahead, payloads past their retention."""
    return {"created": ensure_partitions(), "payloads_emptied": drop_old_payloads()}
