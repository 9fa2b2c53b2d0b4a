"""The two webhook endpoints: verify, store one ``InboundEvent``, answer at once.

Lean on purpose: plain function views exempt from CSRF, one query to find the store and one
INSERT, no ORM model instances, no session or user. Processing happens in workers.

Answers: 202 stored, 200 duplicate, 400 ``{"error", "field"}`` for a body that is not JSON or
lacks what the topic needs, 401 bad signature, 404 unknown store, 405 wrong method, 413 too big.
"""

from __future__ import annotations

import hashlib
import json
import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from config.metrics import WEBHOOKS, count

from .ingest.actions import Delivery, record_delivery
from .ingest.signatures import SignatureError, verify_recharge, verify_shopify
from .ingest.topics import PayloadError, parse_when, topic_for
from .secrets import InvalidToken, decrypt

logger = logging.getLogger(__name__)

_SHOPIFY_STORE = "SELECT id, shopify_webhook_secret FROM segments_store WHERE shopify_domain = %s"
_RECHARGE_STORE = "SELECT id, recharge_webhook_secret FROM segments_store WHERE slug = %s"


class _Refusal(Exception):
    def __init__(self, status: int, error: str, field: str = ""):
        super().__init__(error)
        self.status, self.error, self.field = status, error, field


def _answer(status: int, body: dict) -> HttpResponse:
    return HttpResponse(json.dumps(body), status=status, content_type="application/json")


def _header(request: HttpRequest, name: str) -> str:
    value = request.META.get("HTTP_" + name.upper().replace("-", "_"), "")
    return value.replace("\x00", "").strip()


def _read_body(request: HttpRequest) -> bytes:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise _Refusal(400, "Content-Length is not a number.", "Content-Length") from None
    if declared > limit:
        raise _Refusal(413, f"The body is larger than {limit} bytes.", "body")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise _Refusal(413, f"The body is larger than {limit} bytes.", "body")
    return body


def _parse(body: bytes) -> tuple[object, str]:
    """Return the JSON payload and the text to store, or refuse with 400."""
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        text.encode("utf-8")
    except (UnicodeError, ValueError, RecursionError):
        raise _Refusal(400, "The body is not valid UTF-8 JSON.", "body") from None
    if "\\u0000" in text:
        raise _Refusal(400, "The body contains a NUL character, which cannot be stored.", "body")
    return payload, text


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _dedupe_key(given: str, topic: str, body: bytes) -> str:
    if given and len(given) <= 200:
        return given
    return f"{topic[:40]}:{hashlib.sha256(given.encode() + body).hexdigest()}"


def _store(sql: str, value: str, field: str) -> tuple[int, str]:
    if not value or len(value) > 255:
        raise _Refusal(404, "Unknown store.", field)
    with connection.cursor() as cursor:
        cursor.execute(sql, [value])
        row = cursor.fetchone()
    if row is None:
        raise _Refusal(404, "Unknown store.", field)
    return row[0], row[1] or ""


def _triggered_at(request: HttpRequest):
    try:
        return parse_when(_header(request, "X-Shopify-Triggered-At"))
    except ValueError:
        return None


def _receive(request: HttpRequest, source: str, store_id: int, body: bytes, topic: str, key: str):
    if not topic:
        raise _Refusal(400, "The topic header is missing.", f"X-{source.title()}-Topic")
    payload, text = _parse(body)
    triggered = _triggered_at(request) if source == "shopify" else None
    delivery = Delivery(store_id, source, topic, _dedupe_key(key, topic, body), text, triggered)
    try:
        event_id = record_delivery(delivery, payload)
    except PayloadError as exc:
        raise _Refusal(400, exc.message, exc.field) from None
    if event_id is None:
        return _answer(200, {"status": "duplicate"})
    return _answer(202, {"status": "accepted", "id": event_id})


_RESULTS = {
    202: "accepted",
    200: "duplicate",
    400: "bad_request",
    401: "bad_signature",
    404: "unknown_store",
    405: "bad_method",
    413: "too_large",
}


def _handle(request: HttpRequest, receive, source: str) -> HttpResponse:
    response = _answer_delivery(request, receive)
    topic = _header(request, f"X-{source.title()}-Topic")
    count(
        WEBHOOKS,
        source=source,
        topic=topic if topic_for(source, topic) is not None else "other",
        result=_RESULTS.get(response.status_code, str(response.status_code)),
    )
    return response


def _answer_delivery(request: HttpRequest, receive) -> HttpResponse:
    if request.method != "POST":
        response = _answer(405, {"error": "Only POST is allowed.", "field": "method"})
        response["Allow"] = "POST"
        return response
    try:
        return receive(request, _read_body(request))
    except _Refusal as refusal:
        return _answer(refusal.status, {"error": refusal.error, "field": refusal.field})
    except SignatureError as exc:
        return _answer(401, {"error": exc.message, "field": exc.field})
    except InvalidToken:
        # The store's secret was encrypted under a key this server no longer has (SECRET_KEY or
        # FIELD_ENCRYPTION_KEY changed without the old key kept): nothing can be verified, so the
        # platform must deliver again once the key is restored. Loud in the logs: it is ours.
        logger.error("Webhook secret cannot be decrypted: the encryption key changed")
        response = _answer(
            503,
            {
                "error": "The store's webhook secret cannot be read on this server; "
                "deliver again shortly.",
                "field": "secret",
            },
        )
        response["Retry-After"] = "60"
        return response
    except (OperationalError, InterfaceError):
        # The database cannot be reached (a restart, a failover): nothing was stored, so the
        # platform must deliver again. 503 with Retry-After says so; a 500 would say "our bug".
        logger.warning("Webhook refused while the database is unavailable", exc_info=True)
        response = _answer(
            503, {"error": "Temporarily unavailable: deliver again shortly.", "field": "database"}
        )
        response["Retry-After"] = "5"
        return response


def _shopify(request: HttpRequest, body: bytes) -> HttpResponse:
    domain = _header(request, "X-Shopify-Shop-Domain").lower()
    store_id, secret = _store(_SHOPIFY_STORE, domain, "X-Shopify-Shop-Domain")
    verify_shopify(decrypt(secret), body, _header(request, "X-Shopify-Hmac-Sha256"))
    key = _header(request, "X-Shopify-Event-Id") or _header(request, "X-Shopify-Webhook-Id")
    topic = _header(request, "X-Shopify-Topic")
    return _receive(request, "shopify", store_id, body, topic, key)


@csrf_exempt
def shopify_webhook(request: HttpRequest) -> HttpResponse:
    """Receive a Shopify webhook; the store is found by ``X-Shopify-Shop-Domain``."""
    return _handle(request, _shopify, "shopify")


@csrf_exempt
def recharge_webhook(request: HttpRequest, store_slug: str) -> HttpResponse:
    """Receive a Recharge webhook for the store named in the URL."""

    def receive(request: HttpRequest, body: bytes) -> HttpResponse:
        store_id, secret = _store(_RECHARGE_STORE, store_slug, "store")
        verify_recharge(
            decrypt(secret),
            body,
            legacy=_header(request, "X-Recharge-Hmac-Sha256"),
            signature=_header(request, "X-Recharge-Webhook-Signature"),
        )
        key = _header(request, "X-Recharge-Webhook-Id")
        topic = _header(request, "X-Recharge-Topic")
        return _receive(request, "recharge", store_id, body, topic, key)

    return _handle(request, receive, "recharge")
