"""The experiences app's pages under ``/app/`` (included by ``config.urls``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("experiences/<int:pk>/builder/", views.builder, name="experience-builder"),
]
