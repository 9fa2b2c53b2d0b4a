"""What the engine knows about one customer while it handles one event, for the nodes that read
facts in Python (a wait on the next charge date, a notification's variables).

Conditions are not evaluated here: they compile to SQL (``experiences.conditions``). Every piece
is loaded at most once, and only when a node asks for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cached_property
from typing import Any

from django.utils import timezone

from segments.models import Customer, Order, Store, Subscription


class EvaluationContext:
    def __init__(self, store: Store, customer: Customer, event_data: dict[str, Any] | None = None):
        self.store = store
        self.customer = customer
        self.event_data = event_data or {}
        # Set by a batch walk: reads the orders of every context of the batch in one statement
        # the first time any of its nodes asks for one (most graphs never do).
        self.load_batch_orders: Callable[[], None] | None = None

    @cached_property
    def today(self) -> dt.date:
        return timezone.now().astimezone(self.store.tzinfo).date()

    @cached_property
    def order(self) -> Order | None:
        if self.load_batch_orders is not None:
            self.load_batch_orders()
            if "order" in self.__dict__:
                return self.__dict__["order"]
        order_id = self.event_data.get("order_id")
        orders = Order.objects.filter(customer_id=self.customer.pk)
        if order_id:
            return orders.filter(pk=order_id).first()
        return orders.order_by("-processed_at", "-id").first()

    @cached_property
    def subscriptions(self) -> list[Subscription]:
        return list(Subscription.objects.filter(customer_id=self.customer.pk))

    def next_charge_date(self) -> dt.date | None:
        scheduled = self.event_data.get("scheduled_at")
        if scheduled:
            return dt.date.fromisoformat(str(scheduled)[:10])
        dates = [
            s.next_charge_date
            for s in self.subscriptions
            if s.status == Subscription.Status.ACTIVE and s.next_charge_date
        ]
        return min(dates) if dates else None

    def template_variables(self, experience) -> dict[str, Any]:
        """Return the variables a notification may use; plain values only."""
        c = self.customer
        order = self.order
        return {
            "customer": {
                "first_name": c.first_name,
                "last_name": c.last_name,
                "name": c.name,
                "email": c.email,
                "orders_count": c.orders_count,
                "subscription_orders_count": c.subscription_orders_count,
                "total_spent": str(c.total_spent),
            },
            "order": {
                "name": order.name if order else "",
                "total": str(order.total) if order else "",
                "currency": order.currency if order else "",
            },
            "experience": {"name": experience.name},
            "store": {"name": self.store.name},
        }
