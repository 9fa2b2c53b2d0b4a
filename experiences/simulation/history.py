"""The history a simulation replays: the store's orders and subscriptions of the period, as the
domain events ingest announced for them, in the order they happened.

Orders give ``order_processed`` (at ``processed_at``; an order cancelled before it was processed
never announced one); subscriptions give ``subscription_created`` (at ``created_at``) and
``subscription_cancelled`` (at ``cancelled_at``). The data of each event is what ingest puts in
it, so trigger filters and conditions read the same facts. Events are read in order (time,
source, id) in pages from one server-side cursor: a year of a large store is never held in the
process's memory at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from segments import domain
from segments.domain import DomainEvent
from segments.models import Order, Subscription

ORDER, SUB_CREATED, SUB_CANCELLED = 0, 1, 2
SOURCE_EVENTS = {
    ORDER: domain.ORDER_PROCESSED,
    SUB_CREATED: domain.SUBSCRIPTION_CREATED,
    SUB_CANCELLED: domain.SUBSCRIPTION_CANCELLED,
}
_ORDER = Order._meta.db_table
_SUB = Subscription._meta.db_table


@dataclass(frozen=True, slots=True)
class Replayed:
    """One event of the history: when, what, and the order row it came from (for the nodes)."""

    at: dt.datetime
    source: int
    row_id: int
    event: DomainEvent
    row: tuple

    def order(self) -> Order | None:
        """The order row the event came from (built on demand: only entering events need it)."""
        if self.source != ORDER:
            return None
        at, _, pk, customer_id, is_sub, is_first, kind, total, currency, name, _ = self.row
        return Order(
            id=pk,
            store_id=self.event.store_id,
            customer_id=customer_id,
            is_subscription=is_sub,
            is_first_subscription_order=is_first,
            type=kind,
            total=Decimal(total),
            currency=currency,
            name=name,
            processed_at=at,
        )


def _selects(sources: set[int]) -> str:
    """The events of the period, one SELECT per source."""
    parts = []
    if ORDER in sources:
        parts.append(
            f"SELECT processed_at AS at, {ORDER} AS src, id, customer_id, is_subscription,"
            " is_first_subscription_order, type, total, currency, name, '' AS status"
            f" FROM {_ORDER} WHERE store_id = %(store)s AND customer_id IS NOT NULL"
            " AND processed_at >= %(start)s AND processed_at < %(end)s"
            " AND (cancelled_at IS NULL OR cancelled_at > processed_at)"
        )
    if SUB_CREATED in sources:
        parts.append(
            f"SELECT created_at, {SUB_CREATED}, id, customer_id, NULL, NULL, NULL, NULL, NULL,"
            f" NULL, status FROM {_SUB} WHERE store_id = %(store)s"
            " AND created_at >= %(start)s AND created_at < %(end)s"
        )
    if SUB_CANCELLED in sources:
        parts.append(
            f"SELECT cancelled_at, {SUB_CANCELLED}, id, customer_id, NULL, NULL, NULL, NULL,"
            f" NULL, NULL, status FROM {_SUB} WHERE store_id = %(store)s"
            " AND cancelled_at >= %(start)s AND cancelled_at < %(end)s"
        )
    return " UNION ALL ".join(parts)


def count_events(store_id: int, start, end, sources: set[int]) -> int:
    """Return how many events the replay will read (the progress bar's total)."""
    if not sources:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM ({_selects(sources)}) ev",
            {"store": store_id, "start": start, "end": end},
        )
        return cursor.fetchone()[0]


def read_events(
    store_id: int, start, end, sources: set[int], page: int = 10_000
) -> Iterator[list[Replayed]]:
    """Yield the period's events in their order, a page at a time.

    One statement for the whole period through a server-side cursor: PostgreSQL scans and sorts
    the period once (planned for the whole result, not for its first rows), and the pages are
    fetched from it, so a year of a large store is read in seconds.
    """
    if not sources:
        return
    sql = f"SELECT * FROM ({_selects(sources)}) ev ORDER BY at, src, id"
    params = {"store": store_id, "start": start, "end": end}
    with connection.chunked_cursor() as cursor:
        with connection.cursor() as setting:
            setting.execute("SET cursor_tuple_fraction = 1")
        try:
            cursor.execute(sql, params)
        finally:
            with connection.cursor() as setting:
                setting.execute("RESET cursor_tuple_fraction")
        while True:
            rows = cursor.fetchmany(page)
            if not rows:
                return
            yield [_replayed(store_id, row) for row in rows]


def _replayed(store_id: int, row) -> Replayed:
    at, src, pk, customer_id, is_sub, is_first, kind, total, currency, name, status = row
    if src == ORDER:
        data = {
            "order_id": pk,
            "is_subscription": is_sub,
            "is_first_subscription_order": is_first,
            "order_type": kind,
            "total": str(total),
        }
        key = f"sim:order:{pk}"
    else:
        data = {"subscription_id": pk, "status": status}
        key = f"sim:subscription:{pk}:{src}"
    event = DomainEvent(
        name=SOURCE_EVENTS[src],
        store_id=store_id,
        customer_id=customer_id,
        key=key,
        data=data,
        occurred_at="",  # (when: ``Replayed.at``; nothing reads it on the way)
    )
    return Replayed(at, src, pk, event, row)
