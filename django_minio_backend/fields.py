"""``DirectFileField``: a model FileField whose forms (admin included) upload straight to the bucket."""

from __future__ import annotations

from typing import Any

from django.db import models

from .direct import field_label


class DirectFileField(models.FileField):
    """A ``FileField`` whose form field is :class:`~django_minio_backend.forms.DirectUploadField`.

    The column and the stored name are a FileField's; only the form differs, so
    swapping ``models.FileField`` for this needs no data migration.
    """

    def formfield(self, **kwargs: Any) -> Any:
        from .forms import DirectUploadField, DirectUploadWidget

        widget = kwargs.get("widget")
        if widget is None or not (
            isinstance(widget, DirectUploadWidget)
            or (isinstance(widget, type) and issubclass(widget, DirectUploadWidget))
        ):
            kwargs.pop("widget", None)  # the admin's AdminFileWidget would hide the direct upload
        return super().formfield(
            **{"form_class": DirectUploadField, "model_field": field_label(self.model, self), **kwargs}
        )
