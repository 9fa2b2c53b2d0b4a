"""Secrets at rest: the stores' webhook secrets are stored encrypted (Fernet: AES-128-CBC with an
HMAC-SHA256 tag), and decrypted only when read (a webhook verified, the seed asked to show them):
loading a store never decrypts, so a key that no longer matches breaks only what needs the
secret.

The key comes from ``FIELD_ENCRYPTION_KEY`` (comma-separated: the first encrypts, every one
decrypts, so a key can be rotated). Without it, the key is derived from ``SECRET_KEY`` (SHA-256
of a purpose label and the key), so rotating ``SECRET_KEY`` then needs the secrets re-entered.
A stored value reads ``fernet:<token>``; anything else is plaintext written before encryption
existed (the migration that introduced this encrypts those).
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"


def _fernet_key(material: str) -> bytes:
    """A Fernet key as given, or one derived from any other text (a passphrase)."""
    try:
        if len(base64.urlsafe_b64decode(material.encode())) == 32:
            return material.encode()
    except ValueError:
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest())


@lru_cache(maxsize=4)
def _cipher(configured: str, secret_key: str) -> MultiFernet:
    keys = [k.strip() for k in configured.split(",") if k.strip()]
    if not keys:
        if not secret_key:
            raise ImproperlyConfigured("Set FIELD_ENCRYPTION_KEY or SECRET_KEY.")
        keys = ["subexp webhook secrets:" + secret_key]
    return MultiFernet([Fernet(_fernet_key(k)) for k in keys])


def cipher() -> MultiFernet:
    return _cipher(getattr(settings, "FIELD_ENCRYPTION_KEY", ""), settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    """Return the stored form of a secret ("" stays "": no secret set)."""
    if not plaintext:
        return ""
    return PREFIX + cipher().encrypt(plaintext.encode()).decode()


def decrypt(stored: str | None) -> str:
    """Return the secret from its stored form; raise ``InvalidToken`` under a wrong key."""
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        return stored  # written before encryption; the migration encrypts these
    return cipher().decrypt(stored[len(PREFIX) :].encode()).decode()


class _Decrypting:
    """The field's attribute on a model instance: holds the stored form, decrypts on read.

    Loading a row never decrypts (a page that reads a store does not need its secrets, and a key
    that no longer matches cannot break it); reading the attribute does, once per stored value.
    """

    def __init__(self, field):
        self.field = field

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        if self.field.attname not in instance.__dict__:  # deferred (``only()``): load it
            instance.refresh_from_db(fields=[self.field.attname])
        stored = instance.__dict__.get(self.field.attname)
        if not isinstance(stored, str) or not stored.startswith(PREFIX):
            return stored
        cache = instance.__dict__.setdefault("_decrypted", {})
        if cache.get(self.field.attname, (None,))[0] != stored:
            cache[self.field.attname] = (stored, decrypt(stored))
        return cache[self.field.attname][1]

    def __set__(self, instance, value):
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; Python code reading the attribute sees the plaintext."""

    def contribute_to_class(self, cls, name, *args, **kwargs):
        super().contribute_to_class(cls, name, *args, **kwargs)
        setattr(cls, self.attname, _Decrypting(self))

    def stored_form(self, instance) -> str | None:
        """What the column holds (or will hold), without decrypting."""
        return instance.__dict__.get(self.attname)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or (isinstance(value, str) and value.startswith(PREFIX)):
            return value
        return encrypt(value)

    def pre_save(self, model_instance, add):
        # Save the stored form as it is (no decrypt and re-encrypt of an unchanged secret).
        return self.stored_form(model_instance)


__all__ = ["EncryptedTextField", "InvalidToken", "decrypt", "encrypt"]
