"""``DirectFileField``: a model FileField whose forms (admin included) upload straight to the bucket."""

from __future__ import annotations

import threading
from typing import Any

from django.core.exceptions import ValidationError
from django.core.signals import request_started
from django.db import models

from .direct import field_label

# Per thread, by (field, name): the form input (HTML name) whose direct-upload value passed validate. The
# forms of one formset are all validated before any is saved, so the database alone cannot see one value
# posted in two forms; a form validated again (a wizard's last step) posts it under the same input.
_validated = threading.local()


def _validated_now() -> dict[tuple[str, str], str]:
    if not hasattr(_validated, "inputs"):
        _validated.inputs = {}
    return _validated.inputs  # type: ignore[no-any-return]


def _forget_validated(**kwargs: Any) -> None:
    _validated.inputs = {}


request_started.connect(_forget_validated, dispatch_uid="django_minio_backend.fields.forget_validated")


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

    def save_form_data(self, instance: models.Model, data: Any) -> None:
        super().save_form_data(instance, data)
        if isinstance(data, DirectName):
            # Remembered for validate: only a direct upload's value is checked for sharing.
            instance.__dict__[self._direct_key] = (str(data), data.html_name)

    @property
    def _direct_key(self) -> str:
        return f"_dmb_direct_upload_{self.attname}"

    def validate(self, value: Any, model_instance: models.Model | None) -> None:
        """Refuse a direct upload's file that another row of this field already holds.

        A direct upload's value names a stored file; posted twice (a double submit,
        a second form), it would attach one file to two rows, and deleting one
        row's file would take the other's. Only a value a form took from a direct
        upload is asked about: rows may share a file for other reasons (a field
        default, a copied row, data from before the swap to this field), and
        editing them must not fail. A new upload (not yet stored) is not asked
        about either: the storage gives it a free name when it is saved. Within
        one request (a formset), a value validated for another instance that is
        not saved yet is refused too.
        """
        super().validate(value, model_instance)
        name = getattr(value, "name", None)
        if not name or not getattr(value, "_committed", False) or model_instance is None:
            return
        direct = model_instance.__dict__.get(self._direct_key)
        if not direct or direct[0] != name:
            return
        others = type(model_instance)._default_manager.filter(**{self.attname: name})
        if model_instance.pk is not None:
            others = others.exclude(pk=model_instance.pk)
        # Compared here too: a case-insensitive column would match "Report.txt" to "report.txt".
        if any(other == name for other in others.values_list(self.attname, flat=True).iterator()):
            raise ValidationError(
                "This uploaded file is already attached to another record; upload it again.",
                code="file_in_use",
            )
        key = (field_label(type(model_instance), self), name)
        validated = _validated_now()
        if validated.setdefault(key, direct[1]) != direct[1]:
            raise ValidationError(
                "This uploaded file is already attached to another record in this form; upload it again.",
                code="file_in_use",
            )


class DirectName(str):
    """A stored file's name that a form took from a direct upload's signed value (posted as ``html_name``)."""

    html_name: str

    def __new__(cls, name: str, html_name: str = "") -> DirectName:
        value = super().__new__(cls, name)
        value.html_name = html_name
        return value
