"""Partition the inbound events and the outbox by month (segments/partitions.py says how each
keeps its exactly-once promise).

The exactly-once key of a webhook delivery moves out of ``segments_inboundevent`` into its own
narrow table, ``segments_inbounddelivery``, filled from the existing events. The outbox's key
stops being unique over the whole table and becomes unique within each month's partition (a
partition-local unique index, created again for every new month by ``ensure_partitions``).

Then each table is swapped for a partitioned one as 0013 did for the history: renamed, a
partitioned table of the same columns takes its name (primary key ``(id, <time>)``, ids
continuing from the old ones), the months the old rows span and three ahead get partitions (plus
a default one), the rows are copied, the old table is dropped, and its indexes and constraints
are created again on the new one under their names. Django's model state keeps ``id`` as the key.
Reversing does nothing to the tables (the code before this reads and writes them alike, except
that it relies on the unique keys this removes).
"""

import datetime as dt

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


AHEAD = 3
# table -> (partition column, columns unique within each partition)
TABLES = {
    "segments_inboundevent": ("received_at", ()),
    "segments_outboxevent": ("created_at", ("key",)),
}


def _add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def _swap(cursor, table: str, column: str, local_unique: tuple) -> None:
    old = f"{table}_unpartitioned"
    cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
        [old],
    )
    (old_pkey,) = cursor.fetchone()
    cursor.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {old_pkey} TO {old}_pkey")
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('f', 'c') ORDER BY conname",
        [old],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
        "AND indexname <> %s ORDER BY indexname",
        [old, f"{old}_pkey"],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE ({column})"
    )
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id, {column})")
    cursor.execute(f"SELECT min({column}), COALESCE(max(id), 0) FROM {old}")
    oldest, last_id = cursor.fetchone()
    today = dt.datetime.now(dt.UTC).date().replace(day=1)
    month = min(oldest.date().replace(day=1), today) if oldest else today
    end = _add_months(today, AHEAD)
    names = []
    while month <= end:
        high = _add_months(month, 1)
        names.append(f"{table}_p{month:%Y%m}")
        cursor.execute(
            f"CREATE TABLE {names[-1]} PARTITION OF {table} FOR VALUES FROM (%s) TO (%s)",
            [f"{month} 00:00:00+00", f"{high} 00:00:00+00"],
        )
        month = high
    names.append(f"{table}_default")
    cursor.execute(f"CREATE TABLE {names[-1]} PARTITION OF {table} DEFAULT")
    for name in names:
        for col in local_unique:
            cursor.execute(f"CREATE UNIQUE INDEX {name}_{col} ON {name} ({col})")
    cursor.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    cursor.execute(f"DROP TABLE {old}")
    cursor.execute(f"CREATE SEQUENCE {table}_id_seq OWNED BY {table}.id")
    cursor.execute(f"SELECT setval('{table}_id_seq', %s, true)", [max(last_id, 1)])
    cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{table}_id_seq')")
    for name, definition in constraints:
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for _name, definition in indexes:
        cursor.execute(
            definition.replace(f" {old} ", f" {table} ").replace(f".{old} ", f".{table} ")
        )


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO segments_inbounddelivery "
            "(store_id, source, dedupe_key, event_id, received_at) "
            "SELECT store_id, source, dedupe_key, id, received_at FROM segments_inboundevent"
        )
        for table, (column, local_unique) in TABLES.items():
            _swap(cursor, table, column, local_unique)


class Migration(migrations.Migration):

    dependencies = [
        ('segments', '0013_partition_segment_history'),
    ]

    operations = [
        migrations.CreateModel(
            name='InboundDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('source', models.CharField(choices=[('shopify', 'Shopify'), ('recharge', 'Recharge')], max_length=10)),
                ('dedupe_key', models.CharField(max_length=255)),
                ('event_id', models.BigIntegerField()),
                ('received_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.RemoveConstraint(
            model_name='inboundevent',
            name='inboundevent_unique_dedupe',
        ),
        migrations.AlterField(
            model_name='outboxevent',
            name='key',
            field=models.CharField(max_length=200),
        ),
        migrations.AddField(
            model_name='inbounddelivery',
            name='store',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='%(class)ss', to='segments.store'),
        ),
        migrations.AddIndex(
            model_name='inbounddelivery',
            index=models.Index(fields=['received_at'], name='inbounddelivery_received'),
        ),
        migrations.AddConstraint(
            model_name='inbounddelivery',
            constraint=models.UniqueConstraint(fields=('store', 'source', 'dedupe_key'), name='inbounddelivery_unique_dedupe'),
        ),
        migrations.RunPython(partition, migrations.RunPython.noop, elidable=False),
    ]
