"""Hook specifications: the contract between the backend and its plugins.

Every hook is called with keyword arguments; an implementation may accept any
subset of them. Argument names are public API and never change meaning.
Plugins mark their implementations with :data:`django_minio_backend.hookimpl`.

An exception raised by an implementation fails the operation as a
:class:`~django_minio_backend.exceptions.PluginError` naming the plugin, except
Django's deliberate refusals (``SuspiciousOperation`` such as
``SuspiciousFileOperation``, ``ValidationError``, ``PermissionDenied``), which
reach the caller unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from django.core.files import File
    from django.db import models
    from django.http import HttpRequest

    from .direct import UploadRules
    from .storage import MinioBackend

PROJECT_NAME = "django_minio_backend"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def bucket_policy(bucket_name: str, public: bool, storage: MinioBackend) -> dict[str, Any] | None:
    """Return the bucket policy document (a dict) that ``bucket_name`` must carry.

    ``public`` is True when the bucket is listed in ``MINIO_PUBLIC_BUCKETS``.
    ``storage`` is a MinioBackend for that bucket (its ``config`` holds the
    resolved settings of the alias or top-level settings that declared it).

    Return None to have no opinion; the next implementation is asked. The first
    non-None answer wins. When no implementation answers, the bucket must carry no
    policy at all (a private bucket): ``initialize_buckets`` deletes any policy it
    finds there. Built-ins: ``MINIO_POLICY_HOOKS`` entries (tryfirst) and a
    public-read policy for public buckets (trylast).
    """


@hookspec(firstresult=True)
def upload_to_prefix(instance: Any, filename: str, storage: MinioBackend | None) -> str | None:
    """Return the prefix (a "folder", without slashes at either end) for a new upload.

    ``instance`` is the model instance being saved (None when the storage applies
    prefixes by itself, see the ``upload_prefix`` option), ``filename`` the name
    proposed so far. Return None to have no opinion; the first non-None answer wins.
    An empty string means "no prefix". Built-in: the ISO date (``YYYY-MM-DD``, UTC),
    trylast, so an installed name strategy takes precedence.
    """


@hookspec(firstresult=True)
def content_type_guess(name: str, content: File[Any], storage: MinioBackend) -> str | None:
    """Return the MIME type to store ``content`` under ``name`` with, or None.

    ``storage`` is the MinioBackend doing the upload (its ``config`` holds the
    resolved settings); an implementation written before it was passed, taking
    only ``name`` and ``content``, keeps working. An implementation that reads
    from ``content`` must leave its position where it found it. The first non-None
    answer wins. Built-ins: the upload's own ``content_type`` attribute, then
    :mod:`mimetypes` on the name (both trylast). When nobody answers the storage
    uses ``application/octet-stream``.
    """


@hookspec
def object_parameters(name: str, content: File[Any], storage: MinioBackend) -> dict[str, str] | None:
    """Return extra HTTP headers for the upload of ``name``, or None.

    For example ``{"Content-Disposition": "attachment"}`` for ``*.pdf``,
    ``{"Cache-Control": "max-age=31536000"}`` or ``{"x-amz-meta-owner": "42"}``.
    Every implementation is asked; when two set the same header, the one called
    first (tryfirst, then newest) wins. These headers override the storage's
    ``cache_control`` / ``content_disposition`` / ``content_encoding`` /
    ``metadata`` options; a Content-Type given here skips ``content_type_guess``.
    """


@hookspec
def on_bucket_created(bucket_name: str, public: bool, storage: MinioBackend) -> None:
    """Called on every plugin right after the backend created ``bucket_name``.

    Runs from ``initialize_buckets``, the on-start consistency check and
    ``MINIO_BUCKET_CHECK_ON_SAVE``, before the bucket's policy is applied. The
    return value is ignored; an exception fails the operation that created the
    bucket, naming the plugin.
    """


@hookspec(firstresult=True)
def direct_upload_rules(
    request: HttpRequest,
    model: type[models.Model],
    field: models.FileField,
    filename: str,
    size: int,
    content_type: str,
    storage: MinioBackend,
) -> UploadRules | None:
    """Decide whether ``request`` may upload ``filename`` straight to ``field``'s bucket, and how.

    Asked by the ticket view before anything is signed. ``size`` and
    ``content_type`` are what the browser declares (the bucket later refuses a
    larger body, and finalize checks both). Return an
    :class:`~django_minio_backend.direct.UploadRules`: ``UploadRules.refuse(reason)``
    to say no, or the limits (``max_size``, ``content_types`` patterns such as
    ``"image/*"``, ``key_prefix`` put before the field's own name). Return None
    to have no opinion; the first non-None answer wins, and with no answer at all
    the upload is refused. Built-in (trylast): authenticated users with the
    model's add or change permission may upload up to
    ``MINIO_DIRECT_UPLOAD_MAX_SIZE`` bytes of any type.
    """


@hookspec
def direct_upload_finalized(
    request: HttpRequest,
    model: type[models.Model],
    field: models.FileField,
    name: str,
    size: int,
    content_type: str,
    storage: MinioBackend,
) -> None:
    """Called on every plugin once a direct upload was verified and moved to its final ``name``.

    For post-processing: virus scanning, thumbnails, bookkeeping. Raise
    :class:`~django_minio_backend.direct.UploadRejected` (with a message for the
    user) to reject the file: it is deleted and the browser gets the message.
    Any other exception deletes the file too and fails the request (500). The
    return value is ignored.
    """
