"""Partition runs and steps by month (experiences/partitions.py says how the keys stay as strong).

Works on a fresh database and on one with data:

1. the keys that cannot span partitions go: (experience, customer, rotation) moves to the
   unpartitioned ``RunRotation`` counter (filled with each pair's latest run), and the foreign
   keys naming a run or a step by id alone are dropped;
2. runs get the month of their triggering event (from ``trigger_event.occurred_at``, else their
   start), steps their run's, emails their step's;
3. each table is renamed, a partitioned table of the same columns takes its name (primary key
   ``(id, month)``, ids continuing from one sequence), the months the old rows span and three
   ahead get partitions (plus a default one), the rows are copied, the old table is dropped, and
   its indexes and constraints are created again under their names;
4. the unique keys come back with the month in them, and the foreign keys name the whole key:
   a step's (run_id, month), an email's (step_id, step_month).

Django's model state keeps ``id`` as the key (unique in practice: one sequence for all months).
Not reversible: the month is part of the tables' keys from here on.
"""

import datetime as dt

import django.db.models.deletion
from django.db import migrations, models

AHEAD = 3
TABLES = ("experiences_run", "experiences_runstep")  # (the run first: the steps name it)


def _add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


FILL = r"""
UPDATE experiences_run SET month = date_trunc('month', COALESCE(
    CASE WHEN trigger_event->>'occurred_at' ~ '^\d{4}-\d{2}-\d{2}'
         THEN (trigger_event->>'occurred_at')::timestamptz END,
    started_at) AT TIME ZONE 'UTC')::date;
UPDATE experiences_runstep s SET month = r.month FROM experiences_run r WHERE r.id = s.run_id;
UPDATE experiences_emaildelivery e SET step_month = s.month
    FROM experiences_runstep s WHERE s.id = e.step_id;
INSERT INTO experiences_runrotation (experience_id, customer_id, rotation, started_at)
SELECT DISTINCT ON (experience_id, customer_id) experience_id, customer_id, rotation, started_at
FROM experiences_run ORDER BY experience_id, customer_id, rotation DESC;
"""

FOREIGN_KEYS = """
ALTER TABLE experiences_runstep ADD CONSTRAINT runstep_run_month_fk
    FOREIGN KEY (run_id, month) REFERENCES experiences_run (id, month)
    DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE experiences_emaildelivery ADD CONSTRAINT emaildelivery_step_month_fk
    FOREIGN KEY (step_id, step_month) REFERENCES experiences_runstep (id, month)
    DEFERRABLE INITIALLY DEFERRED;
"""


def _swap(cursor, table: str) -> None:
    """Replace ``table`` by a table of the same columns partitioned by month, rows included."""
    old = f"{table}_unpartitioned"
    cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE confrelid = %s::regclass AND conrelid <> confrelid",
        [old],
    )
    pointing = cursor.fetchall()
    assert not pointing, f"foreign keys still point at {table}: {pointing}"
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
        [old],
    )
    (old_pkey,) = cursor.fetchone()
    cursor.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {old_pkey} TO {old}_pkey")
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('f', 'c', 'u') ORDER BY conname",
        [old],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid) "
        "ORDER BY i.relname",
        [old],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE (month)"
    )
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id, month)")
    cursor.execute(f"SELECT min(month), COALESCE(max(id), 0) FROM {old}")
    oldest, last_id = cursor.fetchone()
    today = dt.datetime.now(dt.UTC).date().replace(day=1)
    month = min(oldest, today) if oldest else today
    end = _add_months(today, AHEAD)
    while month <= end:
        high = _add_months(month, 1)
        cursor.execute(
            f"CREATE TABLE {table}_p{month:%Y%m} PARTITION OF {table} FOR VALUES FROM (%s) TO (%s)",
            [month, high],
        )
        month = high
    cursor.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
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


def fill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FILL)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            _swap(cursor, table)
        cursor.execute(FOREIGN_KEYS)


class Migration(migrations.Migration):
    dependencies = [
        ("experiences", "0005_simulation_shadow"),
        ("segments", "0013_partition_segment_history"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="run", name="run_unique_experience_event"),
        migrations.RemoveConstraint(model_name="run", name="run_unique_customer_rotation"),
        migrations.RemoveConstraint(
            model_name="runstep", name="runstep_unique_run_node_rotation"
        ),
        migrations.AlterField(
            model_name="runstep",
            name="run",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="steps",
                to="experiences.run",
            ),
        ),
        migrations.AlterField(
            model_name="emaildelivery",
            name="step",
            field=models.OneToOneField(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="email",
                to="experiences.runstep",
            ),
        ),
        migrations.AddField(model_name="run", name="month", field=models.DateField(null=True)),
        migrations.AddField(
            model_name="runstep", name="month", field=models.DateField(null=True)
        ),
        migrations.AddField(
            model_name="emaildelivery", name="step_month", field=models.DateField(null=True)
        ),
        migrations.CreateModel(
            name="RunRotation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("rotation", models.PositiveIntegerField()),
                ("started_at", models.DateTimeField()),
                (
                    "customer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="segments.customer",
                    ),
                ),
                (
                    "experience",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="experiences.experience",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("experience", "customer"),
                        name="runrotation_unique_experience_customer",
                    )
                ],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="run",
            name="month",
            field=models.DateField(
                help_text="The partition: the month the triggering event occurred."
            ),
        ),
        migrations.AlterField(
            model_name="runstep",
            name="month",
            field=models.DateField(help_text="The partition: its run's month, copied."),
        ),
        migrations.AlterField(
            model_name="emaildelivery", name="step_month", field=models.DateField()
        ),
        migrations.RunPython(partition, elidable=False),
        migrations.AddConstraint(
            model_name="run",
            constraint=models.UniqueConstraint(
                fields=("experience", "trigger_event_key", "month"),
                name="run_unique_experience_event",
            ),
        ),
        migrations.AddConstraint(
            model_name="runstep",
            constraint=models.UniqueConstraint(
                fields=("run", "node", "rotation", "month"),
                name="runstep_unique_run_node_rotation",
            ),
        ),
    ]
