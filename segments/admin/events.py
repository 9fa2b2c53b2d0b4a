"""Staff view of inbound webhook events: find them, read their payload and error, replay them."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from ..ingest.actions import replay_events
from ..models import InboundEvent


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = ["id", "store", "source", "topic", "status", "attempts", "received_at"]
    list_filter = ["store", "source", "topic", "status"]
    list_select_related = ["store"]
    search_fields = ["dedupe_key", "customer_key", "last_error"]
    date_hierarchy = "received_at"
    ordering = ["-received_at", "-id"]
    actions = ["replay"]
    fields = [
        "store",
        "source",
        "topic",
        "status",
        "dedupe_key",
        "customer_key",
        "occurred_at",
        "received_at",
        "processed_at",
        "attempts",
        "next_attempt_at",
        "error",
        "pretty_payload",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Processing error")
    def error(self, obj):
        return format_html("<pre>{}</pre>", obj.last_error) if obj.last_error else "-"

    @admin.display(description="Payload")
    def pretty_payload(self, obj):
        text = json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)

    @admin.action(description="Replay the selected failed events")
    def replay(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        count = replay_events(ids)
        skipped = len(ids) - count
        self.message_user(request, f"{count} event(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} event(s) skipped: only failed events replay.", messages.WARNING
            )
