"""The one path through which store-owned rows are read.

Every view, API endpoint, admin page for merchants and task that reads store-owned data starts
from a store the caller may see (``store_for_user``) and scopes its queryset with ``scoped``.
"""

from contextlib import contextmanager

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Model, QuerySet
from django.http import Http404

from .models import Role, Store, StoreMembership


def stores_for(user) -> QuerySet[Store]:
    """Return the stores the user belongs to (every store for superusers)."""
    if not user.is_authenticated:
        return Store.objects.none()
    if user.is_superuser:
        return Store.objects.all()
    return Store.objects.filter(memberships__user=user)


def membership_for(user, store: Store) -> StoreMembership | None:
    """Return the user's membership of the store; superusers act as owners."""
    if user.is_superuser:
        return StoreMembership(store=store, user=user, role=Role.OWNER)
    return StoreMembership.objects.filter(store=store, user=user).first()


def store_for_user(user, slug: str) -> tuple[Store, StoreMembership]:
    """Return the store with this slug and the user's membership, or raise 404.

    A store the user has no membership in answers exactly like a store that does not exist.
    """
    if not user.is_authenticated:
        raise Http404
    if user.is_superuser:
        store = Store.objects.filter(slug=slug).first()
        if store is None:
            raise Http404
        return store, StoreMembership(store=store, user=user, role=Role.OWNER)
    membership = (
        StoreMembership.objects.select_related("store").filter(store__slug=slug, user=user).first()
    )
    if membership is None:
        raise Http404
    return membership.store, membership


def scoped[M: Model](model: type[M], store: Store) -> QuerySet[M]:
    """Return the rows of a store-owned model that belong to this store."""
    return model.objects.filter(store=store)


# --- segments -------------------------------------------------------------------------------


def segments_for(store: Store):
    """Return the store's segments."""
    from .models import Segment

    return scoped(Segment, store)


def segment_members(segment, email: str = ""):
    """Return the memberships of a segment with their customer, newest first, by email part."""
    from .models import SegmentMembership

    members = scoped(SegmentMembership, segment.store).filter(segment=segment)
    if email:
        members = members.filter(customer__email__icontains=email.strip())
    return members.select_related("customer", "acting_user").order_by("-added_at", "-id")


def segment_history(store: Store, *, segment=None, customer=None, since=None):
    """Return history rows of the store, for one segment and/or one customer, newest first.

    ``since`` bounds the rows to that time up to now, on both sides, so that PostgreSQL reads
    only the monthly partitions of the window (segments/partitions.py).
    """
    from django.utils import timezone

    from .models import SegmentHistory

    rows = scoped(SegmentHistory, store)
    if since is not None:
        rows = rows.filter(at__gte=since, at__lte=timezone.now())
    if segment is not None:
        rows = rows.filter(segment=segment)
    if customer is not None:
        rows = rows.filter(customer=customer)
    return rows.select_related("segment", "customer", "acting_user").order_by("-at", "-id")


def membership_explanations(store: Store, customer):
    """Answer "why is this customer in each segment, since when, because of what" in one query.

    Each membership carries its segment (kind, rule, version), its source and reference, the user
    who acted, and ``entered_at``: the time of the history row that recorded this entry.
    """
    from django.db.models import OuterRef, Subquery

    from .models import SegmentHistory, SegmentMembership

    entry = SegmentHistory.objects.filter(
        segment_id=OuterRef("segment_id"), customer_id=OuterRef("customer_id"), action="added"
    ).order_by("-at", "-id")
    return (
        scoped(SegmentMembership, store)
        .filter(customer=customer)
        .select_related("segment", "acting_user")
        .annotate(
            entered_at=Subquery(entry.values("at")[:1]),
            entry_reference=Subquery(entry.values("reference")[:1]),
        )
        .order_by("segment__name")
    )


def calculations_for(store: Store):
    from .models import SegmentCalculation

    return scoped(SegmentCalculation, store).select_related("segment")


class TooExpensive(Exception):
    """A bounded read ran past its statement timeout."""


@contextmanager
def bounded(milliseconds: int | None = None):
    """Run the block's queries under a PostgreSQL statement timeout; raise ``TooExpensive``.

    The timeout is ``SEGMENT_PREVIEW_TIMEOUT_MS`` unless given; ``SET LOCAL`` keeps it to the
    block's own transaction.
    """
    limit = int(milliseconds or settings.SEGMENT_PREVIEW_TIMEOUT_MS)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting('statement_timeout'),"
                    " set_config('statement_timeout', %s, true)",
                    [str(limit)],
                )
                previous = cursor.fetchone()[0]
            yield limit
            # inside an outer transaction, SET LOCAL would outlive the block
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "57014":  # query_canceled
            raise TooExpensive(limit) from exc
        raise
