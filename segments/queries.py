"""The one path through which store-owned rows are read.

Every view, API endpoint, admin page for merchants and task that reads store-owned data starts
from a store the caller may see (``store_for_user``) and scopes its queryset with ``scoped``.
"""

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
