"""State changes of the ``segments`` app: plain functions that own their transaction.

Views, admin actions, the API, tasks and the experience engine all call these, by their names here
(``from segments.actions import add_to_segment``). Grouped by what they change: ``membership``
(one customer's membership, and many at once for the engine, with the segments' counts),
``definition`` (segments themselves, their rules and recomputes), ``bulk`` (many members of one
segment: imports and bulk edits, and their announcements); ``errors`` says what callers catch.
"""

from .bulk import (
    ANNOUNCE_CHUNK,
    ANNOUNCE_GRACE,
    BulkResult,
    add_customers_to_segment,
    announce_history_range,
    announce_pending,
    change_members_by_email,
    customers_by_email,
    queue_announcement,
    remove_customers_from_segment,
    requeue_pending_announcements,
    segment_tables,
)
from .definition import (
    check_segment_name,
    check_segment_rule,
    create_segment,
    delete_segment,
    enqueue,
    request_recompute,
    update_segment,
)
from .errors import (
    SegmentConflict,
    SegmentError,
    SegmentInUse,
)
from .membership import (
    MEMBERSHIP_UNIQUE,
    MembershipRequest,
    add_to_segment,
    change_memberships,
    member_counts_at_end,
    remove_from_segment,
    take_member_counts,
)

__all__ = [
    "ANNOUNCE_CHUNK",
    "ANNOUNCE_GRACE",
    "BulkResult",
    "MEMBERSHIP_UNIQUE",
    "MembershipRequest",
    "SegmentConflict",
    "SegmentError",
    "SegmentInUse",
    "add_customers_to_segment",
    "add_to_segment",
    "announce_history_range",
    "announce_pending",
    "change_members_by_email",
    "change_memberships",
    "check_segment_name",
    "check_segment_rule",
    "create_segment",
    "customers_by_email",
    "delete_segment",
    "enqueue",
    "member_counts_at_end",
    "queue_announcement",
    "remove_customers_from_segment",
    "remove_from_segment",
    "request_recompute",
    "requeue_pending_announcements",
    "segment_tables",
    "take_member_counts",
    "update_segment",
]
