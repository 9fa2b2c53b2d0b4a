"""The staff surface of experiences: experiences, versions and their graphs (read-only: they
change only through ``actions``, as in the API and the builder, where drafts get revisions and
publishing validates), runs with their steps, emails, chain-limit hits and the diagnostic view.
Staff pause, resume and archive with admin actions, which call ``actions``."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html

from segments.models import Customer

from . import actions, diagnostics
from .models import (
    ChainLimitHit,
    Edge,
    EmailDelivery,
    Experience,
    ExperienceVersion,
    Node,
    Run,
    RunStep,
)


class ReadOnlyInline:
    """Graph rows are shown, never edited here: drafts change through ``actions.save_draft``."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class NodeInline(ReadOnlyInline, admin.TabularInline):
    model = Node
    extra = 0
    fields = ["key", "type", "config", "position_x", "position_y"]


class EdgeInline(ReadOnlyInline, admin.TabularInline):
    model = Edge
    extra = 0
    fields = ["source", "target", "branch"]
    raw_id_fields = ["source", "target"]


class VersionInline(admin.TabularInline):
    model = ExperienceVersion
    extra = 0
    fields = ["number", "state", "revision", "published_at", "published_by"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Experience)
class ExperienceAdmin(admin.ModelAdmin):
    list_display = ["name", "store", "kind", "status", "live_version", "reentry", "holdout_percent"]
    list_filter = ["status", "kind", "store"]
    list_select_related = ["store", "live_version"]
    search_fields = ["name", "store__name"]
    inlines = [VersionInline]
    actions = ["pause_selected", "resume_selected", "archive_selected"]

    def get_readonly_fields(self, request, obj=None):
        return [
            *(f.name for f in self.model._meta.fields),
            "builder_link",
            "analytics_link",
            "diagnose_link",
        ]

    def has_add_permission(self, request):
        return False  # created through the API or the app, with a first draft

    def has_change_permission(self, request, obj=None):
        return False  # settings change through the API or the app (validated by actions)

    def has_delete_permission(self, request, obj=None):
        return False  # archived instead: runs and versions are history

    @admin.display(description="Flow builder")
    def builder_link(self, obj):
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="/app/experiences/{}/builder/">Open the flow builder</a>', obj.pk
        )

    @admin.display(description="Analytics")
    def analytics_link(self, obj):
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="/app/experiences/{}/analytics/">Funnel, rewards and outcome</a>', obj.pk
        )

    @admin.display(description="Diagnose a customer")
    def diagnose_link(self, obj):
        if obj.pk is None:
            return "-"
        url = reverse("admin:experiences_experience_explain", args=[obj.pk])
        return format_html('<a href="{}">Why did (or didn\'t) a customer enter?</a>', url)

    def get_urls(self):
        return [
            path(
                "<int:pk>/explain/",
                self.admin_site.admin_view(self.explain_view),
                name="experiences_experience_explain",
            ),
            *super().get_urls(),
        ]

    def explain_view(self, request, pk):
        experience = get_object_or_404(Experience.objects.select_related("store"), pk=pk)
        answer = None
        raw = request.GET.get("customer", "")
        if raw:
            customer = Customer.objects.filter(
                store=experience.store, pk=raw if raw.isdigit() else 0
            ).first()
            customer = (
                customer
                or Customer.objects.filter(store=experience.store, email__iexact=raw).first()
            )
            if customer is None:
                messages.error(request, f"No customer {raw!r} in {experience.store}.")
            else:
                answer = diagnostics.explain(experience, customer)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "experience": experience,
            "answer": answer,
            "answer_json": json.dumps(answer, indent=2, default=str) if answer else "",
            "title": f"Diagnose {experience}",
        }
        return render(request, "admin/experiences/explain.html", context)

    @admin.action(description="Pause (runs in flight finish)")
    def pause_selected(self, request, queryset):
        for experience in queryset.filter(status=Experience.Status.LIVE):
            actions.pause_experience(experience, in_flight=Experience.PauseBehaviour.FINISH)

    @admin.action(description="Resume")
    def resume_selected(self, request, queryset):
        for experience in queryset.filter(status=Experience.Status.PAUSED):
            try:
                actions.resume_experience(experience)
            except actions.ExperienceError as exc:
                messages.error(request, f"{experience}: {exc}")

    @admin.action(description="Archive (runs in flight end)")
    def archive_selected(self, request, queryset):
        for experience in queryset.exclude(status=Experience.Status.ARCHIVED):
            actions.archive_experience(experience)


@admin.register(ExperienceVersion)
class ExperienceVersionAdmin(admin.ModelAdmin):
    list_display = ["experience", "number", "state", "revision", "published_at"]
    list_filter = ["state"]
    list_select_related = ["experience"]
    search_fields = ["experience__name"]
    readonly_fields = [
        "experience",
        "store",
        "number",
        "state",
        "published_at",
        "published_by",
        "retired_at",
    ]
    inlines = [NodeInline, EdgeInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # drafts change through actions.save_draft (revisions, validation)

    def has_delete_permission(self, request, obj=None):
        return False  # runs keep pointing at their version; drafts go with archive


class RecordAdmin(admin.ModelAdmin):
    """A log the engine writes: staff read it, nobody adds or edits it by hand."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # drafts change through actions.save_draft (revisions, validation)


class RunStepInline(admin.TabularInline):
    model = RunStep
    extra = 0
    fields = [
        "node",
        "status",
        "attempt",
        "branch",
        "due_at",
        "wait_for",
        "result",
        "error",
        "finished_at",
    ]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Run)
class RunAdmin(RecordAdmin):
    list_display = [
        "id",
        "experience",
        "customer",
        "status",
        "rotation",
        "depth",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status", "experience"]
    list_select_related = ["experience", "customer"]
    search_fields = ["customer__email", "trigger_event_key", "chain_origin"]
    inlines = [RunStepInline]


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(RecordAdmin):
    list_display = ["subject", "to", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status"]
    search_fields = ["to", "subject"]


@admin.register(ChainLimitHit)
class ChainLimitHitAdmin(RecordAdmin):
    list_display = ["experience", "customer", "event_name", "depth", "chain_origin", "at"]
    list_filter = ["experience"]
    list_select_related = ["experience", "customer"]
