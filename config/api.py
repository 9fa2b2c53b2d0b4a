"""Shared pieces of the DRF surface, for every app's API.

- ``exception_handler`` keeps every error JSON and never a 500 for a refused change.
- ``config.api_input``: the JSON parser every API uses and ``RejectUnknownFieldsMixin``.
- ``config.api_schema``: the schema class documenting every operation's error answers, and
  ``error_responses`` for views that declare their own.
"""

import json

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import HttpResponse
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """Answer Django validation and integrity errors as 400/409 in DRF's shapes, never a 500."""
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = ValidationError(detail)
    elif isinstance(exc, DataError):  # a value the database cannot hold (a backstop)
        return Response(
            {"detail": "A value is out of range or not storable."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    elif isinstance(exc, IntegrityError):
        return Response(
            {"detail": "The change conflicts with existing data."}, status=status.HTTP_409_CONFLICT
        )
    return drf_exception_handler(exc, context)


def body_too_large(length: int):
    """The 413 answer for an API request body over ``API_MAX_BODY_BYTES``."""
    limit = settings.API_MAX_BODY_BYTES
    return HttpResponse(
        json.dumps({"detail": f"The request body ({length} bytes) is over {limit} bytes."}),
        status=413,
        content_type="application/json",
    )
