"""Advance the stores' liability checkpoints: the sum of each store's credit entries up to an
entry old enough that no transaction still writing can hold an entry below it.

One statement for every store; the ledger itself is never changed. See
``rewards.models.LiabilityCheckpoint``.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction
from django.utils import timezone

from ..models import LiabilityCheckpoint
from .common import lock_keys

SAFETY_MARGIN = dt.timedelta(hours=1)  # far longer than any transaction that writes entries

ADVANCE_SQL = """
WITH bounds AS (
    SELECT e.store_id, coalesce(cp.upto_entry_id, 0) AS lo, max(e.id) AS hi
    FROM rewards_creditentry e
    LEFT JOIN rewards_liabilitycheckpoint cp ON cp.store_id = e.store_id
    WHERE e.id > coalesce(cp.upto_entry_id, 0) AND e.created_at < %(cutoff)s
    GROUP BY e.store_id, cp.upto_entry_id
)
INSERT INTO rewards_liabilitycheckpoint (store_id, upto_entry_id, total, updated_at)
SELECT b.store_id, b.hi,
    (SELECT coalesce(sum(e.amount), 0) FROM rewards_creditentry e
     WHERE e.store_id = b.store_id AND e.id > b.lo AND e.id <= b.hi),
    now()
FROM bounds b
ON CONFLICT (store_id) DO UPDATE SET
    total = rewards_liabilitycheckpoint.total + EXCLUDED.total,
    upto_entry_id = EXCLUDED.upto_entry_id,
    updated_at = EXCLUDED.updated_at
"""


def advance_checkpoints(*, cutoff: dt.datetime | None = None) -> int:
    """Move every store's checkpoint up to its entries created before ``cutoff``; return rows."""
    cutoff = cutoff or timezone.now() - SAFETY_MARGIN
    with transaction.atomic():
        lock_keys(["rewards:liability-checkpoints"])
        with connection.cursor() as cursor:
            cursor.execute(ADVANCE_SQL, {"cutoff": cutoff})
            return cursor.rowcount


def drop_checkpoint(store_id: int) -> None:
    """Forget a store's checkpoint (an entry of it was deleted); the next sweep takes it again."""
    LiabilityCheckpoint.objects.filter(store_id=store_id).delete()
