"""Experience analytics summaries: one row per published version, written by the analytics
refresh (``experiences.analytics``) and read by the API and the Analytics page."""

from django.db import models

from segments.models import StoreOwned

from .graph import Experience, ExperienceVersion


class ExperienceSummary(StoreOwned):
    experience = models.ForeignKey(Experience, on_delete=models.CASCADE, related_name="summaries")
    version = models.OneToOneField(
        ExperienceVersion, on_delete=models.CASCADE, related_name="summary"
    )
    funnel = models.JSONField(default=list)
    rewards = models.JSONField(default=dict)
    outcome = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "experience summaries"

    def __str__(self):
        return f"Summary of version {self.version_id} at {self.computed_at}"
