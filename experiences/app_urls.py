"""The merchant app's experience pages (the builder's URL lives beside them)."""

from django.urls import path

from . import analytics_views, views

urlpatterns = [
    path("experiences/", views.experience_list, name="app-experiences"),
    path("experiences/new/", views.experience_create, name="app-experience-create"),
    path(
        "experiences/<int:experience_id>/duplicate/",
        views.experience_duplicate,
        name="app-experience-duplicate",
    ),
    path(
        "experiences/<int:experience_id>/archive/",
        views.experience_archive,
        name="app-experience-archive",
    ),
    path("experiences/<int:experience_id>/builder/", views.builder, name="experience-builder"),
    path(
        "experiences/<int:experience_id>/analytics/",
        analytics_views.experience_analytics_page,
        name="app-experience-analytics",
    ),
    path(
        "experiences/<int:experience_id>/analytics/status/",
        analytics_views.analytics_status,
        name="app-experience-analytics-status",
    ),
    path(
        "experiences/<int:experience_id>/analytics/refresh/",
        analytics_views.analytics_refresh,
        name="app-experience-analytics-refresh",
    ),
    path(
        "experiences/<int:experience_id>/analytics.csv",
        analytics_views.analytics_csv,
        name="app-experience-analytics-csv",
    ),
]
