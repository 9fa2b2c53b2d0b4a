"""Models of the ``segments`` app, one module per concern."""

from .commerce import Customer, Order, OrderLine, Subscription, UpcomingOrder
from .segmentation import MembershipSource, Segment, SegmentHistory, SegmentMembership
from .tenancy import Role, Store, StoreMembership, StoreOwned

__all__ = [
    "Customer",
    "MembershipSource",
    "Order",
    "OrderLine",
    "Role",
    "Segment",
    "SegmentHistory",
    "SegmentMembership",
    "Store",
    "StoreMembership",
    "StoreOwned",
    "Subscription",
    "UpcomingOrder",
]
