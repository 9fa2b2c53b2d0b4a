"""The Celery app. Tasks are discovered in each installed app's ``tasks`` module."""

import os

from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("subexp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(**kwargs):
    """Log through the settings' LOGGING (ids on every line, JSON or text), not Celery's own."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@task_prerun.connect
@task_postrun.connect
def close_old_connections(sender=None, **kwargs):
    """Between tasks, drop a connection as Django does between requests: when it is older than
    CONN_MAX_AGE or unusable after an error (a PostgreSQL restart). ``CELERY_DB_REUSE_MAX`` keeps
    the Django fixup from closing it after every task. Eager tasks run inside their caller's
    transaction: their connection is the caller's to keep."""
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()
