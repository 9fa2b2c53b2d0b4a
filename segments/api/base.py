"""Base classes every store-scoped API endpoint uses: the store from the URL, the role check, the
store's plan (experiences, rewards) and the scoped queryset. A store the caller has no membership
in answers 404, like a missing object."""

from django.db.models import QuerySet, TextChoices
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


class StoreFeature(TextChoices):
    """What a store's plan may offer: the value is the ``Store`` flag, the label the refusal."""

    EXPERIENCES = "experiences_enabled", "Experiences are not enabled for this store."
    REWARDS = "rewards_enabled", "Rewards are not enabled for this store."


def store_offers(store: Store, feature: str) -> bool:
    """Return whether the store's plan offers the feature (a ``StoreFeature``)."""
    return bool(getattr(store, StoreFeature(feature).value))


class StoreFeaturePermission(permissions.BasePermission):
    """Refuse (403, naming the reason) the writes that need a feature the store does not offer.

    A view declares ``required_features = {"create": StoreFeature.REWARDS, ...}`` keyed by DRF
    action name, or ``{"*": StoreFeature.REWARDS}`` for all its actions. Reads stay allowed (a
    store keeps seeing what it has) unless the view sets ``features_guard_reads = True``.
    """

    def has_permission(self, request, view) -> bool:
        store = getattr(view, "store", None)
        features = getattr(view, "required_features", {})
        feature = features.get(getattr(view, "action", None)) or features.get("*")
        if store is None or feature is None:
            return True
        if request.method in permissions.SAFE_METHODS and not getattr(
            view, "features_guard_reads", False
        ):
            return True
        if store_offers(store, feature):
            return True
        self.message = StoreFeature(feature).label
        return False


class StoreScopedMixin:
    """Resolve ``store_slug`` from the URL to a store the caller belongs to, before anything."""

    permission_classes = [
        permissions.IsAuthenticated,
        StoreRolePermission,
        StoreFeaturePermission,
    ]
    required_roles: dict[str, str] = {}
    required_features: dict[str, str] = {}
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
