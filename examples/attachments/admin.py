"""Admin pages: upload through the form, then follow the link the storage signed."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from django_minio_backend.admin import DirectUploadAdminMixin

from .models import Attachment, GenericAttachment, LargeAttachment, PrivateAttachment, PublicAttachment

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")


@admin.register(PrivateAttachment, PublicAttachment, GenericAttachment, LargeAttachment)
class AttachmentAdmin(DirectUploadAdminMixin, admin.ModelAdmin):
    # The mixin: a direct upload's value is accepted only from the user and session that uploaded it.

    list_display = ("__str__", "link", "uploaded_at")
    readonly_fields = ("link", "preview")

    @admin.display(description="URL")
    def link(self, obj: Attachment) -> str:
        if not obj.file:
            return "-"
        # url() signs locally (private buckets) or builds a plain URL (public ones): no request.
        return format_html('<a class="file-link" href="{}">{}</a>', obj.file.url, obj.file.name)

    @admin.display(description="Preview")
    def preview(self, obj: Attachment) -> str:
        if not obj.file or not obj.file.name.lower().endswith(IMAGE_SUFFIXES):
            return "-"
        return format_html('<img class="file-preview" src="{}" style="max-height: 12em">', obj.file.url)
