"""Credit: store credit for the customer, a fixed amount or a percent of the triggering order's
subscription items, in the store's currency, expiring a number of days after the grant."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, WithJsonSchema, field_validator

from rewards.models import RewardKind
from segments.models import OrderLine, Subscription

from .base import ExecutionContext, Outcome
from .rewarding import REWARD_KINDS, RewardNode

MAX_FIXED = Decimal("100000")
# Served to the builder as text (money is never a float); validated as a decimal.
AMOUNT_SCHEMA = {"type": "string", "pattern": r"^\d{1,6}(\.\d{1,2})?$", "examples": ["5.00", "3"]}


class CreditConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_type: Literal["fixed", "percent"] = Field(
        "fixed", description="fixed: an amount in the store's currency; percent: of the order."
    )
    amount: Annotated[Decimal, WithJsonSchema(AMOUNT_SCHEMA)] = Field(
        gt=0,
        max_digits=8,
        decimal_places=2,
        description='The amount (e.g. "5.00"), or the percent (e.g. "3") of the triggering '
        "order's subscription items.",
    )
    expires_in_days: int | None = Field(
        None, ge=1, le=3650, description="Days after the grant until unused credit expires."
    )

    @field_validator("amount")
    @classmethod
    def _within_range(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        if info.data.get("amount_type") == "percent" and value > 100:
            raise ValueError("A percent credit is at most 100.")
        if info.data.get("amount_type") == "fixed" and value > MAX_FIXED:
            raise ValueError(f"A fixed credit is at most {MAX_FIXED}.")
        return value


def subscription_items_total(order, customer_id: int) -> Decimal:
    """Return the value of the order's lines that are one of the customer's subscriptions.

    An order whose lines match none of them (a subscription order ingested without line items,
    or before its subscription) counts its total: it was announced as a subscription order.
    """
    lines = list(
        OrderLine.objects.filter(order_id=order.pk).values_list(
            "product_id", "variant_id", "price", "quantity"
        )
    )
    subscribed = Subscription.objects.filter(customer_id=customer_id).values_list(
        "product_id", "variant_id"
    )
    products = {p for p, _ in subscribed if p}
    variants = {v for _, v in subscribed if v}
    total = sum(
        (
            price * quantity
            for product, variant, price, quantity in lines
            if (variant and variant in variants) or (product and product in products)
        ),
        Decimal("0"),
    )
    return total if total > 0 else order.total


class Credit(RewardNode):
    type = "credit"
    label = "Credit"
    kinds = REWARD_KINDS
    config_model = CreditConfig
    description = (
        "Give store credit: a fixed amount, or a percent of the order's subscription items."
    )

    def execute(self, config: CreditConfig, ctx: ExecutionContext) -> Outcome:
        if config.amount_type == "fixed":
            amount = config.amount
        else:
            order = ctx.evaluation.order if ctx.event.data.get("order_id") else None
            if order is None or not order.is_subscription:
                why = "no triggering subscription order to take a percent of"
                return Outcome(result={"skipped": why})
            base = subscription_items_total(order, ctx.run.customer_id)
            amount = (base * config.amount / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
        if amount <= 0:
            return Outcome(result={"skipped": "the credit comes to 0.00"})
        return self.grant(
            ctx, kind=RewardKind.CREDIT, amount=amount, expires_in_days=config.expires_in_days
        )
