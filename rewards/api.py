"""The rewards API under ``/api/v1/stores/<slug>/``: incentives, the grant ledger with revoke and
extend, a customer's credit and its manual adjustments (idempotent), the summary and the caps.

Viewers read; editors write (and manage credit); owners set the caps. Every route answers 403
while the store has not enabled Rewards. Changes go through ``rewards.actions``.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from config.api_schema import error_responses
from segments.api.base import StoreFeature, StoreScopedMixin
from segments.models import Customer, Role

from . import actions
from .actions.idempotency import MAX_KEY, Answer, KeyConflict, answer_once
from .filters import GrantFilter, IncentiveFilter
from .models import Incentive, RewardGrant, RewardPolicy
from .queries import balance_of, entries_of, grant_summary
from .serializers import (
    AdjustResultSerializer,
    AdjustSerializer,
    CreditEntrySerializer,
    CreditSerializer,
    ExtendSerializer,
    GrantSerializer,
    IncentiveSerializer,
    IncentiveUpdateSerializer,
    PolicySerializer,
    RevokeSerializer,
    SummarySerializer,
)

ENTRIES_SHOWN = 200
ERRORS = error_responses(400, 403, 404)


class RewardsMixin(StoreScopedMixin):
    """Every rewards route, reads included, answers 403 while the store has not enabled Rewards."""

    required_features = {"*": StoreFeature.REWARDS}
    features_guard_reads = True


def _refused(exc: actions.RewardError) -> ValidationError:
    return ValidationError(exc.errors)


class IncentiveViewSet(
    RewardsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """A store's incentives: what its experiences give (editors write)."""

    model = Incentive
    serializer_class = IncentiveSerializer
    filterset_class = IncentiveFilter

    @extend_schema(responses={201: IncentiveSerializer, **ERRORS})
    def create(self, request, *args, **kwargs):
        serializer = IncentiveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            incentive = actions.create_incentive(
                self.store,
                name=data["name"],
                kind=data["kind"],
                params=data["params"],
                expires_in_days=data.get("expires_in_days"),
            )
        except actions.RewardError as exc:
            raise _refused(exc) from None
        return Response(IncentiveSerializer(incentive).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=IncentiveUpdateSerializer, responses={200: IncentiveSerializer, **ERRORS}
    )
    def update(self, request, *args, **kwargs):
        incentive = self.get_object()
        serializer = IncentiveUpdateSerializer(data=request.data, partial=kwargs.get("partial"))
        serializer.is_valid(raise_exception=True)
        try:
            incentive = actions.update_incentive(incentive, **serializer.validated_data)
        except actions.RewardError as exc:
            raise _refused(exc) from None
        return Response(IncentiveSerializer(incentive).data)

    @extend_schema(request=None, responses={200: IncentiveSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def deactivate(self, request, store_slug=None, pk=None):
        """Stop giving this incentive; what was granted stays."""
        incentive = actions.deactivate_incentive(self.get_object())
        return Response(IncentiveSerializer(incentive).data)


class GrantViewSet(RewardsMixin, viewsets.ReadOnlyModelViewSet):
    """The grant ledger: every reward given (or skipped, with the reason) to each customer."""

    model = RewardGrant
    serializer_class = GrantSerializer
    filterset_class = GrantFilter

    @extend_schema(request=RevokeSerializer, responses={200: GrantSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def revoke(self, request, store_slug=None, pk=None):
        """Revoke an issued or applied grant (what is left of a credit lot goes too)."""
        grant = self.get_object()
        serializer = RevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            grant = actions.revoke_grant(
                grant, reason=serializer.validated_data["reason"], acting_user=request.user
            )
        except actions.RewardError as exc:
            raise _refused(exc) from None
        return Response(GrantSerializer(grant).data)

    @extend_schema(request=ExtendSerializer, responses={200: GrantSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def extend(self, request, store_slug=None, pk=None):
        """Move an open grant's expiry later, to ``expires_at`` or by ``days``."""
        grant = self.get_object()
        serializer = ExtendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            grant = actions.extend_grant(
                grant, acting_user=request.user, **serializer.validated_data
            )
        except actions.RewardError as exc:
            raise _refused(exc) from None
        return Response(GrantSerializer(grant).data)


def _credit_body(customer: Customer) -> dict:
    entries = list(entries_of(customer).order_by("-created_at", "-id")[:ENTRIES_SHOWN])
    entries.reverse()
    return {
        "balance": str(balance_of(customer)),
        "currency": customer.store.currency,
        "entries": CreditEntrySerializer(entries, many=True).data,
    }


class CustomerCreditViewSet(RewardsMixin, viewsets.GenericViewSet):
    """A customer's store credit: the balance (the sum of the entries) and manual adjustments."""

    model = Customer
    serializer_class = AdjustSerializer  # what OPTIONS describes
    required_roles = {"adjust": Role.EDITOR}

    @extend_schema(responses={200: CreditSerializer, **ERRORS})
    @action(detail=True, methods=["get"])
    def credit(self, request, store_slug=None, pk=None):
        """Return the balance and the latest entries, oldest first."""
        customer = self.get_object()
        customer.store = self.store
        return Response(_credit_body(customer))

    @extend_schema(
        request=AdjustSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="A retry with the same key returns the first answer; the same key "
                "with another body is 409.",
            )
        ],
        responses={
            201: AdjustResultSerializer,
            **error_responses(400, 403, 404, 409),
        },
    )
    @action(detail=True, methods=["post"], url_path="credit/adjust")
    def adjust(self, request, store_slug=None, pk=None):
        """Add or take back credit by hand, with a reason; it never goes below zero (400)."""
        customer = self.get_object()
        customer.store = self.store
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > MAX_KEY:
            raise ValidationError({"Idempotency-Key": [f"At most {MAX_KEY} characters."]})

        def compute() -> Answer:
            serializer = AdjustSerializer(data=request.data)
            if not serializer.is_valid():
                return Answer(400, serializer.errors)
            data = serializer.validated_data
            try:
                actions.adjust_credit(
                    customer,
                    amount=data["amount"],
                    reason=data["reason"],
                    expires_in_days=data.get("expires_in_days"),
                    acting_user=request.user,
                    key=key or None,
                )
            except actions.RewardError as exc:
                return Answer(400, exc.errors)
            return Answer(201, _credit_body(customer))

        if not key:
            answer = compute()
        else:
            body = request.data if isinstance(request.data, dict) else {"_": request.data}
            try:
                answer = answer_once(
                    self.store,
                    key=key,
                    scope=f"credit-adjust:{customer.pk}",
                    body=dict(body),
                    user=request.user,
                    compute=compute,
                )
            except KeyConflict:
                return Response(
                    {"detail": "This Idempotency-Key was used with another request."},
                    status=status.HTTP_409_CONFLICT,
                )
        response = Response(answer.body, status=answer.status)
        if answer.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class SummaryViewSet(RewardsMixin, viewsets.ViewSet):
    """The store's outstanding credit liability and its grants by status and kind."""

    list_answers_one_object = True

    @extend_schema(responses={200: SummarySerializer, **ERRORS})
    def list(self, request, store_slug=None):
        return Response(SummarySerializer(grant_summary(self.store)).data)


class PolicyViewSet(RewardsMixin, viewsets.ViewSet):
    """The store's caps across all experiences, per customer over a rolling period."""

    required_roles = {"create": Role.OWNER}
    list_answers_one_object = True

    @extend_schema(responses={200: PolicySerializer, **ERRORS})
    def list(self, request, store_slug=None):
        policy = RewardPolicy.objects.filter(store=self.store).first() or RewardPolicy(
            store=self.store
        )
        return Response(PolicySerializer(policy).data)

    @extend_schema(request=PolicySerializer, responses={200: PolicySerializer, **ERRORS})
    def create(self, request, store_slug=None):
        """Set the caps (owners); null means no cap."""
        serializer = PolicySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            policy = actions.set_policy(
                self.store,
                max_rewards_per_customer=data.get("max_rewards_per_customer"),
                max_credit_per_customer=data.get("max_credit_per_customer"),
                period_days=data["period_days"],
            )
        except actions.RewardError as exc:
            raise _refused(exc) from None
        return Response(PolicySerializer(policy).data)


def register(router) -> None:
    router.register("incentives", IncentiveViewSet, basename="incentive")
    router.register("grants", GrantViewSet, basename="grant")
    router.register("customers", CustomerCreditViewSet, basename="customer-credit")
    router.register("rewards/summary", SummaryViewSet, basename="reward-summary")
    router.register("reward-policy", PolicyViewSet, basename="reward-policy")
