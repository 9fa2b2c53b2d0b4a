"""Segment pages: the list, a segment with its rule editor, members, CSV import, history and
"why is this customer here", creating and deleting segments."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from .. import actions, csv_import
from ..models import (
    Customer,
    JobStatus,
    MembershipSource,
    Role,
    Segment,
    SegmentImport,
)
from ..queries import (
    membership_explanations,
    scoped,
    segment_history,
    segment_members,
    segments_for,
)
from ..rules import RuleError, compile_for_store
from ..web import merchant_view
from .common import render_page, render_partial

MAX_RULE_LENGTH = 10_000


def _segment(request: HttpRequest, segment_id: int) -> Segment:
    return get_object_or_404(segments_for(request.store), pk=segment_id)


def _emails(text: str) -> list[str]:
    return [e.strip() for e in text.replace(",", "\n").replace(";", "\n").splitlines() if e.strip()]


def calculation_state(segment: Segment) -> tuple[str, str]:
    """Return the (badge class, label) of a dynamic segment's calculation in a merchant's words."""
    status = segment.status
    if status in {Segment.Status.IDLE, Segment.Status.DONE}:
        if segment.last_calculated_at:
            return "done", "Up to date"
        return "idle", "Not calculated yet"
    if status == Segment.Status.QUEUED:
        return "queued", "Waiting to calculate"
    if status == Segment.Status.RUNNING:
        done, total = segment.progress_done, segment.progress_total
        return "running", f"Calculating {100 * done // total}%" if total else "Calculating"
    return "failed", "Calculation failed"


@merchant_view()
def segment_list(request: HttpRequest) -> HttpResponse:
    segments = list(
        segments_for(request.store).only(
            "id", "name", "kind", "member_count", "status", "last_calculated_at", "description",
            "progress_done", "progress_total",
        )
    )  # fmt: skip
    kinds = dict(Segment.Kind.choices)
    for segment in segments:  # labels in Python once per row: no per-row template include
        segment.kind_label = kinds[segment.kind]
        segment.state_class, segment.state_label = calculation_state(segment)
    return render_page(request, "segments/segment_list.html", {"segments": segments})


def check_rule(store, rule: str) -> dict:
    """Check a rule for the store; return its problems, or its preview count when it is good."""
    rule = rule.strip()
    if not rule:
        return {"empty": True}
    if len(rule) > MAX_RULE_LENGTH:
        return {"problems": [f"The rule is longer than {MAX_RULE_LENGTH} characters."]}
    try:
        sql, params = compile_for_store(rule, store, alias=Customer._meta.db_table)
    except RuleError as exc:
        return {"problems": [str(p) for p in exc.problems]}
    matching = scoped(Customer, store).filter(RawSQL(sql, params, output_field=BooleanField()))
    return {"ok": True, "count": matching.count()}


@require_POST
@merchant_view()
def rule_check(request: HttpRequest) -> HttpResponse:
    """The rule editor's live feedback (htmx): line and column of each problem, or the count."""
    return render_partial(
        request,
        "segments/_rule_check.html",
        check_rule(request.store, request.POST.get("rule", "")),
    )


@merchant_view(Role.EDITOR)
def segment_create(request: HttpRequest) -> HttpResponse:
    values = {"name": "", "kind": Segment.Kind.STATIC, "rule": "", "description": ""}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in values}
        try:
            segment = actions.create_segment(
                request.store,
                name=values["name"],
                kind=values["kind"],
                rule=values["rule"] if values["kind"] == Segment.Kind.DYNAMIC else "",
                description=values["description"],
                acting_user=request.user,
            )
        except RuleError as exc:
            errors["rule"] = [str(p) for p in exc.problems]
        except actions.SegmentError as exc:
            errors["name"] = [str(exc)]
        else:
            return redirect("app-segment", segment_id=segment.pk)
    return render_page(
        request,
        "segments/segment_form.html",
        {"values": values, "errors": errors, "kinds": Segment.Kind.choices},
        status=400 if errors else 200,
    )


