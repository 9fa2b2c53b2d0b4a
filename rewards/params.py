"""The parameters of each kind of incentive, validated with pydantic.

One model per kind says what a merchant must give (a gift needs a product, a percent is at most
100, no amount is negative). ``validate_params`` returns the cleaned parameters as JSON-ready
values, or raises ``InvalidParams`` whose ``errors`` name each bad field as ``params.<field>``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Percent = Annotated[Decimal, Field(gt=0, le=100, max_digits=5, decimal_places=2)]
Text = Annotated[str, Field(max_length=255)]


class InvalidParams(ValueError):
    """Parameters that do not fit their kind; ``errors`` maps ``params.<field>`` to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreditParams(_Params):
    amount_type: Literal["fixed", "percent"] = "fixed"
    amount: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]

    @model_validator(mode="after")
    def _percent_at_most_100(self):
        if self.amount_type == "percent" and self.amount > 100:
            raise ValueError("amount: a percent is at most 100.")
        return self


class DiscountParams(_Params):
    discount_type: Literal["percent", "fixed"]
    value: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]

    @model_validator(mode="after")
    def _percent_at_most_100(self):
        if self.discount_type == "percent" and self.value > 100:
            raise ValueError("value: a percent is at most 100.")
        return self


class _Product(_Params):
    product_id: Annotated[str, Field(min_length=1, max_length=64)]
    variant_id: Annotated[str, Field(max_length=64)] = ""
    sku: Annotated[str, Field(max_length=100)] = ""
    title: Annotated[str, Field(min_length=1, max_length=255)]
    quantity: Annotated[int, Field(ge=1, le=100)] = 1


class FreeGiftParams(_Product):
    price: Money = Decimal("0.00")  # the list price: what the gift is worth, for budgets


class CrossSellParams(_Product):
    price: Money
    discount_type: Literal["percent", "fixed"] | None = None
    discount_value: Money | None = None

    @model_validator(mode="after")
    def _discount_fits(self):
        if self.discount_type is None:
            if self.discount_value not in (None, Decimal(0)):
                raise ValueError("discount_type: say percent or fixed for a discount value.")
            return self
        if self.discount_value is None or self.discount_value <= 0:
            raise ValueError("discount_value: a discount needs a value above 0.")
        if self.discount_type == "percent" and self.discount_value > 100:
            raise ValueError("discount_value: a percent is at most 100.")
        if self.discount_type == "fixed" and self.discount_value > self.price:
            raise ValueError("discount_value: a fixed discount is at most the price.")
        return self

    def offered_price(self) -> Decimal:
        """Return the unit price after the discount."""
        if self.discount_type == "percent":
            off = (self.price * self.discount_value / 100).quantize(Decimal("0.01"))
        elif self.discount_type == "fixed":
            off = self.discount_value
        else:
            off = Decimal("0.00")
        return max(self.price - off, Decimal("0.00"))


PARAMS_BY_KIND: dict[str, type[_Params]] = {
    "credit": CreditParams,
    "discount": DiscountParams,
    "free_gift": FreeGiftParams,
    "cross_sell": CrossSellParams,
}


def parse_params(kind: str, params) -> _Params:
    """Return the typed parameters of ``kind``; raise ``InvalidParams`` naming bad fields."""
    model = PARAMS_BY_KIND.get(kind)
    if model is None:
        raise InvalidParams({"kind": [f"Choose one of {', '.join(PARAMS_BY_KIND)}."]})
    if not isinstance(params, dict):
        raise InvalidParams({"params": ["Expected an object."]})
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            message = error["msg"].removeprefix("Value error, ")
            if not loc and ": " in message:  # a model validator names its field first
                field, message = message.split(": ", 1)
                loc = [field]
            errors.setdefault(".".join(["params", *loc]), []).append(message)
        raise InvalidParams(errors) from None


def validate_params(kind: str, params) -> dict:
    """Return the cleaned parameters of ``kind`` as JSON (decimals as strings)."""
    return parse_params(kind, params).model_dump(mode="json", exclude_none=True)
