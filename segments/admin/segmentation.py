"""Staff pages for segments: the list, members, history, recompute, CSV export and import.

Every change goes through ``segments.actions`` (and ``csv_import``); these pages only read,
ask and show. Export streams the members through a server-side cursor, so any size fits.
"""

from __future__ import annotations

import csv

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from .. import actions, csv_import
from ..models import (
    Customer,
    JobStatus,
    MembershipSource,
    Segment,
    SegmentCalculation,
    SegmentHistory,
    SegmentImport,
)
from ..queries import membership_explanations, segment_history, segment_members
from ..rules import RuleError
from ..usage import segment_usages


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value):
        return value


def stream_csv(filename: str, rows) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def member_rows(segments):
    """Yield the CSV rows of members of the segments (Recharge's template starts with email)."""
    yield ["email", "first_name", "last_name", "customer_id", "segment", "source", "added_at"]
    for segment in segments:
        members = (
            segment.memberships.order_by("customer_id")
            .values_list(
                "customer__email",
                "customer__first_name",
                "customer__last_name",
                "customer_id",
                "source",
                "added_at",
            )
            .iterator(chunk_size=5000)  # a server-side cursor on PostgreSQL
        )
        for email, first, last, customer_id, source, added_at in members:
            yield [email, first, last, customer_id, segment.name, source, added_at.isoformat()]


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["store", "name", "description", "kind", "rule"]
        widgets = {
            "rule": forms.Textarea(attrs={"rows": 4, "cols": 80, "class": "vLargeTextField"})
        }

    def clean(self):
        data = super().clean()
        store = data.get("store") or getattr(self.instance, "store", None)
        if store is None:
            return data
        try:
            actions.check_segment_name(
                store, data.get("name", ""), self.instance.pk and self.instance
            )
            rule = (data.get("rule") or "").strip()
            if data.get("kind") == Segment.Kind.DYNAMIC:
                actions.check_segment_rule(store, rule, self.instance.pk and self.instance or None)
            elif rule:
                self.add_error("rule", "A static segment has no rule; choose the dynamic kind.")
        except RuleError as exc:
            self.add_error("rule", [str(p) for p in exc.problems])
        except actions.SegmentError as exc:
            self.add_error("name", str(exc))
        if self.instance.pk and data.get("kind") and data["kind"] != self.instance.kind:
            self.add_error("kind", "A segment's kind cannot change; create a new segment instead.")
        return data


class ImportForm(forms.Form):
    file = forms.FileField(help_text="A CSV with an 'email' column (Recharge's template).")


