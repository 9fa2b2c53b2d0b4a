"""Keep ``/api/`` answers JSON even when Django itself answers (unknown URL, server error), and
refuse before any view runs what no API view can take: a body over ``API_MAX_BODY_BYTES`` (413)
and query parameters holding a NUL character (400, naming the parameter)."""

import json
import logging

from django.conf import settings
from django.http import HttpResponse
from django.utils.html import escape

from .api import body_too_large

logger = logging.getLogger(__name__)


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        refusal = self._refuse(request)
        if refusal is not None:
            return refusal
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and not content_type.startswith("application/json"):
            detail = {404: "Not found.", 405: "Method not allowed."}.get(
                response.status_code, "The request could not be completed."
            )
            return self._json(detail, response.status_code)
        return response

    def _refuse(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return self._json("Content-Length is not a number.", 400)
        if length > settings.API_MAX_BODY_BYTES:
            return body_too_large(length)
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return HttpResponse(
                    json.dumps({name.replace("\x00", ""): ["Text cannot contain NUL characters."]}),
                    status=400,
                    content_type="application/json",
                )
        return None

    def process_exception(self, request, exception):
        if request.path.startswith("/api/"):
            logger.exception("Unhandled error on %s", request.path)
            return self._json("Internal error.", 500)
        return None

    @staticmethod
    def _json(detail, status_code):
        return HttpResponse(
            json.dumps({"detail": detail}), status=status_code, content_type="application/json"
        )


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class PageInputMiddleware:
    """Refuse, before any page runs, form or query input that no database column can hold: text
    with a NUL character (PostgreSQL refuses it). A 400 page names the field. The API and the
    webhooks have their own refusals (JSON answers, and signatures over the raw body)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(("/api/", "/webhooks/")):
            return self.get_response(request)
        field = self._field_with_nul(request)
        if field is not None:
            return HttpResponse(
                f"<!doctype html><title>Refused</title><h1>That input was refused</h1>"
                f"<p>The field <strong>{escape(field)}</strong> contains a NUL character, "
                "which cannot be stored. Remove it and send the form again.</p>",
                status=400,
                content_type="text/html; charset=utf-8",
            )
        return self.get_response(request)

    @staticmethod
    def _field_with_nul(request):
        sources = [request.GET]
        content_type = request.META.get("CONTENT_TYPE", "")
        if request.method == "POST" and content_type.startswith(FORM_TYPES):
            try:
                sources.append(request.POST)
            except Exception:  # an unreadable body: the view's own parsing answers it
                return None
        for source in sources:
            for name, values in source.lists():
                if "\x00" in name or any("\x00" in value for value in values):
                    return name.replace("\x00", "\\0")
        if request.method == "POST" and content_type.startswith("multipart/form-data"):
            for name, upload in request.FILES.items():
                if "\x00" in (upload.name or ""):
                    return name
        return None
