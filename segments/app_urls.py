"""The merchant app's URLs owned by ``segments``: login, store switcher, segments, customers."""

from django.urls import path

from .views import analytics, common, customers, segments

urlpatterns = [
    path("", common.home, name="app-home"),
    path("login/", common.AppLoginView.as_view(), name="app-login"),
    path("logout/", common.AppLogoutView.as_view(), name="app-logout"),
    path("store/", common.switch_store, name="app-switch-store"),
    path("segments/", segments.segment_list, name="app-segments"),
    path("segments/new/", segments.segment_create, name="app-segment-create"),
    path("segments/rule-check/", segments.rule_check, name="app-segment-rule-check"),
    path("segments/<int:segment_id>/", segments.segment_detail, name="app-segment"),
    path("segments/<int:segment_id>/delete/", segments.segment_delete, name="app-segment-delete"),
    path(
        "segments/<int:segment_id>/members/add/",
        segments.members_add,
        name="app-segment-members-add",
    ),
    path(
        "segments/<int:segment_id>/members/remove/",
        segments.members_remove,
        name="app-segment-members-remove",
    ),
    path(
        "segments/<int:segment_id>/why/<int:customer_id>/",
        segments.member_why,
        name="app-segment-why",
    ),
    path(
        "segments/<int:segment_id>/history/",
        segments.segment_history_page,
        name="app-segment-history",
    ),
    path("segments/<int:segment_id>/import/", segments.import_start, name="app-segment-import"),
    path(
        "segments/<int:segment_id>/imports/<int:import_id>/",
        segments.import_progress,
        name="app-segment-import-progress",
    ),
    path(
        "segments/<int:segment_id>/analytics/",
        analytics.segment_analytics_page,
        name="app-segment-analytics",
    ),
    path(
        "segments/<int:segment_id>/analytics/status/",
        analytics.analytics_status,
        name="app-segment-analytics-status",
    ),
    path(
        "segments/<int:segment_id>/analytics/refresh/",
        analytics.analytics_refresh,
        name="app-segment-analytics-refresh",
    ),
    path(
        "segments/<int:segment_id>/analytics.csv",
        analytics.analytics_csv,
        name="app-segment-analytics-csv",
    ),
    path("customers/", customers.customer_list, name="app-customers"),
    path("customers/<int:customer_id>/", customers.customer_detail, name="app-customer"),
]
