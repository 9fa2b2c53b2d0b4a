"""Filters of the grant list: by customer, experience, status and kind (bad values are 400s)."""

import django_filters

from .models import RewardGrant


class GrantFilter(django_filters.FilterSet):
    customer = django_filters.NumberFilter(field_name="customer_id")
    experience = django_filters.NumberFilter(field_name="experience_id")
    status = django_filters.ChoiceFilter(choices=RewardGrant.Status.choices)
    kind = django_filters.ChoiceFilter(choices=RewardGrant.Kind.choices)

    class Meta:
        model = RewardGrant
        fields = ["customer", "experience", "status", "kind"]
