"""Experiences and their versioned graphs, stored as rows: versions, nodes, edges.

The canvas only contributes positions; what runs is the rows. A published version is frozen; the
trigger index lists, per store and event name, the live experiences that listen to it, so the
engine finds them with one indexed query instead of scanning every experience.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from segments.models import StoreOwned


class Experience(StoreOwned):
    class Kind(models.TextChoices):
        REWARD_STRATEGY = "reward_strategy", "Reward strategy"
        SURPRISE_AND_DELIGHT = "surprise_and_delight", "Surprise and delight"
        UPCOMING_ORDER_CROSS_SELL = "upcoming_order_cross_sell", "Upcoming order cross-sell"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        LIVE = "live", "Live"
        PAUSED = "paused", "Paused"
        ARCHIVED = "archived", "Archived"

    class Reentry(models.TextChoices):
        EVERY_TIME = "every_time", "Every time the trigger fires"
        ONCE = "once", "Once ever"
        ONCE_PER_N_DAYS = "once_per_n_days", "At most once per N days"

    class PauseBehaviour(models.TextChoices):
        FINISH = "finish", "Runs in flight finish"
        END = "end", "Runs in flight are ended"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # DO_NOTHING: the database's foreign key refuses deleting a live version on its own, while
    # deleting the experience (or its store) removes both together.
    live_version = models.ForeignKey(
        "ExperienceVersion", on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+"
    )
    reentry = models.CharField(max_length=16, choices=Reentry.choices, default=Reentry.ONCE)
    reentry_days = models.PositiveIntegerField(null=True, blank=True)
    # e.g. ["subscription_cancelled", "left_segment:12"]; validated by experiences.exits.
    exit_criteria = models.JSONField(default=list, blank=True)
    holdout_percent = models.PositiveSmallIntegerField(default=0)
    pause_behaviour = models.CharField(
        max_length=8, choices=PauseBehaviour.choices, default=PauseBehaviour.FINISH
    )
    # The most this experience may give in total (credit, discounts, gifts), in the store's
    # currency; a grant that would pass it is recorded as skipped. None: no budget.
    reward_budget = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "reward_strategy",
                        "surprise_and_delight",
                        "upcoming_order_cross_sell",
                    ]
                ),
                name="experience_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "live", "paused", "archived"]),
                name="experience_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(holdout_percent__lte=100), name="experience_holdout_lte_100"
            ),
            models.CheckConstraint(
                condition=Q(reward_budget__isnull=True) | Q(reward_budget__gte=0),
                name="experience_reward_budget_gte_0",
            ),
            models.CheckConstraint(
                condition=~Q(reentry="once_per_n_days") | Q(reentry_days__gte=1),
                name="experience_reentry_days_required",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "archived"]) | Q(live_version__isnull=False),
                name="experience_live_has_version",
            ),
        ]
        indexes = [models.Index(fields=["store", "status"], name="experience_store_status")]

    def __str__(self):
        return self.name


class ExperienceVersion(StoreOwned):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"

    experience = models.ForeignKey(Experience, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    # Grows with every saved edit of the draft; a save based on an older revision is refused.
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["experience", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["experience", "number"], name="experienceversion_unique_number"
            ),
            models.UniqueConstraint(
                fields=["experience"],
                condition=Q(state="draft"),
                name="experienceversion_one_draft",
            ),
            models.UniqueConstraint(
                fields=["experience"],
                condition=Q(state="published"),
                name="experienceversion_one_published",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["draft", "published", "retired"]),
                name="experienceversion_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(state="draft") | Q(published_at__isnull=False),
                name="experienceversion_published_has_date",
            ),
        ]

    def __str__(self):
        return f"{self.experience} v{self.number} ({self.state})"

    @property
    def is_editable(self) -> bool:
        return self.state == self.State.DRAFT


class Node(models.Model):
    version = models.ForeignKey(ExperienceVersion, on_delete=models.CASCADE, related_name="nodes")
    key = models.SlugField(max_length=64, help_text="Stable identifier used by the builder.")
    type = models.CharField(max_length=32)
    config = models.JSONField(default=dict, blank=True)
    position_x = models.FloatField(default=0)
    position_y = models.FloatField(default=0)
    # Segments this node's configuration refers to (kept on save, for the segment-usage check).
    segment_ids = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["version", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="node_unique_version_key")
        ]
        indexes = [models.Index(fields=["version", "type"], name="node_version_type")]

    def __str__(self):
        return f"{self.key} ({self.type})"


class Edge(models.Model):
    version = models.ForeignKey(ExperienceVersion, on_delete=models.CASCADE, related_name="edges")
    source = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="out_edges")
    target = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="in_edges")
    branch = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["version", "id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "branch"], name="edge_unique_source_branch"),
            models.CheckConstraint(
                condition=~Q(source=models.F("target")), name="edge_no_self_loop"
            ),
        ]

    def __str__(self):
        label = f" [{self.branch}]" if self.branch else ""
        return f"{self.source_id} -> {self.target_id}{label}"


class TriggerIndex(StoreOwned):
    """One row per live experience: the domain event its trigger listens to.

    Written when a version is published or an experience resumed, deleted when it is paused or
    archived; the engine looks up (store, event) here for every domain event.
    """

    experience = models.OneToOneField(
        Experience, on_delete=models.CASCADE, related_name="trigger_index"
    )
    version = models.ForeignKey(ExperienceVersion, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=64)

    class Meta:
        verbose_name_plural = "trigger index"
        indexes = [models.Index(fields=["store", "event"], name="triggerindex_store_event")]

    def __str__(self):
        return f"{self.event} -> {self.experience_id}"
