"""What every API request body goes through: the JSON parser that refuses, with a 400 saying
where, what PostgreSQL or the renderer cannot take (NUL characters, lone surrogates, non-finite
or out-of-range numbers, deep nesting), and a serializer mixin that refuses unknown fields.

Kept apart from ``config.api``: DRF imports the parser while it loads its own settings.
"""

import math

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

# Numbers beyond a PostgreSQL bigint cannot be stored anywhere in our models.
MAX_JSON_INT = 2**63 - 1
MAX_JSON_DEPTH = 32


def find_unstorable(value, where: str = "body", depth: int = 0) -> str | None:
    """Return where and why ``value`` (parsed JSON) cannot be stored, or None when it can."""
    if depth > MAX_JSON_DEPTH:
        return f"{where}: nested deeper than {MAX_JSON_DEPTH} levels"
    if isinstance(value, str):
        return _text_problem(value, where)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if abs(value) > MAX_JSON_INT:
            return f"{where}: the number is too large"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where}: the number is too large"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _text_problem(key, f"{where} (a key)") or find_unstorable(
                item, f"{where}.{key}", depth + 1
            )
            if problem:
                return problem
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = find_unstorable(item, f"{where}[{index}]", depth + 1)
            if problem:
                return problem
    return None


def _text_problem(text: str, where: str) -> str | None:
    if "\x00" in text:
        return f"{where}: text cannot contain the NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"{where}: text contains an invalid character (a lone surrogate)"
    return None


class StrictJSONParser(JSONParser):
    """JSON bodies only; refuse what the database or the renderer could not take."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.") from None
        problem = find_unstorable(data)
        if problem:
            raise ParseError(f"Refused: {problem}.")
        return data


class StrictInputMixin:
    """Refuse what the published schema refuses: unknown fields, and JSON values of the wrong type.

    DRF would store the number 5 as the text "5" and read "1" as true; a client generated from the
    schema never sends those, so they are mistakes worth a 400. Read-only fields are ignored.
    """

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {str(k): ["Unknown field."] for k in data if k not in self.fields}
            for name, field in self.fields.items():
                if name in data and not field.read_only:
                    message = _wrong_type(field, data[name])
                    if message:
                        errors[name] = [message]
            if errors:
                raise ValidationError(errors)
        return super().to_internal_value(data)


def _wrong_type(field, value) -> str | None:
    from rest_framework import fields, serializers

    if value is None:
        return None  # the field's own allow_null decides
    if isinstance(field, fields.BooleanField):
        return None if isinstance(value, bool) else "Must be true or false."
    if isinstance(field, fields.IntegerField):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "Must be a whole number."
    if isinstance(field, fields.FloatField):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "Must be a number."
    if isinstance(field, fields.DecimalField):
        from rest_framework.settings import api_settings

        as_text = getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
        if as_text:  # the schema publishes money as a decimal string
            return None if isinstance(value, str) else 'Must be a decimal string, like "12.50".'
        ok = isinstance(value, int | float | str) and not isinstance(value, bool)
        return None if ok else "Must be a number."
    if isinstance(field, fields.MultipleChoiceField):
        return None if isinstance(value, list) else "Must be a list."
    if isinstance(field, fields.ChoiceField | fields.CharField):
        return None if isinstance(value, str) else "Must be a text."
    if isinstance(field, fields.ListField | serializers.ListSerializer):
        return None if isinstance(value, list) else "Must be a list."
    if isinstance(field, serializers.Serializer | fields.DictField):
        return None if isinstance(value, dict) else "Must be an object."
    return None


# The name other modules import; both say the same.
RejectUnknownFieldsMixin = StrictInputMixin
