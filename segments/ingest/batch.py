"""What one batch of inbound events reads once and writes together.

Applying events one by one costs a handful of statements each: find the customer, create them,
find the order, insert it, insert its lines. A ``Batch`` does the reads and the inserts set-based:

- before any event is applied, one statement loads (and locks) every customer the batch's events
  name, and one loads (and locks) every order they name;
- the customers that order and customer events will create are inserted in one statement, with
  the facts of the first event that names them (later events then merge their facts as updates,
  exactly as they would have on a customer created one event earlier);
- new orders take ids from the table's sequence up front and, with their lines, are inserted in
  one statement each when the batch is flushed.

Events are still applied one at a time, in the batch's order, against these rows: the per-customer
order and the merge rules stay those of ``apply``. Anything a prepare step cannot read (a malformed
payload) it skips; the event's own application then raises the proper error.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from ..models import Customer, Order, OrderLine
from . import mapping
from .topics import Handler, Topic

# Handlers that always resolve (and, if needed, create) the customer their payload names.
_CREATING = {
    Handler.SHOPIFY_ORDER,
    Handler.SHOPIFY_ORDER_CANCELLED,
    Handler.SHOPIFY_CUSTOMER,
    Handler.RECHARGE_ORDER,
    Handler.RECHARGE_CHARGE_PAID,
    Handler.RECHARGE_CHARGE_UPCOMING,
    Handler.RECHARGE_CHARGE_FAILED,
    Handler.RECHARGE_CUSTOMER,
}


def customer_facts(topic: Topic, obj: dict) -> mapping.CustomerFacts | None:
    """The customer an event's payload names, as its handler reads it."""
    match topic.handler:
        case Handler.SHOPIFY_ORDER | Handler.SHOPIFY_ORDER_CANCELLED:
            return mapping.shopify_order_customer(obj)
        case Handler.SHOPIFY_CUSTOMER:
            return mapping.shopify_customer(obj, authoritative=True)
        case Handler.RECHARGE_CUSTOMER:
            return mapping.recharge_customer(obj, authoritative=True)
        case _:
            return mapping.recharge_embedded_customer(obj)


def order_external_id(topic: Topic, obj: dict) -> str | None:
    """The external id of the order an event describes, or None for other events."""
    match topic.handler:
        case Handler.SHOPIFY_ORDER | Handler.SHOPIFY_ORDER_CANCELLED:
            return mapping.parse_id(obj["id"])
        case Handler.RECHARGE_ORDER | Handler.RECHARGE_CHARGE_PAID:
            kind = "charge" if topic.wrapper == "charge" else "order"
            return mapping.recharge_order_external_id(obj, kind=kind)
    return None


