"""Base classes every store-scoped API endpoint uses: the store from the URL, the role check and
the scoped queryset. A store the caller has no membership in answers 404, like a missing object."""

from django.db.models import QuerySet
from rest_framework import permissions, viewsets
from rest_framework.request import Request

from ..models import Role, Store, StoreMembership
from ..queries import scoped, store_for_user


class StoreRolePermission(permissions.BasePermission):
    """Allow safe methods to viewers and writes to editors; views may ask more per action.

    A view declares ``required_roles = {"publish": Role.OWNER, ...}`` keyed by DRF action name;
    unlisted actions need ``viewer`` for safe methods and ``editor`` otherwise.
    """

    message = "Your role in this store does not allow this."

    def has_permission(self, request, view) -> bool:
        membership: StoreMembership | None = getattr(view, "membership", None)
        if membership is None:
            return False
        required = getattr(view, "required_roles", {}).get(getattr(view, "action", None))
        if required is None:
            required = Role.VIEWER if request.method in permissions.SAFE_METHODS else Role.EDITOR
        return membership.has_role(required)


class StoreScopedMixin:
    """Resolve ``store_slug`` from the URL to a store the caller belongs to, before anything."""

    permission_classes = [permissions.IsAuthenticated, StoreRolePermission]
    required_roles: dict[str, str] = {}
    store: Store
    membership: StoreMembership
    model = None

    def initial(self, request: Request, *args, **kwargs):
        # Authenticate first so an anonymous caller gets 401/403, not 404.
        self.perform_authentication(request)
        if request.user and request.user.is_authenticated:
            self.store, self.membership = store_for_user(request.user, kwargs["store_slug"])
        super().initial(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no store
            return self.model.objects.none()
        return self.scope_queryset(scoped(self.model, self.store))

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        """Add select_related and the like; the store filter is already applied."""
        return queryset

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["store"] = getattr(self, "store", None)
        return context


class StoreScopedReadOnlyViewSet(StoreScopedMixin, viewsets.ReadOnlyModelViewSet):
    pass


class StoreScopedModelViewSet(StoreScopedMixin, viewsets.ModelViewSet):
    pass
