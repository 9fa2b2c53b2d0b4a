"""The error answers of every operation, documented once.

``ApiSchema`` (the project's drf-spectacular schema class) adds to every operation the errors it
can give (400/401/403/404/409/413) with their bodies, so a route added by any app is described
truthfully without extra code; ``error_responses`` gives the same bodies to a view declaring its
own (``@extend_schema(responses={200: X, **error_responses(409)})``).
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from .api_input import RejectUnknownFieldsMixin

ErrorSerializer = inline_serializer("Error", {"detail": serializers.CharField()})
VALIDATION_ERROR = OpenApiResponse(
    inline_serializer("ValidationError", {}),
    description=(
        "The request was refused: an object whose keys name the fields (or `detail`, "
        "`non_field_errors`) and whose values say what is wrong."
    ),
)
ERROR_DESCRIPTIONS = {
    400: "",
    401: "Not authenticated (send `Authorization: Token <key>` or a session).",
    403: "Authenticated, but the role or the store's plan does not allow this.",
    404: "No such store for this user, or no such object in the store (or an invalid page).",
    409: "The change conflicts with the current state or with existing data.",
    413: "The request body is larger than the API accepts.",
}


def error_responses(*codes: int) -> dict:
    """Return ``{code: OpenApiResponse}`` for ``extend_schema(responses=...)`` declarations."""
    return {
        code: VALIDATION_ERROR
        if code == 400
        else OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
        for code in codes
    }


class ApiSchema(AutoSchema):
    """drf-spectacular's schema, plus the error answers every operation can give."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._error_codes():
            if str(code) not in responses:
                response = error_responses(code)[code]
                responses[str(code)] = self._get_response_for_code(response, str(code))
        return responses

    def _error_codes(self) -> list[int]:
        codes = []
        has_body = self.method in ("POST", "PUT", "PATCH")
        has_query = bool(self._get_filter_parameters() or self._get_pagination_parameters())
        if has_body or has_query or "{" in self.path:
            codes.append(400)
        if self.get_auth():
            codes += [401, 403]
        codes.append(404)
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes.append(409)
        if has_body:
            codes.append(413)
        return codes

    def _is_list_view(self, serializer=None) -> bool:
        # A view whose ``list`` answers one object (a catalog) says so with this attribute.
        if getattr(self.view, "list_answers_one_object", False):
            return False
        return super()._is_list_view(serializer)

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and isinstance(serializer, RejectUnknownFieldsMixin):
            schema["additionalProperties"] = False
        return schema
