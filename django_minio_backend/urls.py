"""URLs of direct browser uploads: ``path("minio/", include("django_minio_backend.urls"))``."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "django_minio_backend"
urlpatterns = [
    path("upload/ticket/", views.ticket, name="direct-ticket"),
    path("upload/parts/", views.parts, name="direct-parts"),
    path("upload/finalize/", views.finalize, name="direct-finalize"),
    path("upload/cancel/", views.cancel, name="direct-cancel"),
]
