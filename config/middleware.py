"""Keep ``/api/`` answers JSON even when Django itself answers (unknown URL, server error)."""

import json
import logging

from django.http import HttpResponse

logger = logging.getLogger(__name__)


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith("/api/"):
            return response
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and not content_type.startswith("application/json"):
            detail = {404: "Not found.", 405: "Method not allowed."}.get(
                response.status_code, "The request could not be completed."
            )
            return self._json(detail, response.status_code)
        return response

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
