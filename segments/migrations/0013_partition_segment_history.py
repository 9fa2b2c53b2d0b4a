"""Partition the membership history by month (segments/partitions.py says why this table and
not the others).

Works on a fresh database and on one with data: the table is renamed, a partitioned table of the
same columns takes its name (primary key ``(id, at)``, ids continuing from the old ones), the
months the old rows span and three ahead get partitions (plus a default one), the rows are
copied, the old table is dropped, and its indexes and constraints are created again on the new
one under their names. Django's model state does not change (``id`` stays the model's key; it is
unique in practice, drawn from one sequence). Reversing it does nothing: the table stays
partitioned, with the same columns, which the code before it reads and writes alike.
"""

import datetime as dt

from django.db import migrations

TABLE = "segments_segmenthistory"
OLD = f"{TABLE}_unpartitioned"
AHEAD = 3


def _add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            [OLD],
        )
        (old_pkey,) = cursor.fetchone()
        cursor.execute(f"ALTER TABLE {OLD} RENAME CONSTRAINT {old_pkey} TO {OLD}_pkey")
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('f', 'c') ORDER BY conname",
            [OLD],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
            "AND indexname <> %s ORDER BY indexname",
            [OLD, f"{OLD}_pkey"],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS) PARTITION BY RANGE (at)"
        )
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, at)")
        cursor.execute(f"SELECT min(at), COALESCE(max(id), 0) FROM {OLD}")
        oldest, last_id = cursor.fetchone()
        today = dt.datetime.now(dt.UTC).date().replace(day=1)
        month = min(oldest.date().replace(day=1), today) if oldest else today
        end = _add_months(today, AHEAD)
        while month <= end:
            high = _add_months(month, 1)
            cursor.execute(
                f"CREATE TABLE {TABLE}_p{month:%Y%m} PARTITION OF {TABLE} "
                "FOR VALUES FROM (%s) TO (%s)",
                [f"{month} 00:00:00+00", f"{high} 00:00:00+00"],
            )
            month = high
        cursor.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
        cursor.execute(f"DROP TABLE {OLD}")
        cursor.execute(f"CREATE SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
        cursor.execute(f"SELECT setval('{TABLE}_id_seq', %s, true)", [max(last_id, 1)])
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq')")
        for name, definition in constraints:
            cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}")
        for _name, definition in indexes:
            cursor.execute(
                definition.replace(f" {OLD} ", f" {TABLE} ").replace(f".{OLD} ", f".{TABLE} ")
            )


class Migration(migrations.Migration):
    dependencies = [("segments", "0012_task_journal")]

    operations = [migrations.RunPython(partition, migrations.RunPython.noop, elidable=False)]
