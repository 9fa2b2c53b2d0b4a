"""Replay the first answer to a request sent again with the same ``Idempotency-Key``.

The record is written in the transaction of the change it answers, under an advisory lock on
the key, so a retry racing the first request waits for it and then replays its answer; the same
key with a different body (or for another operation) is a conflict.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from segments.models import Store

from ..models import IdempotencyRecord
from .common import lock_keys

MAX_KEY = 200


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict
    replayed: bool = False


class KeyConflict(Exception):
    """The key was used before for another request."""


def request_hash(scope: str, body) -> str:
    canonical = json.dumps({"scope": scope, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def answer_once(
    store: Store, *, key: str, scope: str, body, user, compute: Callable[[], Answer]
) -> Answer:
    """Return the stored answer for ``key``, or compute, store and return it.

    Raise ``KeyConflict`` when the key was used with another body or operation.
    """
    digest = request_hash(scope, body)
    with transaction.atomic():
        lock_keys([f"rewards:idempotency:{store.pk}:{key}"])
        found = IdempotencyRecord.objects.filter(store=store, key=key).first()
        if found is not None:
            if found.request_hash != digest or found.scope != scope:
                raise KeyConflict(key)
            return Answer(found.response_status, found.response_body, replayed=True)
        with transaction.atomic():  # the change rolls back alone if it fails; the record stays
            answer = compute()
        IdempotencyRecord.objects.create(
            store=store,
            key=key,
            scope=scope,
            request_hash=digest,
            response_status=answer.status,
            response_body=answer.body,
            user=user if getattr(user, "is_authenticated", False) else None,
        )
        return answer
