"""Request scoping for the merchant app's pages (``/app/``): the signed-in merchant's current
store and their role in it.

Pages are not under a store slug: the current store lives in the session (the store switcher
sets it) and every page reads it through ``app_store``. An object id of another store is looked
up inside the current store only, so it answers 404 exactly like a missing id.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from .models import Role, Store, StoreMembership
from .queries import membership_for, stores_for

SESSION_KEY = "app_store_id"


def choose_store(request: HttpRequest, store: Store) -> None:
    """Make this store the session's current store (the caller checked the membership)."""
    request.session[SESSION_KEY] = store.pk


def app_store(request: HttpRequest) -> tuple[Store, StoreMembership]:
    """Return the session's current store and the user's membership, or raise 404.

    With no store chosen yet (or one the user has lost access to), the user's first store is
    chosen; a user without any store gets 404.
    """
    user = request.user
    stores = stores_for(user).order_by("name", "pk")
    store = None
    chosen = request.session.get(SESSION_KEY)
    if chosen is not None:
        store = stores.filter(pk=chosen).first()
    if store is None:
        store = stores.first()
        if store is None:
            raise Http404("You are not a member of any store.")
        choose_store(request, store)
    membership = membership_for(user, store)
    if membership is None:
        raise Http404
    return store, membership


def merchant_view(role: str = Role.VIEWER) -> Callable:
    """Decorate a page: signed in (else the app's login page), a current store, at least ``role``.

    The view receives ``request.store`` and ``request.membership``; a lower role is a 403.
    """

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), settings.APP_LOGIN_URL)
            request.store, request.membership = app_store(request)
            if not request.membership.has_role(role):
                raise PermissionDenied(f"This needs the {role} role.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
