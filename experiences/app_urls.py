"""The merchant app's experience pages (the builder's URL lives beside them)."""

from django.urls import path

from . import views

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
]
