"""What the engine knows about one customer while it handles one event.

Every piece is loaded at most once, and only when a condition or node asks for it, so the number
of queries per event is bounded by the number of kinds of facts, never by the number of
experiences or customers.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Any

from django.utils import timezone

from segments.models import Customer, Order, OrderLine, SegmentMembership, Store, Subscription


class EvaluationContext:
    def __init__(self, store: Store, customer: Customer, event_data: dict[str, Any] | None = None):
        self.store = store
        self.customer = customer
        self.event_data = event_data or {}

    @cached_property
    def today(self) -> dt.date:
        return timezone.now().astimezone(self.store.tzinfo).date()

    @cached_property
    def segment_ids(self) -> set[int]:
        """Ids of every segment the customer is in: one indexed query for all segment tests."""
        return set(
            SegmentMembership.objects.filter(customer_id=self.customer.pk).values_list(
                "segment_id", flat=True
            )
        )

    @cached_property
    def order(self) -> Order | None:
        order_id = self.event_data.get("order_id")
        orders = Order.objects.filter(customer_id=self.customer.pk)
        if order_id:
            return orders.filter(pk=order_id).first()
        return orders.order_by("-processed_at", "-id").first()

    @cached_property
    def order_products(self) -> set[str]:
        if self.order is None:
            return set()
        return set(
            OrderLine.objects.filter(order_id=self.order.pk).values_list("product_id", flat=True)
        )

    @cached_property
    def subscriptions(self) -> list[Subscription]:
        return list(Subscription.objects.filter(customer_id=self.customer.pk))

    @cached_property
    def subscription(self) -> Subscription | None:
        wanted = self.event_data.get("subscription_id")
        subs = self.subscriptions
        if wanted:
            return next((s for s in subs if s.pk == wanted), None)
        active = [s for s in subs if s.status == Subscription.Status.ACTIVE]
        return (active or subs or [None])[0]

    @cached_property
    def products_purchased(self) -> set[str]:
        return set(
            OrderLine.objects.filter(customer_id=self.customer.pk)
            .values_list("product_id", flat=True)
            .distinct()
        )

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

    def value_of(self, field: str) -> Any:
        """Return the value of a condition field for this customer and event."""
        c = self.customer
        if field.startswith("order."):
            return self._order_value(field.removeprefix("order."))
        if field.startswith("subscription."):
            return self._subscription_value(field.removeprefix("subscription."))
        computed = {
            "email_domain": lambda: c.email.rsplit("@", 1)[-1].lower(),
            "products_purchased": lambda: self.products_purchased,
            "subscription_status": lambda: {s.status for s in self.subscriptions},
            "next_charge_date": self.next_charge_date,
            "first_order_date": lambda: self._local_date(c.first_order_at),
            "last_order_date": lambda: self._local_date(c.last_order_at),
            "created_date": lambda: self._local_date(c.created_at),
        }
        if field in computed:
            return computed[field]()
        return getattr(c, field)

    def _local_date(self, value: dt.datetime | None) -> dt.date | None:
        return value.astimezone(self.store.tzinfo).date() if value else None

    def _order_value(self, name: str) -> Any:
        order = self.order
        if order is None:
            return None
        if name == "total":
            return order.total
        if name == "products":
            return self.order_products
        if name == "discount_codes":
            return [
                code.get("code", "") if isinstance(code, dict) else str(code)
                for code in (order.discount_codes or [])
            ]
        if name == "is_subscription":
            return order.is_subscription
        if name == "type":
            if not order.is_subscription:
                return "one_time"
            return "first" if order.is_first_subscription_order else "recurring"
        return None

    def _subscription_value(self, name: str) -> Any:
        sub = self.subscription
        if sub is None:
            return None
        return {
            "status": sub.status,
            "product": sub.product_id,
            "variant": sub.variant_id,
            "quantity": sub.quantity,
            "interval_unit": sub.interval_unit,
            "is_prepaid": sub.is_prepaid,
            "next_charge_date": sub.next_charge_date,
        }.get(name)

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
