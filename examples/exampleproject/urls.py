"""The admin is the whole site: upload attachments there and follow their links."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # Direct browser uploads (LargeAttachment): tickets, part URLs, finalize.
    path("minio/", include("django_minio_backend.urls")),
]