class Batch:
    """The customers and orders of one batch, loaded once, and the inserts it defers."""

    def __init__(self) -> None:
        self._by_id: dict[int, Customer] = {}
        self._index: dict[tuple, int] = {}  # (store, kind, value) -> customer id
        self._keys_of: dict[int, list[tuple]] = {}
        self.orders: dict[tuple[int, str], Order] = {}
        self.new_orders: list[Order] = []
        self.new_lines: list[OrderLine] = []
        self.has_lines: set[int] = set()  # ids of this batch's new orders that have lines
        self._order_ids: list[int] = []
        self._pending: set[int] = set()  # ids of the new orders inserted at flush
        self._currency: dict[int, str] = {}

    # --- preparing ----------------------------------------------------------------------------

    @classmethod
    def prepare(cls, items: Iterable[tuple[int, Topic, dict]]) -> Batch:
        """Load and lock what the events name, and create the customers they will need."""
        batch = cls()
        wanted: list[tuple[int, mapping.CustomerFacts, bool]] = []
        orders: set[tuple[int, str]] = set()
        for store_id, topic, obj in items:
            try:
                facts = customer_facts(topic, obj)
                external_id = order_external_id(topic, obj)
            except (KeyError, TypeError, ValueError, AttributeError):
                continue  # malformed: the event's own application reports it
            if facts is not None:
                wanted.append((store_id, facts, topic.handler in _CREATING))
            if external_id:
                orders.add((store_id, external_id))
        batch._load_customers(wanted)
        batch._create_customers(wanted)
        batch._load_orders(orders)
        return batch

    def _lock(self) -> str:
        return " FOR UPDATE"

    def _load_customers(self, wanted) -> None:
        by_store: dict[int, dict[str, set]] = {}
        for store_id, facts, _ in wanted:
            keys = by_store.setdefault(
                store_id, {"shopify": set(), "recharge": set(), "email": set()}
            )
            if facts.shopify_id:
                keys["shopify"].add(facts.shopify_id)
            if facts.recharge_id:
                keys["recharge"].add(facts.recharge_id)
            if facts.email:
                keys["email"].add(facts.email.lower())
        arms, params = [], []
        for store_id, keys in sorted(by_store.items()):
            for column, values in (
                ("shopify_id", keys["shopify"]),
                ("recharge_id", keys["recharge"]),
                ("lower(email)", keys["email"]),
            ):
                if values:
                    # IN lists, not arrays: each arm
                    # matches one index (the partial unique ones on the ids, the one on email).
                    arms.append(
                        f"(store_id = %s AND {column} IN ({', '.join(['%s'] * len(values))}))"
                    )
                    params += [store_id, *sorted(values)]
        if not arms:
            return
        sql = (
            "SELECT * FROM segments_customer WHERE "
            + " OR ".join(arms)
            + " ORDER BY id"
            + self._lock()
        )
        for customer in Customer.objects.raw(sql, params):
            self.remember(customer)

    def _create_customers(self, wanted) -> None:
        fresh: list[Customer] = []
        pending: dict[tuple, Customer] = {}
        for store_id, facts, creating in wanted:
            if not creating or not facts.email:
                continue
            keys = _keys(store_id, facts.shopify_id, facts.recharge_id, facts.email)
            if any(key in self._index or key in pending for key in keys):
                continue
            customer = new_customer(store_id, facts)
            fresh.append(customer)
            for key in keys:
                pending[key] = customer
        if fresh:
            Customer.objects.bulk_create(fresh)
            for customer in fresh:
                self.remember(customer)

    def _load_orders(self, orders: set[tuple[int, str]]) -> None:
        if not orders:
            return
        arms, params = [], []
        for store_id in sorted({s for s, _ in orders}):
            ids = sorted(e for s, e in orders if s == store_id)
            arms.append(f"(store_id = %s AND external_id IN ({', '.join(['%s'] * len(ids))}))")
            params += [store_id, *ids]
        sql = (
            "SELECT o.*, EXISTS (SELECT 1 FROM segments_orderline l WHERE l.order_id = o.id)"
            " AS has_lines FROM segments_order o WHERE " + " OR ".join(arms) + " ORDER BY o.id"
        )
        for order in Order.objects.raw(sql + self._lock(), params):
            self.orders[(order.store_id, order.external_id)] = order
            if order.has_lines:
                self.has_lines.add(order.pk)
        missing = len(orders) - len(self.orders)
        if missing:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence('segments_order', 'id'))"
                    " FROM generate_series(1, %s)",
                    [missing],
                )
                self._order_ids = [row[0] for row in cursor.fetchall()]

    # --- customers ----------------------------------------------------------------------------

    def remember(self, customer: Customer) -> None:
        """Index the customer under each of its identifiers (again, after they change)."""
        for key in self._keys_of.get(customer.pk, ()):
            if self._index.get(key) == customer.pk:
                del self._index[key]
        keys = _keys(customer.store_id, customer.shopify_id, customer.recharge_id, customer.email)
        self._by_id[customer.pk] = customer
        self._keys_of[customer.pk] = keys
        for key in keys:
            self._index[key] = customer.pk

    def customers_matching(self, store_id: int, facts: mapping.CustomerFacts) -> list[Customer]:
        """The customers the facts name (all were loaded, or created, by this batch)."""
        ids = {
            self._index[key]
            for key in _keys(store_id, facts.shopify_id, facts.recharge_id, facts.email)
            if key in self._index
        }
        return sorted((self._by_id[i] for i in ids), key=lambda c: c.pk)

    # --- orders -------------------------------------------------------------------------------

    def order(self, store_id: int, external_id: str) -> Order | None:
        """The order with this external id (loaded and locked by the batch), or None."""
        return self.orders.get((store_id, external_id))

    def add_order(self, order: Order, lines: list[OrderLine]) -> None:
        """Insert the order (at flush when ids were reserved, else now) and its lines."""
        if self._order_ids:
            order.pk = self._order_ids.pop()
            self.new_orders.append(order)
            self._pending.add(order.pk)
        else:
            order.save(force_insert=True)
        self.orders[(order.store_id, order.external_id)] = order
        for line in lines:
            line.order_id = order.pk
        self.add_lines(order, lines)

    def add_lines(self, order: Order, lines: list[OrderLine]) -> None:
        if lines:
            self.new_lines += lines
            self.has_lines.add(order.pk)

    def is_new(self, order: Order) -> bool:
        """Whether the order is one this batch inserts at flush (so changes stay in memory)."""
        return order.pk in self._pending

    def has_lines_for(self, order: Order) -> bool:
        return order.pk in self.has_lines

    def currency(self, store_id: int) -> str:
        if store_id not in self._currency:
            from ..models import Store

            self._currency[store_id] = (
                Store.objects.filter(pk=store_id).values_list("currency", flat=True).first()
                or "USD"
            )
        return self._currency[store_id]

    # --- writing ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Insert the new orders and all new lines, one statement each."""
        if self.new_orders:
            Order.objects.bulk_create(self.new_orders)
            self.new_orders, self._pending = [], set()
        if self.new_lines:
            OrderLine.objects.bulk_create(self.new_lines)
            self.new_lines = []


def new_customer(store_id: int, facts: mapping.CustomerFacts) -> Customer:
    """The (unsaved) customer that the first event naming them creates."""
    return Customer(
        store_id=store_id,
        email=facts.email,
        shopify_id=facts.shopify_id,
        recharge_id=facts.recharge_id,
        first_name=facts.first_name or "",
        last_name=facts.last_name or "",
        tags=facts.tags or [],
        accepts_marketing=bool(facts.accepts_marketing),
        source_updated_at=facts.source_updated_at,
    )


def _keys(store_id: int, shopify_id: str, recharge_id: str, email: str) -> list[tuple]:
    keys = []
    if shopify_id:
        keys.append((store_id, "shopify", shopify_id))
    if recharge_id:
        keys.append((store_id, "recharge", recharge_id))
    if email:
        keys.append((store_id, "email", email.lower()))
    return keys
