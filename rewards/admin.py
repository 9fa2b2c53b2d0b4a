"""The staff surface of rewards: incentives, the grant ledger (revoke and extend as admin
actions), credit entries (read-only), balances and the outstanding liability per store.
Every change goes through ``rewards.actions``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Sum
from django.shortcuts import render
from django.urls import path
from django.utils.html import format_html

from segments.models import Store

from . import actions
from .models import ZERO, CreditEntry, CrossSellOffer, Incentive, RewardGrant, RewardPolicy
from .params import InvalidParams, validate_params


class IncentiveForm(forms.ModelForm):
    class Meta:
        model = Incentive
        fields = ["store", "name", "kind", "params", "expires_in_days", "active"]

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind") or (self.instance.kind if self.instance.pk else None)
        if kind and "params" in cleaned:
            try:
                cleaned["params"] = validate_params(kind, cleaned["params"])
            except InvalidParams as exc:
                raise forms.ValidationError(str(exc)) from None
        return cleaned


@admin.register(Incentive)
class IncentiveAdmin(admin.ModelAdmin):
    form = IncentiveForm
    list_display = ["name", "store", "kind", "expires_in_days", "active", "created_at"]
    list_filter = ["kind", "active", "store"]
    list_select_related = ["store"]
    search_fields = ["name", "store__name"]

    def get_readonly_fields(self, request, obj=None):
        return ["store", "kind"] if obj else []

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            saved = actions.update_incentive(
                obj,
                name=data["name"],
                params=data["params"],
                expires_in_days=data.get("expires_in_days"),
                active=data.get("active", True),
            )
        else:
            saved = actions.create_incentive(
                data["store"],
                name=data["name"],
                kind=data["kind"],
                params=data["params"],
                expires_in_days=data.get("expires_in_days"),
            )
        obj.pk = saved.pk

    def has_delete_permission(self, request, obj=None):
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500)
    days = forms.IntegerField(min_value=1, max_value=3650, required=False)


class ExperienceFilter(admin.SimpleListFilter):
    title = "experience"
    parameter_name = "experience"

    def lookups(self, request, model_admin):
        ids = (
            RewardGrant.objects.exclude(experience_id=None)
            .values_list("experience_id", flat=True)
            .distinct()
            .order_by("experience_id")[:200]
        )
        return [(str(pk), f"Experience {pk}") for pk in ids]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(experience_id=int(self.value()))
        return queryset


class ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RewardGrant)
class RewardGrantAdmin(ReadOnly, admin.ModelAdmin):
    list_display = [
        "id",
        "customer",
        "store",
        "kind",
        "amount",
        "currency",
        "status",
        "reason",
        "experience_id",
        "created_at",
        "expires_at",
    ]
    list_filter = ["status", "kind", "store", ExperienceFilter]
    list_select_related = ["customer", "store"]
    search_fields = ["customer__email", "source_key"]
    raw_id_fields = ["customer", "incentive", "upcoming_order", "redeemed_order"]
    actions = ["revoke_selected", "extend_selected"]

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff

    def _with_reason(self, request, queryset, title, apply, needs_days=False):
        if "apply" in request.POST:
            form = ReasonForm(request.POST)
            if form.is_valid() and (form.cleaned_data["days"] or not needs_days):
                done, refused = 0, []
                for grant in queryset.order_by("pk"):
                    try:
                        apply(grant, form.cleaned_data)
                        done += 1
                    except actions.RewardError as exc:
                        refused.append(f"#{grant.pk}: {exc}")
                self.message_user(request, f"{title}: {done} grant(s).", messages.SUCCESS)
                for line in refused:
                    self.message_user(request, line, messages.WARNING)
                return None
        else:
            form = ReasonForm()
        return render(
            request,
            "admin/rewards/reason_form.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "needs_days": needs_days,
                "grants": queryset,
                "action": request.POST.get("action"),
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Revoke selected grants (with a reason)")
    def revoke_selected(self, request, queryset):
        return self._with_reason(
            request,
            queryset,
            "Revoke",
            lambda g, data: actions.revoke_grant(
                g, reason=data["reason"], acting_user=request.user
            ),
        )

    @admin.action(description="Extend selected grants (days, with a reason)")
    def extend_selected(self, request, queryset):
        return self._with_reason(
            request,
            queryset,
            "Extend",
            lambda g, data: actions.extend_grant(
                g, reason=data["reason"], days=data["days"], acting_user=request.user
            ),
            needs_days=True,
        )


@admin.register(CreditEntry)
class CreditEntryAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["id", "customer", "store", "kind", "amount", "currency", "cause", "reason"]
    list_filter = ["kind", "store"]
    list_select_related = ["customer", "store"]
    search_fields = ["customer__email", "key"]
    raw_id_fields = ["customer", "grant", "order", "acting_user"]

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff

    def get_urls(self):
        return [
            path(
                "liability/",
                self.admin_site.admin_view(self.liability_view),
                name="rewards_liability",
            ),
            *super().get_urls(),
        ]

    def liability_view(self, request):
        """Outstanding credit per store, and the balances of one store's customers."""
        stores = Store.objects.annotate(
            outstanding=Sum("creditentrys__amount", default=ZERO),
            entries=Count("creditentrys"),
        ).order_by("name")
        store_id = request.GET.get("store")
        balances = []
        chosen = None
        if store_id and store_id.isdigit():
            chosen = Store.objects.filter(pk=int(store_id)).first()
            balances = (
                CreditEntry.objects.filter(store_id=int(store_id))
                .values("customer_id", "customer__email")
                .annotate(balance=Sum("amount"))
                .filter(balance__gt=0)
                .order_by("-balance", "customer_id")[:500]
            )
        return render(
            request,
            "admin/rewards/liability.html",
            {
                **self.admin_site.each_context(request),
                "title": "Outstanding credit liability",
                "stores": stores,
                "chosen": chosen,
                "balances": balances,
                "opts": self.model._meta,
            },
        )


@admin.register(CrossSellOffer)
class CrossSellOfferAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["id", "customer", "store", "status", "respond_by", "responded_at", "link"]
    list_filter = ["status", "store"]
    list_select_related = ["customer", "store"]
    raw_id_fields = ["customer", "grant", "upcoming_order"]

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff

    @admin.display(description="Offer page")
    def link(self, obj):
        from .offers import offer_path

        return format_html('<a href="{}">open</a>', offer_path(obj))


@admin.register(RewardPolicy)
class RewardPolicyAdmin(admin.ModelAdmin):
    list_display = ["store", "max_rewards_per_customer", "max_credit_per_customer", "period_days"]
    list_select_related = ["store"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = actions.set_policy(
            data.get("store") or obj.store,
            max_rewards_per_customer=data.get("max_rewards_per_customer"),
            max_credit_per_customer=data.get("max_credit_per_customer"),
            period_days=data["period_days"],
        )
        obj.pk = saved.pk