class AddMembersForm(forms.Form):
    emails = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="One email per line, or separated by commas.",
    )


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = [
        "name",
        "store",
        "kind",
        "member_count",
        "status_with_progress",
        "last_calculated_at",
        "links",
    ]
    list_filter = ["kind", "status", "store"]
    search_fields = ["name", "description", "store__name", "store__slug"]
    list_select_related = ["store"]
    readonly_fields = [
        "member_count",
        "version",
        "status",
        "progress_done",
        "progress_total",
        "calculation_started_at",
        "calculation_finished_at",
        "last_calculated_at",
        "last_error",
        "analytics_link",
    ]
    actions = ["recompute_now", "export_members_csv"]

    @admin.display(description="Analytics")
    def analytics_link(self, obj: Segment):
        if obj is None or obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}">Size, behaviour and retention</a>',
            reverse("app-segment-analytics", args=[obj.pk]),
        )

    @admin.display(description="Status")
    def status_with_progress(self, obj: Segment):
        if obj.status == Segment.Status.RUNNING and obj.progress_total:
            return f"running {100 * obj.progress_done // obj.progress_total}%"
        if obj.status == Segment.Status.FAILED:
            return format_html('<span title="{}">failed</span>', obj.last_error)
        return obj.get_status_display()

    @admin.display(description="")
    def links(self, obj: Segment):
        base = "admin:segments_segment_"
        parts = [
            format_html('<a href="{}">members</a>', reverse(base + "members", args=[obj.pk])),
            format_html('<a href="{}">history</a>', reverse(base + "history", args=[obj.pk])),
            format_html('<a href="{}">export</a>', reverse(base + "export", args=[obj.pk])),
            format_html(
                '<a href="{}">analytics</a>', reverse("app-segment-analytics", args=[obj.pk])
            ),
        ]
        if obj.kind == Segment.Kind.STATIC:
            parts.append(
                format_html('<a href="{}">import</a>', reverse(base + "import", args=[obj.pk]))
            )
        return format_html(" · ".join(["{}"] * len(parts)), *parts)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/members/", view(self.members_view), name="segments_segment_members"),
            path("<int:pk>/history/", view(self.history_view), name="segments_segment_history"),
            path("<int:pk>/export.csv", view(self.export_view), name="segments_segment_export"),
            path("<int:pk>/import/", view(self.import_view), name="segments_segment_import"),
            path(
                "imports/<int:import_id>/",
                view(self.import_progress_view),
                name="segments_segment_import_progress",
            ),
            path(
                "imports/<int:import_id>/report.csv",
                view(self.import_report_view),
                name="segments_segment_import_report",
            ),
            path(
                "customer/<int:customer_id>/",
                view(self.customer_view),
                name="segments_segment_customer",
            ),
            *super().get_urls(),
        ]

    # --- saving and deleting through the actions -----------------------------------------
    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            saved = actions.update_segment(
                Segment.objects.get(pk=obj.pk),
                name=data["name"],
                description=data.get("description", ""),
                rule=data.get("rule") if obj.kind == Segment.Kind.DYNAMIC else None,
                acting_user=request.user,
            )
        else:
            saved = actions.create_segment(
                data["store"],
                name=data["name"],
                kind=data["kind"],
                rule=data.get("rule", ""),
                description=data.get("description", ""),
                acting_user=request.user,
            )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for segment in objs:
            for usage in segment_usages(segment):
                protected.append(f"{segment.name}: used by {usage}")
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        actions.delete_segment(obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for segment in queryset:
            actions.delete_segment(segment, acting_user=request.user)

    # --- actions --------------------------------------------------------------------------
    @admin.action(description="Recompute now")
    def recompute_now(self, request, queryset):
        queued = 0
        for segment in queryset.filter(kind=Segment.Kind.DYNAMIC):
            actions.request_recompute(segment, trigger=SegmentCalculation.Trigger.MANUAL)
            queued += 1
        skipped = queryset.count() - queued
        self.message_user(request, f"Queued {queued} recompute(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} static segment(s) skipped: they have no rule.",
                messages.WARNING,
            )

    @admin.action(description="Export members as CSV")
    def export_members_csv(self, request, queryset):
        return stream_csv("segment-members.csv", member_rows(list(queryset.order_by("name"))))

    def export_view(self, request, pk):
        segment = get_object_or_404(Segment, pk=pk)
        return stream_csv(f"segment-{segment.pk}-members.csv", member_rows([segment]))

    # --- pages ----------------------------------------------------------------------------
    def _context(self, request, segment, title, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": segment,
            "segment": segment,
            "title": title,
            **extra,
        }

    def members_view(self, request, pk):
        segment = get_object_or_404(Segment.objects.select_related("store"), pk=pk)
        form = AddMembersForm()
        if request.method == "POST":
            if segment.kind != Segment.Kind.STATIC:
                messages.error(request, "Members of a dynamic segment follow its rule.")
                return HttpResponseRedirect(request.path)
            if "remove" in request.POST:
                result = actions.remove_customers_from_segment(
                    segment,
                    [int(i) for i in request.POST.getlist("remove") if i.isdigit()],
                    source=MembershipSource.MANUAL,
                    reference=f"user:{request.user.pk}",
                    acting_user=request.user,
                )
                messages.success(request, f"Removed {len(result.changed)} member(s).")
                return HttpResponseRedirect(request.get_full_path())
            form = AddMembersForm(request.POST)
            if form.is_valid():
                emails = [
                    e.strip()
                    for e in form.cleaned_data["emails"].replace(",", "\n").splitlines()
                    if e.strip()
                ]
                result = actions.change_members_by_email(
                    segment,
                    emails,
                    add=True,
                    source=MembershipSource.MANUAL,
                    reference=f"user:{request.user.pk}",
                    acting_user=request.user,
                )
                messages.success(
                    request,
                    f"Added {len(result.changed)}; already members {len(result.unchanged)};"
                    f" unknown {len(result.unknown)}"
                    + (f": {', '.join(result.unknown[:20])}" if result.unknown else "."),
                )
                return HttpResponseRedirect(request.get_full_path())
        query = request.GET.get("q", "").strip()
        page = Paginator(segment_members(segment, query), 50).get_page(request.GET.get("page"))
        return TemplateResponse(
            request,
            "admin/segments/segment/members.html",
            self._context(request, segment, f"Members of {segment}", page=page, q=query, form=form),
        )

    def history_view(self, request, pk):
        segment = get_object_or_404(Segment.objects.select_related("store"), pk=pk)
        rows = segment_history(segment.store, segment=segment)
        query = request.GET.get("q", "").strip()
        if query:
            rows = rows.filter(customer__email__icontains=query)
        page = Paginator(rows, 50).get_page(request.GET.get("page"))
        return TemplateResponse(
            request,
            "admin/segments/segment/history.html",
            self._context(request, segment, f"History of {segment}", page=page, q=query),
        )

    def customer_view(self, request, customer_id):
        customer = get_object_or_404(Customer.objects.select_related("store"), pk=customer_id)
        memberships = list(membership_explanations(customer.store, customer))
        page = Paginator(segment_history(customer.store, customer=customer), 50).get_page(
            request.GET.get("page")
        )
        return TemplateResponse(
            request,
            "admin/segments/segment/customer.html",
            self._context(
                request,
                None,
                f"Segments of {customer}",
                customer=customer,
                memberships=memberships,
                page=page,
            ),
        )

    def import_view(self, request, pk):
        segment = get_object_or_404(Segment, pk=pk)
        form = ImportForm()
        if request.method == "POST":
            form = ImportForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                try:
                    csv_import.check_size(upload.size)  # before reading it into memory
                    segment_import = csv_import.start_import(
                        segment,
                        content=upload.read(),
                        filename=upload.name,
                        acting_user=request.user,
                    )
                except actions.SegmentError as exc:
                    form.add_error("file", str(exc))
                else:
                    return HttpResponseRedirect(
                        reverse("admin:segments_segment_import_progress", args=[segment_import.pk])
                    )
        return TemplateResponse(
            request,
            "admin/segments/segment/import.html",
            self._context(request, segment, f"Import members into {segment}", form=form),
        )

    def import_progress_view(self, request, import_id):
        segment_import = get_object_or_404(
            SegmentImport.objects.select_related("segment"), pk=import_id
        )
        template = "admin/segments/segment/import_progress.html"
        if getattr(request, "htmx", False):
            template = "admin/segments/segment/_import_progress.html"
        problems = segment_import.problems.order_by("line")[:100]
        return TemplateResponse(
            request,
            template,
            self._context(
                request,
                segment_import.segment,
                f"Import into {segment_import.segment}",
                job=segment_import,
                problems=problems,
                finished=segment_import.status in {JobStatus.DONE, JobStatus.FAILED},
            ),
        )

    def import_report_view(self, request, import_id):
        segment_import = get_object_or_404(SegmentImport, pk=import_id)
        return stream_csv(
            f"import-{segment_import.pk}-report.csv", csv_import.import_report_rows(segment_import)
        )


@admin.register(SegmentHistory)
class SegmentHistoryAdmin(admin.ModelAdmin):
    list_display = ["at", "segment", "customer", "action", "source", "reference", "acting_user"]
    list_filter = ["action", "source", "store"]
    search_fields = ["customer__email", "segment__name", "reference"]
    list_select_related = ["segment", "customer", "acting_user"]
    raw_id_fields = ["segment", "customer", "acting_user"]
    date_hierarchy = "at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        if "@" in search_term:  # an email: exact, case-insensitive, uses the customer index
            return queryset.filter(Q(customer__email__iexact=search_term.strip())), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(SegmentCalculation)
class SegmentCalculationAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "segment",
        "version",
        "trigger",
        "status",
        "rows_done",
        "rows_total",
        "added",
        "removed",
        "started_at",
        "finished_at",
        "error",
    ]
    list_filter = ["status", "trigger"]
    search_fields = ["segment__name"]
    list_select_related = ["segment"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SegmentImport)
class SegmentImportAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "segment",
        "filename",
        "status",
        "rows_done",
        "rows_total",
        "added",
        "already_members",
        "unknown",
        "invalid",
        "created_at",
        "progress_link",
    ]
    list_filter = ["status"]
    search_fields = ["segment__name", "filename"]
    list_select_related = ["segment"]
    exclude = ["content"]

    @admin.display(description="")
    def progress_link(self, obj):
        url = reverse("admin:segments_segment_import_progress", args=[obj.pk])
        return format_html('<a href="{}">progress and report</a>', url)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
