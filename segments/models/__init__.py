"""Models of the ``segments`` app, one module per concern."""

from .commerce import Customer, Order, OrderLine, Subscription, UpcomingOrder
from .tenancy import Role, Store, StoreMembership, StoreOwned

__all__ = [
    "Customer",
    "Order",
    "OrderLine",
    "Role",
    "Store",
    "StoreMembership",
    "StoreOwned",
    "Subscription",
    "UpcomingOrder",
]
