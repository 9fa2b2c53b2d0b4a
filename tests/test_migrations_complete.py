"""Every model change has its migration: a fresh machine migrates to exactly the models."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # --check exits non-zero when a migration is missing
        pytest.fail(f"A model change has no migration (exit {exc.code}):\n{out.getvalue()}")
    assert "No changes detected" in out.getvalue()
