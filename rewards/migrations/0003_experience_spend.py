"""What each experience has given, kept by the database for the budget check.

Statement-level triggers with transition tables: one upsert per statement that inserts, updates
or deletes grants (a batch of grants is one statement), adding the change of the sum of
non-skipped amounts per experience. Existing grants are summed once here.
"""

from decimal import Decimal

from django.db import migrations, models

COUNTED = "status <> 'skipped' AND experience_id IS NOT NULL"

FUNCTION = f"""
CREATE FUNCTION rewards_experience_spend_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO rewards_experiencespend AS s (experience_id, spent)
        SELECT experience_id, SUM(amount) FROM new_rows WHERE {COUNTED} GROUP BY experience_id
        ON CONFLICT (experience_id) DO UPDATE SET spent = s.spent + EXCLUDED.spent;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO rewards_experiencespend AS s (experience_id, spent)
        SELECT experience_id, -SUM(amount) FROM old_rows WHERE {COUNTED} GROUP BY experience_id
        ON CONFLICT (experience_id) DO UPDATE SET spent = s.spent + EXCLUDED.spent;
    ELSE
        INSERT INTO rewards_experiencespend AS s (experience_id, spent)
        SELECT experience_id, SUM(change) FROM (
            SELECT experience_id, amount AS change FROM new_rows WHERE {COUNTED}
            UNION ALL
            SELECT experience_id, -amount FROM old_rows WHERE {COUNTED}
        ) AS changes GROUP BY experience_id HAVING SUM(change) <> 0
        ON CONFLICT (experience_id) DO UPDATE SET spent = s.spent + EXCLUDED.spent;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER rewards_experience_spend_insert AFTER INSERT ON rewards_rewardgrant
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rewards_experience_spend_change();
CREATE TRIGGER rewards_experience_spend_update AFTER UPDATE ON rewards_rewardgrant
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rewards_experience_spend_change();
CREATE TRIGGER rewards_experience_spend_delete AFTER DELETE ON rewards_rewardgrant
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rewards_experience_spend_change();
INSERT INTO rewards_experiencespend (experience_id, spent)
    SELECT experience_id, SUM(amount) FROM rewards_rewardgrant WHERE {COUNTED}
    GROUP BY experience_id;
"""

REVERSE = """
DROP TRIGGER IF EXISTS rewards_experience_spend_insert ON rewards_rewardgrant;
DROP TRIGGER IF EXISTS rewards_experience_spend_update ON rewards_rewardgrant;
DROP TRIGGER IF EXISTS rewards_experience_spend_delete ON rewards_rewardgrant;
DROP FUNCTION IF EXISTS rewards_experience_spend_change();
"""


class Migration(migrations.Migration):
    dependencies = [("rewards", "0002_liability_checkpoint")]

    operations = [
        migrations.CreateModel(
            name="ExperienceSpend",
            fields=[
                ("experience_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("spent", models.DecimalField(decimal_places=2, default=Decimal("0.00"), max_digits=16)),
            ],
        ),
        migrations.RunSQL(FUNCTION, REVERSE),
    ]
