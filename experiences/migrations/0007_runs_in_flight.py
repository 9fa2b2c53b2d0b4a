"""Runs in flight, kept by the database: a small unpartitioned table that statement-level
triggers on ``experiences_run`` keep equal to its running and waiting runs.

Runs are partitioned by month (0006), so "the customer's runs in flight" probed every month's
partial index; this table answers it with one index. Transition tables make it one statement per
statement that inserts, updates or deletes runs (a batch's runs are one insert and one update).
Existing active runs are copied once here.
"""

from django.db import migrations, models

ACTIVE = "status IN ('running', 'waiting')"

FUNCTION = f"""
CREATE FUNCTION experiences_runs_in_flight_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM experiences_runinflight f USING old_rows o WHERE f.run_id = o.id;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM experiences_runinflight f USING new_rows n
        WHERE f.run_id = n.id AND NOT n.{ACTIVE};
    END IF;
    INSERT INTO experiences_runinflight (run_id, customer_id, month)
    SELECT id, customer_id, month FROM new_rows WHERE {ACTIVE}
    ON CONFLICT (run_id) DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER experiences_runs_in_flight_insert AFTER INSERT ON experiences_run
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION experiences_runs_in_flight_change();
CREATE TRIGGER experiences_runs_in_flight_update AFTER UPDATE ON experiences_run
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION experiences_runs_in_flight_change();
CREATE TRIGGER experiences_runs_in_flight_delete AFTER DELETE ON experiences_run
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION experiences_runs_in_flight_change();
INSERT INTO experiences_runinflight (run_id, customer_id, month)
    SELECT id, customer_id, month FROM experiences_run WHERE {ACTIVE};
"""

REVERSE = """
DROP TRIGGER IF EXISTS experiences_runs_in_flight_insert ON experiences_run;
DROP TRIGGER IF EXISTS experiences_runs_in_flight_update ON experiences_run;
DROP TRIGGER IF EXISTS experiences_runs_in_flight_delete ON experiences_run;
DROP FUNCTION IF EXISTS experiences_runs_in_flight_change();
"""


class Migration(migrations.Migration):
    dependencies = [("experiences", "0006_partition_runs")]

    operations = [
        migrations.CreateModel(
            name="RunInFlight",
            fields=[
                ("run_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("customer_id", models.BigIntegerField(db_index=True)),
                ("month", models.DateField()),
            ],
        ),
        migrations.RunSQL(FUNCTION, REVERSE),
    ]
