"""Signature checks of the two senders; every comparison is in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

# Recharge deliveries signed with the v1 scheme are refused once older than this.
RECHARGE_MAX_AGE_SECONDS = 48 * 3600
# ... and when stamped further in the future than clocks plausibly drift.
RECHARGE_MAX_SKEW_SECONDS = 300


class SignatureError(Exception):
    """The delivery is not signed by the store's secret; ``field`` names the header at fault."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


def sign_shopify(secret: str, body: bytes) -> str:
    """Return the ``X-Shopify-Hmac-Sha256`` value for the body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_recharge_legacy(secret: str, body: bytes) -> str:
    """Return the legacy ``X-Recharge-Hmac-Sha256`` value: hex SHA-256 of secret then body."""
    return hashlib.sha256(secret.encode() + body).hexdigest()


def sign_recharge_v1(secret: str, body: bytes, timestamp: int) -> str:
    """Return the ``X-Recharge-Webhook-Signature`` value ``t=<epoch>,v1=<hex>`` for the body."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape"))


def verify_shopify(secret: str, body: bytes, header: str | None) -> None:
    """Raise ``SignatureError`` unless ``header`` is the body's HMAC under ``secret``."""
    field = "X-Shopify-Hmac-Sha256"
    if not header:
        raise SignatureError("Missing signature.", field)
    if not secret or not _same(sign_shopify(secret, body), header.strip()):
        raise SignatureError("Signature does not match.", field)


def verify_recharge(
    secret: str,
    body: bytes,
    *,
    legacy: str | None,
    signature: str | None,
    now: float | None = None,
) -> None:
    """Raise ``SignatureError`` unless one of Recharge's two schemes vouches for the body.

    The v1 scheme (``t=...,v1=...``) wins when both headers are present; its timestamp must be
    at most 48 hours old.
    """
    if signature:
        _verify_recharge_v1(secret, body, signature, time.time() if now is None else now)
        return
    field = "X-Recharge-Hmac-Sha256"
    if not legacy:
        raise SignatureError("Missing signature.", field)
    if not secret or not _same(sign_recharge_legacy(secret, body), legacy.strip().lower()):
        raise SignatureError("Signature does not match.", field)


def _verify_recharge_v1(secret: str, body: bytes, header: str, now: float) -> None:
    field = "X-Recharge-Webhook-Signature"
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value.strip())
    stamps, macs = parts.get("t", []), parts.get("v1", [])
    if len(stamps) != 1 or not macs or not stamps[0].isascii() or not stamps[0].isdigit():
        raise SignatureError("Signature header must look like t=<epoch>,v1=<hex>.", field)
    timestamp = int(stamps[0])
    if now - timestamp > RECHARGE_MAX_AGE_SECONDS:
        raise SignatureError("Signature is older than 48 hours.", field)
    if timestamp - now > RECHARGE_MAX_SKEW_SECONDS:
        raise SignatureError("Signature timestamp is in the future.", field)
    if not secret:
        raise SignatureError("Signature does not match.", field)
    expected = sign_recharge_v1(secret, body, timestamp).rpartition("v1=")[2]
    if not any(_same(expected, mac.lower()) for mac in macs):
        raise SignatureError("Signature does not match.", field)
