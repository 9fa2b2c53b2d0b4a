"""Query parameters that mean what the schema says: a typed filter given an empty value is
refused (not silently ignored), an integer filter takes whole numbers only, and ``?page=`` must
name a page. Used by every API list through ``REST_FRAMEWORK`` and by views that filter by hand.
"""

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError as FormValidationError
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(django_filters.NumberFilter):
    """A whole-number filter (ids, counts): ``1.5`` and ``1e3`` are refused with a 400."""

    field_class = forms.IntegerField


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """A true/false filter that refuses anything else with a 400 (the stock one ignores it)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        super().__init__(*args, **kwargs)


MAX_AMOUNT = 10**12


@extend_schema_field(
    {"type": "number", "minimum": -MAX_AMOUNT, "maximum": MAX_AMOUNT, "format": "double"}
)
class AmountFilter(django_filters.NumberFilter):
    """A money filter: any number within plus or minus a trillion (larger answers 400)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", -MAX_AMOUNT)
        kwargs.setdefault("max_value", MAX_AMOUNT)
        super().__init__(*args, **kwargs)


class UtcDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:  # PostgreSQL takes offsets up to 15:59; any ISO offset is fine once in UTC
            return moment.astimezone(UTC)
        except OverflowError:
            raise FormValidationError("The date is out of range.", code="invalid") from None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time filter: any offset, compared in UTC; out of range is a 400."""

    field_class = UtcDateTimeField


def check_filters(filterset) -> None:
    """Raise a 400 naming every parameter that is empty where a value is needed, or invalid."""
    errors = {}
    data = filterset.data
    for name, filter_ in filterset.filters.items():
        if (
            name in data
            and data.get(name) == ""
            and not isinstance(filter_, django_filters.CharFilter)
        ):
            errors[name] = ["Give a value, or leave the parameter out."]
    if not filterset.is_valid():
        errors.update(filterset.errors)
    if errors:
        raise ValidationError(errors)


def filtered(filterset_class, request, queryset):
    """Apply the filterset to the queryset, or raise a 400 saying which parameter is wrong."""
    filterset = filterset_class(request.query_params, queryset=queryset, request=request)
    check_filters(filterset)
    return filterset.qs


class StrictFilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        check_filters(filterset)
        return filterset.qs


class StrictPageNumberPagination(PageNumberPagination):
    """``?page=`` with no number is a missing page (404), like ``?page=abc``."""

    def get_page_number(self, request, paginator):
        if request.query_params.get(self.page_query_param) == "":
            raise NotFound("Invalid page.")
        return super().get_page_number(request, paginator)
