"""The merchant app's rewards pages (under ``/app/``)."""

from django.urls import path

from . import app_views as views

urlpatterns = [
    path("rewards/", views.overview, name="app-rewards"),
    path("rewards/incentives/", views.incentive_list, name="app-rewards-incentives"),
    path("rewards/incentives/new/", views.incentive_create, name="app-rewards-incentive-create"),
    path(
        "rewards/incentives/<int:incentive_id>/",
        views.incentive_edit,
        name="app-rewards-incentive",
    ),
    path(
        "rewards/incentives/<int:incentive_id>/deactivate/",
        views.incentive_deactivate,
        name="app-rewards-incentive-deactivate",
    ),
    path(
        "rewards/incentives/<int:incentive_id>/activate/",
        views.incentive_activate,
        name="app-rewards-incentive-activate",
    ),
    path("rewards/grants/", views.grant_list, name="app-rewards-grants"),
    path(
        "rewards/grants/<int:grant_id>/revoke/", views.grant_revoke, name="app-rewards-grant-revoke"
    ),
    path(
        "rewards/grants/<int:grant_id>/extend/", views.grant_extend, name="app-rewards-grant-extend"
    ),
    path("rewards/caps/", views.caps, name="app-rewards-caps"),
    path(
        "customers/<int:customer_id>/credit/adjust/",
        views.credit_adjust,
        name="app-customer-credit-adjust",
    ),
]
