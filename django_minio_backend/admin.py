"""Admin support for direct uploads (nothing is registered here)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .forms import bound_to_request


class DirectUploadAdminMixin:
    """A ``ModelAdmin`` / ``InlineModelAdmin`` mixin: direct-upload fields accept a value only
    from the user and session that finalized the upload (without it, the admin checks the
    value's signature and the object's ETag only).

    ``class VideoAdmin(DirectUploadAdminMixin, admin.ModelAdmin): ...``
    """

    def get_form(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        form = super().get_form(request, *args, **kwargs)  # type: ignore[misc]
        return bound_to_request(form, request)

    def get_formset(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        formset = super().get_formset(request, *args, **kwargs)  # type: ignore[misc]
        formset.form = bound_to_request(formset.form, request)
        return formset
