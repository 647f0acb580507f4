"""``DirectFileField``: a model FileField whose forms (admin included) upload straight to the bucket."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
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

    def validate(self, value: Any, model_instance: models.Model | None) -> None:
        """Refuse a stored file another row of this field already holds.

        A direct upload's value names a stored file; posted twice (a double submit,
        a second form), it would attach one file to two rows, and deleting one
        row's file would take the other's. A new upload (not yet stored) is not
        asked about: the storage gives it a free name when it is saved.
        """
        super().validate(value, model_instance)
        name = getattr(value, "name", None)
        if not name or not getattr(value, "_committed", False) or model_instance is None:
            return
        others = type(model_instance)._default_manager.filter(**{self.attname: name})
        if model_instance.pk is not None:
            others = others.exclude(pk=model_instance.pk)
        if others.exists():
            raise ValidationError(
                "This uploaded file is already attached to another record; upload it again.",
                code="file_in_use",
            )
