"""Filters of the rewards lists: grants by customer, experience, status and kind; incentives by
kind and whether they are active. A value the schema's type refuses is a 400."""

import django_filters

from config.api_filters import IntegerFilter, StrictBooleanFilter

from .models import Incentive, RewardGrant


class GrantFilter(django_filters.FilterSet):
    customer = IntegerFilter(field_name="customer_id")
    experience = IntegerFilter(field_name="experience_id")
    status = django_filters.ChoiceFilter(choices=RewardGrant.Status.choices)
    kind = django_filters.ChoiceFilter(choices=RewardGrant.Kind.choices)

    class Meta:
        model = RewardGrant
        fields = ["customer", "experience", "status", "kind"]


class IncentiveFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Incentive._meta.get_field("kind").choices)
    active = StrictBooleanFilter()

    class Meta:
        model = Incentive
        fields = ["kind", "active"]
