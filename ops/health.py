"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work), as cheap JSON.

``/readyz`` answers 200 only when the database answers, the broker accepts a connection and no
migration is left to apply; otherwise 503 naming what is not ready. Load balancers and
orchestrators route traffic on it; ``/healthz`` only says the process is alive (restart on it).
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

_migrated = False  # once every migration is applied, this process stops checking


def healthz(request):
    return JsonResponse({"ok": True})


def _database() -> str | None:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - reported, never raised
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


def _migrations() -> str | None:
    global _migrated
    if _migrated:
        return None
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"[:300]
    if plan:
        return (
            f"{len(plan)} migration(s) not applied, first {plan[0][0].app_label}.{plan[0][0].name}"
        )
    _migrated = True
    return None


def _broker() -> str | None:
    from django.conf import settings

    from config.celery import app

    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


@never_cache
def readyz(request):
    checks = {"database": _database()}
    checks["migrations"] = _migrations() if checks["database"] is None else "database unreachable"
    checks["broker"] = _broker()
    problems = {name: error for name, error in checks.items() if error}
    body = {"ready": not problems, "checks": {n: e or "ok" for n, e in checks.items()}}
    return JsonResponse(body, status=503 if problems else 200)
