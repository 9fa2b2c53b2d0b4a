"""URL map: admin, the store-scoped API under /api/v1/, the schema, webhooks and the app."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

import experiences.api
import rewards.api
import segments.api
from ops.health import healthz, readyz
from ops.metrics import metrics
from ops.views import operations
from rewards.views import offer_page
from segments.api.commerce import StoreListView
from segments.webhooks import recharge_webhook, shopify_webhook

store_router = SimpleRouter()
segments.api.register(store_router)
experiences.api.register(store_router)
rewards.api.register(store_router)


urlpatterns = [
    path("", RedirectView.as_view(url="/app/", permanent=False), name="root"),
    # The merchant app: each app owns its pages (segments: login, segments, customers).
    path("app/", include("segments.app_urls")),
    path("app/", include("experiences.app_urls")),
    path("app/", include("rewards.app_urls")),
    path("admin/operations/", admin.site.admin_view(operations), name="admin-operations"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("webhooks/shopify/", shopify_webhook, name="webhook-shopify"),
    path("webhooks/recharge/<slug:store_slug>/", recharge_webhook, name="webhook-recharge"),
    path("offers/<str:token>/", offer_page, name="rewards-offer"),
    path("api/v1/stores/", StoreListView.as_view(), name="store-list"),
    path("api/v1/stores/<slug:store_slug>/", include(store_router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
