"""Models of the ``segments`` app, one module per concern."""

from .analytics import AnalyticsRefresh, SegmentDailySize, SegmentSummary
from .commerce import Customer, Order, OrderLine, Subscription, UpcomingOrder
from .events import InboundDelivery, InboundEvent, OutboxEvent, QueuedTask, ReportedStreak
from .segment_jobs import JobStatus, SegmentCalculation, SegmentImport, SegmentImportProblem
from .segmentation import (
    MembershipSource,
    PendingAnnouncement,
    Segment,
    SegmentHistory,
    SegmentMembership,
)
from .tenancy import Role, Store, StoreMembership, StoreOwned

__all__ = [
    "AnalyticsRefresh",
    "SegmentDailySize",
    "SegmentSummary",
    "Customer",
    "InboundDelivery",
    "InboundEvent",
    "JobStatus",
    "MembershipSource",
    "Order",
    "OrderLine",
    "OutboxEvent",
    "PendingAnnouncement",
    "QueuedTask",
    "ReportedStreak",
    "Role",
    "Segment",
    "SegmentCalculation",
    "SegmentHistory",
    "SegmentImport",
    "SegmentImportProblem",
    "SegmentMembership",
    "Store",
    "StoreMembership",
    "StoreOwned",
    "Subscription",
    "UpcomingOrder",
]
