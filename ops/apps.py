from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: health, readiness, metrics and the staff operations page."""

    name = "ops"
    verbose_name = "Operations"
