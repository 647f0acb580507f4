"""A form field and widget for direct browser uploads, with a plain file input as the fallback.

The widget renders Django's file input and, when ``django_minio_backend.urls``
is included, a hidden input and a progress bar that ``direct-upload.js`` drives:
the script sends the chosen file to the bucket, finalizes it, puts the signed
value in the hidden input and empties the file input, so the form posts only a
few hundred bytes. Without JavaScript the file input posts the file as usual.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from .direct import load_value
from .fields import DirectName

DIRECT_SUFFIX = "__direct"


class DirectValue:
    """The signed value of a finalized direct upload, as posted by the widget under ``html_name``."""

    def __init__(self, signed: str, html_name: str = "") -> None:
        self.signed = signed
        self.html_name = html_name


class DirectUploadWidget(forms.ClearableFileInput):
    """A file input that uploads straight to the bucket when JavaScript runs."""

    template_name = "django_minio_backend/widgets/direct_upload.html"

    class Media:
        js = ("django_minio_backend/direct-upload.js",)
        css = {"all": ("django_minio_backend/direct-upload.css",)}

    def __init__(self, attrs: dict[str, Any] | None = None, model_field: str = "") -> None:
        super().__init__(attrs)
        self.model_field = model_field

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, None if isinstance(value, DirectValue) else value, attrs)
        try:
            endpoints = {
                action: reverse(f"django_minio_backend:direct-{action}")
                for action in ("ticket", "parts", "finalize", "cancel")
            }
        except NoReverseMatch:
            endpoints = {}  # the project did not include our URLs: a plain file input
        context["widget"].update(
            direct_name=name + DIRECT_SUFFIX,
            direct_value=value.signed if isinstance(value, DirectValue) else "",
            model_field=self.model_field,
            endpoints=endpoints,
        )
        return context

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        signed = data.get(name + DIRECT_SUFFIX)
        if signed:
            return DirectValue(str(signed), name)
        return super().value_from_datadict(data, files, name)

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name + DIRECT_SUFFIX not in data and super().value_omitted_from_data(data, files, name)


class DirectUploadField(forms.FileField):
    """A file field that also accepts a direct upload's signed value for ``model_field``.

    ``model_field`` names the model field the file is for, ``"app_label.Model.field"``
    (the ticket view asks the hooks about that field and uses its storage and
    ``upload_to``). The cleaned value of a direct upload is the stored file's
    name; a model form assigns it without uploading anything again. Set
    ``request`` (``form.fields[name].request = request``) to refuse values
    finalized by another user or session.
    """

    widget = DirectUploadWidget

    def __init__(self, *, model_field: str, request: HttpRequest | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_field = model_field
        # With the request, a value is accepted only from the user and session that uploaded it.
        self.request = request
        if isinstance(self.widget, DirectUploadWidget):
            self.widget.model_field = model_field

    def to_python(self, data: Any) -> Any:
        if isinstance(data, DirectValue):
            try:
                return DirectName(load_value(data.signed, self.model_field, self.request), data.html_name)
            except ValueError as exc:
                raise ValidationError(str(exc), code="invalid") from exc
        return super().to_python(data)

    def bound_data(self, data: Any, initial: Any) -> Any:
        # A direct upload survives a form that comes back with other errors.
        return data if isinstance(data, DirectValue) else super().bound_data(data, initial)


_Form = TypeVar("_Form", bound=forms.BaseForm)


def bound_to_request(form_class: type[_Form], request: HttpRequest) -> type[_Form]:
    """``form_class`` whose direct-upload fields accept only the values ``request``'s user and
    session finalized.

    Each form instance has its own copies of the fields, so the request never
    reaches another request's form.
    """

    class Bound(form_class):  # type: ignore[valid-type,misc]  # a subclass of a class given at run time
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            for field in self.fields.values():
                if isinstance(field, DirectUploadField):
                    field.request = request

    Bound.__name__ = Bound.__qualname__ = form_class.__name__
    Bound.__module__ = form_class.__module__
    return cast("type[_Form]", Bound)