@merchant_view()
def segment_detail(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = _segment(request, segment_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not request.membership.has_role(Role.EDITOR):
            raise PermissionDenied("Editing a segment needs the editor role.")
        rule = request.POST.get("rule") if segment.kind == Segment.Kind.DYNAMIC else None
        try:
            actions.update_segment(
                segment,
                name=request.POST.get("name", segment.name),
                description=request.POST.get("description", segment.description),
                rule=rule,
                acting_user=request.user,
            )
        except RuleError as exc:
            errors["rule"] = [str(p) for p in exc.problems]
        except actions.SegmentError as exc:
            errors["name"] = [str(exc)]
        else:
            return redirect("app-segment", segment_id=segment.pk)
    query = request.GET.get("q", "").strip()
    members = Paginator(segment_members(segment, query), 25).get_page(request.GET.get("page"))
    context = {
        "segment": segment,
        "state": calculation_state(segment),
        "errors": errors,
        "rule_value": request.POST.get("rule", segment.rule) if errors else segment.rule,
        "members": members,
        "q": query,
        "history": segment_history(request.store, segment=segment)[:10],
        "imports": scoped(SegmentImport, request.store).filter(segment=segment)[:5],
        "calculation": segment.calculations.order_by("-id").first(),
    }
    return render_page(
        request, "segments/segment_detail.html", context, status=400 if errors else 200
    )


@require_POST
@merchant_view(Role.EDITOR)
def segment_delete(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = _segment(request, segment_id)
    try:
        actions.delete_segment(segment, acting_user=request.user)
    except actions.SegmentInUse as exc:
        return render_page(
            request,
            "segments/segment_in_use.html",
            {"segment": segment, "usages": exc.usages},
            status=409,
        )
    return redirect("app-segments")


def _member_options(request):
    return {
        "source": MembershipSource.MANUAL,
        "reference": f"user:{request.user.pk}",
        "acting_user": request.user,
    }


@require_POST
@merchant_view(Role.EDITOR)
def members_add(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = _segment(request, segment_id)
    emails = _emails(request.POST.get("emails", ""))
    outcome: dict = {"segment": segment}
    if not emails:
        outcome["error"] = "Enter at least one email address."
    elif len(emails) > 1000:
        outcome["error"] = "Add at most 1,000 emails at once; import a CSV for more."
    else:
        try:
            result = actions.change_members_by_email(
                segment, emails, add=True, **_member_options(request)
            )
        except actions.SegmentError as exc:
            outcome["error"] = str(exc)
        else:
            outcome.update(
                added=result.changed, already=result.unchanged, unknown=result.unknown[:50]
            )
    status = 400 if "error" in outcome else 200
    if request.htmx:
        return render_partial(request, "segments/_members_added.html", outcome, status=status)
    return redirect("app-segment", segment_id=segment.pk)


@require_POST
@merchant_view(Role.EDITOR)
def members_remove(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = _segment(request, segment_id)
    raw = request.POST.get("customer", "")
    customer = get_object_or_404(
        scoped(Customer, request.store), pk=int(raw) if raw.isdigit() else 0
    )
    try:
        actions.remove_customers_from_segment(segment, [customer.pk], **_member_options(request))
    except actions.SegmentError as exc:
        return HttpResponse(str(exc), status=400)
    if request.htmx:
        return HttpResponse("")  # the row is swapped out
    return redirect("app-segment", segment_id=segment.pk)


@merchant_view()
def member_why(request: HttpRequest, segment_id: int, customer_id: int) -> HttpResponse:
    """Why is this customer in this segment: since when, by what, by whom (a partial)."""
    segment = _segment(request, segment_id)
    customer = get_object_or_404(scoped(Customer, request.store), pk=customer_id)
    membership = membership_explanations(request.store, customer).filter(segment=segment).first()
    return render_partial(
        request,
        "segments/_why.html",
        {"segment": segment, "customer": customer, "m": membership},
    )


@merchant_view()
def segment_history_page(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = _segment(request, segment_id)
    rows = segment_history(request.store, segment=segment)
    query = request.GET.get("q", "").strip()
    if query:
        rows = rows.filter(customer__email__icontains=query)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render_page(
        request, "segments/segment_history.html", {"segment": segment, "page": page, "q": query}
    )


@merchant_view(Role.EDITOR)
def import_start(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = _segment(request, segment_id)
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = "Choose a CSV file with an 'email' column."
        else:
            try:
                job = csv_import.start_import(
                    segment, content=upload.read(), filename=upload.name, acting_user=request.user
                )
            except actions.SegmentError as exc:
                error = str(exc)
            else:
                return redirect(
                    "app-segment-import-progress", segment_id=segment.pk, import_id=job.pk
                )
    return render_page(
        request,
        "segments/segment_import.html",
        {"segment": segment, "error": error},
        status=400 if error else 200,
    )


@merchant_view()
def import_progress(request: HttpRequest, segment_id: int, import_id: int) -> HttpResponse:
    segment = _segment(request, segment_id)
    job = get_object_or_404(
        scoped(SegmentImport, request.store).filter(segment=segment), pk=import_id
    )
    context = {
        "segment": segment,
        "job": job,
        "problems": job.problems.order_by("line")[:200],
        "finished": job.status in {JobStatus.DONE, JobStatus.FAILED},
    }
    if request.htmx:
        return render_partial(request, "segments/_import_progress.html", context)
    return render_page(request, "segments/segment_import_progress.html", context)
