"""The merchant app's rewards forms: one incentive form per kind (its parameters as plain fields),
credit adjustments, revoke and extend, the store's caps and the ledger's filters.

Forms only parse what a browser sends; ``rewards.actions`` decides. An action's ``RewardError``
(``{"params.amount": [...]}``) is put back on the form's field with ``add_action_errors``.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms

from .actions import RewardError
from .models import Incentive, RewardGrant, RewardKind

MONEY = {"max_digits": 12, "decimal_places": 2}
AMOUNT_TYPES = [("fixed", "A fixed amount"), ("percent", "A percent of the order")]
DISCOUNT_TYPES = [("percent", "Percent off"), ("fixed", "A fixed amount off")]


class IncentiveForm(forms.Form):
    """What every incentive has; a subclass per kind adds its parameters."""

    kind: str = ""
    param_fields: tuple[str, ...] = ()

    name = forms.CharField(max_length=200, help_text="Shown to you in the builder and the ledger.")
    expires_in_days = forms.IntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        label="Expires after (days)",
        help_text="Leave empty for no expiry.",
    )

    def params(self) -> dict:
        """Return the parameters as the ledger stores them (decimals as strings)."""
        out = {}
        for name in self.param_fields:
            value = self.cleaned_data.get(name)
            if value in (None, ""):
                continue
            out[name] = str(value) if isinstance(value, Decimal) else value
        return out

    @classmethod
    def initial_from(cls, incentive: Incentive) -> dict:
        return {
            "name": incentive.name,
            "expires_in_days": incentive.expires_in_days,
            **{k: v for k, v in (incentive.params or {}).items() if k in cls.param_fields},
        }


class CreditForm(IncentiveForm):
    kind = RewardKind.CREDIT
    param_fields = ("amount_type", "amount")

    amount_type = forms.ChoiceField(choices=AMOUNT_TYPES, label="Amount type")
    amount = forms.DecimalField(
        min_value=Decimal("0.01"), help_text="In the store's currency, or a percent.", **MONEY
    )


class DiscountForm(IncentiveForm):
    kind = RewardKind.DISCOUNT
    param_fields = ("discount_type", "value")

    discount_type = forms.ChoiceField(choices=DISCOUNT_TYPES, label="Discount type")
    value = forms.DecimalField(
        min_value=Decimal("0.01"),
        help_text="Off the subscription items of the next order (a percent is at most 100).",
        **MONEY,
    )


class ProductForm(IncentiveForm):
    product_id = forms.CharField(max_length=64, label="Product ID")
    variant_id = forms.CharField(max_length=64, required=False, label="Variant ID")
    sku = forms.CharField(max_length=100, required=False, label="SKU")
    title = forms.CharField(max_length=255, help_text="What the customer sees on the order.")
    quantity = forms.IntegerField(min_value=1, max_value=100, initial=1)


class FreeGiftForm(ProductForm):
    kind = RewardKind.FREE_GIFT
    param_fields = ("product_id", "variant_id", "sku", "title", "quantity", "price")

    price = forms.DecimalField(
        min_value=Decimal("0"),
        required=False,
        label="List price",
        help_text="What the gift is worth (counted against budgets); it is added at zero price.",
        **MONEY,
    )


class CrossSellForm(ProductForm):
    kind = RewardKind.CROSS_SELL
    param_fields = (
        "product_id", "variant_id", "sku", "title", "quantity", "price", "discount_type",
        "discount_value",
    )  # fmt: skip

    price = forms.DecimalField(min_value=Decimal("0"), help_text="The unit price.", **MONEY)
    discount_type = forms.ChoiceField(
        choices=[("", "No discount"), *DISCOUNT_TYPES], required=False, label="Discount"
    )
    discount_value = forms.DecimalField(
        min_value=Decimal("0"), required=False, label="Discount value", **MONEY
    )


INCENTIVE_FORMS: dict[str, type[IncentiveForm]] = {
    f.kind: f for f in (CreditForm, DiscountForm, FreeGiftForm, CrossSellForm)
}


def add_action_errors(form: forms.Form, exc: RewardError) -> None:
    """Put an action's errors on the form's fields (``params.amount`` on ``amount``)."""
    for key, messages in exc.errors.items():
        field = key.removeprefix("params.").split(".")[0]
        if field not in form.fields:
            field = None
        for message in messages:
            form.add_error(field, message[:1].upper() + message[1:])


class AdjustCreditForm(forms.Form):
    amount = forms.DecimalField(
        help_text="Positive adds credit, negative takes it back (never below zero).", **MONEY
    )
    reason = forms.CharField(max_length=500, help_text="Kept in the ledger with your name.")
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, label="Expires after (days)"
    )
    key = forms.CharField(max_length=200, widget=forms.HiddenInput)

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment cannot be zero.")
        return amount


class RevokeForm(forms.Form):
    reason = forms.CharField(max_length=500, help_text="Kept on the grant.")


class ExtendForm(forms.Form):
    days = forms.IntegerField(
        min_value=1, max_value=3650, help_text="Added to the current expiry (or to today)."
    )
    reason = forms.CharField(max_length=500, help_text="Kept on the grant.")


class PolicyForm(forms.Form):
    max_rewards_per_customer = forms.IntegerField(
        min_value=0,
        max_value=1_000_000,
        required=False,
        label="At most this many rewards per customer",
        help_text="Empty: no cap.",
    )
    max_credit_per_customer = forms.DecimalField(
        min_value=Decimal("0"),
        required=False,
        label="At most this much credit per customer",
        help_text="In the store's currency. Empty: no cap.",
        **MONEY,
    )
    period_days = forms.IntegerField(
        min_value=1, max_value=3650, label="Over a rolling period of (days)"
    )


class GrantFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Any status"), *RewardGrant.Status.choices], required=False
    )
    kind = forms.ChoiceField(choices=[("", "Any kind"), *RewardKind.choices], required=False)
    experience = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    customer = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    email = forms.CharField(required=False, max_length=254, label="Customer email")

    def __init__(self, *args, experiences: dict[int, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["experience"].choices = [("", "Any experience")] + sorted(
            experiences.items(), key=lambda item: (item[1].lower(), item[0])
        )
