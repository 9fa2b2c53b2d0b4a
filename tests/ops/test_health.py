"""/healthz says the process answers; /readyz says the database, the migrations and the broker
are ready, and names what is not."""

import pytest

import ops.health


def test_healthz_answers_without_touching_the_database(client):
    # no database fixture: a query here would fail the test
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"ok": True}


@pytest.mark.django_db
def test_readyz_is_ready_when_database_migrations_and_broker_are(client, monkeypatch):
    # given a process that has not yet checked its migrations
    monkeypatch.setattr(ops.health, "_migrated", False)
    # when readiness is asked twice
    first = client.get("/readyz")
    second = client.get("/readyz")
    # then both say ready, with every check named
    assert first.status_code == 200, first.json()
    assert first.json() == {
        "ready": True,
        "checks": {"database": "ok", "migrations": "ok", "broker": "ok"},
    }
    assert second.json()["ready"] is True
    assert first["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_readyz_names_an_unreachable_broker_with_503(client, settings):
    # given a broker address where nothing listens (a closed loopback port)
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    response = client.get("/readyz")
    # then it is not ready, and says the broker is why
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["checks"]["database"] == "ok" and body["checks"]["broker"] != "ok"


@pytest.mark.django_db
def test_readyz_names_migrations_left_to_apply(client, monkeypatch):
    # given a process that finds one migration unapplied
    monkeypatch.setattr(ops.health, "_migrated", False)

    class Pending:
        app_label, name = "segments", "9999_future"

    monkeypatch.setattr(
        "django.db.migrations.executor.MigrationExecutor.migration_plan",
        lambda self, targets: [(Pending, False)],
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"].startswith("1 migration(s) not applied")
