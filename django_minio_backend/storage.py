"""The storage backends: ``MinioBackend`` (media) and ``MinioBackendStatic``."""

from __future__ import annotations

import contextlib
import os
import pathlib
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import File
from django.core.files.storage import Storage
from django.core.files.utils import validate_file_name
from django.core.signals import setting_changed
from django.utils.deconstruct import deconstructible
from django.utils.functional import cached_property
from minio import Minio
from minio.error import S3Error
from minio.sse import SseCustomerKey

from . import capabilities, links, manager, upload
from .buckets import ensure_bucket_once
from .client import UrlSigner, client_for
from .compat import UpstreamCompatMixin
from .conf import (
    MAX_URL_EXPIRY,
    SECRET_OPTIONS,
    Secret,
    StorageConfig,
    is_setting_of_ours,
    normalize_options,
    resolve,
)
from .exceptions import NOT_FOUND_CODES, ObjectChangedError, StorageError, frameless, s3_errors
from .files import MinioFile, ObjectReader
from .header_encoding import encode_headers
from .headers import merge_headers, option_headers
from .names import clean_name, join_prefix
from .status import MinioServerStatus, server_status

DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_NAME_ATTEMPTS = 20
# Per thread, the last (storage id, name, max_length) get_available_name answered: _save
# keeps max_length for alternatives. Module-level, so no thread creates its own by racing.
_LAST_AVAILABLE = threading.local()


def _size_of(content: Any, fallback: int) -> int:
    try:
        return int(content.size)
    except (AttributeError, OSError, TypeError, ValueError):
        return fallback


def _validate_file_name(name: str) -> None:
    """Django's ``validate_file_name(name, allow_relative_path=True)``, without its pathlib per call.

    A name that ``clean_name`` accepts has no ``..`` component and is not absolute, so of
    Django's checks only the base name's can still refuse it; Django is asked whenever it
    may refuse, so its error is the one raised.
    """
    try:
        clean_name(name)
    except (ValueError, SuspiciousFileOperation):
        validate_file_name(name, allow_relative_path=True)
        raise
    if os.path.basename(name) in ("", ".", ".."):
        validate_file_name(name, allow_relative_path=True)


def _etag(value: str | None) -> str:
    return (value or "").removeprefix("W/").strip('"')


@deconstructible(path="django_minio_backend.models.MinioBackend")
class MinioBackend(UpstreamCompatMixin, Storage):
    """Django storage keeping files in one bucket of a MinIO / S3 server.

    ``bucket_name`` defaults to ``MINIO_MEDIA_FILES_BUCKET``; every other keyword
    argument is a storage option (see :mod:`django_minio_backend.conf`). Nothing
    here touches the network until a file operation needs it.
    """

    is_static = False
    _constructor_args: tuple[tuple[Any, ...], dict[str, Any]]  # set by @deconstructible before __init__

    def __init__(self, bucket_name: str | None = None, **options: Any) -> None:
        self._options = normalize_options(options)
        if isinstance(self._options.get("secret_key"), str):
            self._options["secret_key"] = Secret(self._options["secret_key"])  # hidden in error reports
        if bucket_name:
            self._options["bucket_name"] = bucket_name
        if self.is_static:
            self._options.setdefault("replace_existing", True)
        # What @deconstructible writes into migrations: what the user passed, minus secrets.
        args, kwargs = self._constructor_args
        self._constructor_args = (
            args,
            {k: v for k, v in kwargs.items() if k.lower().removeprefix("minio_") not in SECRET_OPTIONS},
        )
        setting_changed.connect(self._on_setting_changed)

    # -- configuration -------------------------------------------------------------

    def _on_setting_changed(self, *, setting: str, **kwargs: Any) -> None:
        if is_setting_of_ours(setting):
            for attr in (
                "config",
                "client",
                "signer",
                "location_prefix",
                "is_public",
                "destination",
                "_option_headers",
                "_sse_headers",
            ):
                self.__dict__.pop(attr, None)
            for attr in ("_option_headers", "_sse_headers"):
                self.__dict__.pop(attr, None)

    @cached_property
    def config(self) -> StorageConfig:
        return resolve(self._options, static=self.is_static)

    @cached_property
    def client(self) -> Minio:
        return client_for(self.config)

    @cached_property
    def signer(self) -> UrlSigner:
        return UrlSigner.for_config(self.config)

    @cached_property
    def location_prefix(self) -> str:
        """The key prefix of the ``location`` option: ``""`` or ``"some/place/"``."""
        location = (self.config.location or "").strip("/")
        return f"{clean_name(location)}/" if location else ""

    def _key(self, name: str) -> str:
        """The object key of ``name``: validated, under the ``location`` prefix."""
        return self.location_prefix + clean_name(name)

    def with_bucket(self, bucket_name: str) -> MinioBackend:
        """A storage with this one's options on ``bucket_name`` (this one if it is that bucket)."""
        if bucket_name == self.bucket:
            return self
        return type(self)(
            bucket_name=bucket_name, **{k: v for k, v in self._options.items() if k != "bucket_name"}
        )

    @property
    def bucket(self) -> str:
        return self.config.bucket_name

    @cached_property
    def is_public(self) -> bool:
        """Whether the bucket is in the public list (cached: url() asks on every call)."""
        return self.config.is_public

    def __repr__(self) -> str:
        shown = {k: v for k, v in self._options.items() if k not in SECRET_OPTIONS}
        return f"<{type(self).__name__} {shown!r}>"

    # -- errors --------------------------------------------------------------------

    def _errors(self, action: str, name: str = "") -> contextlib.AbstractContextManager[None]:
        return s3_errors(self.config.endpoint, self.bucket, action, name)

    # -- names ---------------------------------------------------------------------

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        """``name`` validated (with the name-strategy prefix, if enabled), within ``max_length``.

        No request is made: whether the name is free is decided by the write
        itself, which never replaces an object (see :mod:`django_minio_backend.upload`).
        """
        name = clean_name(name)
        if self.config.upload_prefix and not self.is_static:
            name = clean_name(
                join_prefix(manager.upload_to_prefix(instance=None, filename=name, storage=self), name)
            )
        if max_length and len(name) > max_length:
            if self.config.replace_existing:
                raise SuspiciousFileOperation(f"{name!r} is longer than max_length={max_length}")
            name = self._alternative_name(name, max_length)
        _LAST_AVAILABLE.name = (id(self), name, max_length)
        return name

    def _alternative_name(self, name: str, max_length: int | None) -> str:
        """A Django-style alternative to ``name`` (``get_alternative_name``), within ``max_length``."""
        dir_name, file_name = os.path.split(name)
        file_ext = "".join(pathlib.PurePath(file_name).suffixes)
        file_root = file_name.removesuffix(file_ext)
        candidate = os.path.join(dir_name, self.get_alternative_name(file_root, file_ext))
        while max_length and len(candidate) > max_length:
            file_root = file_root[: len(file_root) - (len(candidate) - max_length)]
            if not file_root:
                raise SuspiciousFileOperation(
                    f'Storage can not find an available filename for "{name}". '
                    "Please make sure that the corresponding file field "
                    'allows sufficient "max_length".'
                )
            candidate = os.path.join(dir_name, self.get_alternative_name(file_root, file_ext))
        return candidate

    # -- saving --------------------------------------------------------------------

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        """Django's ``Storage.save``, with the name validated first for errors that say what is wrong.

        Names go through :func:`~django_minio_backend.names.clean_name` (the one
        validation that ``open``, ``exists``, ``url`` and ``delete`` use too), then
        Django's own checks, ``get_available_name`` and ``_save``.
        """
        if name is None:
            name = content.name
        clean_name(name)
        if not hasattr(content, "chunks"):
            content = File(content, name)
        # Django's Storage.save, step by step, with its name checks asked only where they could refuse.
        _validate_file_name(name)
        name = self.get_available_name(name, max_length=max_length)
        _validate_file_name(name)
        name = self._save(name, content)
        _validate_file_name(name)
        return name

    def _save(self, name: str, content: Any) -> str:
        """Write ``content`` under ``name`` or, if that is taken, an alternative; return the name.

        Like ``FileSystemStorage._save`` with ``O_EXCL``: a create-only write that
        finds the name taken (now or by a concurrent save, in any process) tries
        the next alternative name. ``replace_existing`` storages overwrite.
        """
        config = self.config
        last = getattr(_LAST_AVAILABLE, "name", None)
        max_length = last[2] if last and last[:2] == (id(self), name) else None
        # Encoded here, not only in get_object_parameters: a subclass may override that.
        headers = encode_headers(self.get_object_parameters(name, content))
        if config.bucket_check_on_save:
            ensure_bucket_once(self)
        create_only = not config.replace_existing
        with self._errors("save (asking the server whether it honours If-None-Match)", name):
            conditional = create_only and self._honours_conditional_writes()
        body = upload.Body(content, config.multipart_threshold)
        for _ in range(MAX_NAME_ATTEMPTS):
            key = self._key(name)
            if config.progress is not None:
                config.progress.set_meta(object_name=key, total_length=_size_of(content, body.head_size))
            try:
                with self._errors("save", name):
                    upload.write(
                        self.destination, key, body, headers, create_only=create_only, conditional=conditional
                    )
                return name
            except upload.NameTaken:
                if body.consumed and not body.restart():
                    raise FileExistsError(
                        f"{name!r} was taken during the upload and the content cannot be re-read"
                    ) from None
                name = self._alternative_name(name, max_length)
        raise FileExistsError(f"no free name found for {name!r} after {MAX_NAME_ATTEMPTS} attempts")

    def _honours_conditional_writes(self) -> bool:
        setting = self.config.conditional_writes
        if setting == "auto":
            return capabilities.conditional_put(self.destination)
        return bool(setting)

    @cached_property
    def destination(self) -> upload.Destination:
        """Where this storage's writes go (see :mod:`django_minio_backend.upload`)."""
        config = self.config
        return upload.Destination(
            client=self.client,
            endpoint=config.endpoint,
            bucket=config.bucket_name,
            part_size=config.multipart_part_size,
            ssec=self._ssec(),
            progress=config.progress,
            prefix=self.location_prefix,
            use_https=config.use_https,
        )

    def get_object_parameters(self, name: str, content: Any = None) -> dict[str, str]:
        """The HTTP headers every upload of ``name`` carries.

        From the storage options (``cache_control``, ``content_disposition``,
        ``content_encoding``, ``metadata``, ``tags``, ``sse``), then the
        ``object_parameters`` hook (which wins), then the ``content_type_guess``
        hook for Content-Type. Override in a subclass for per-object rules.
        """
        with manager.remembering_guesses():
            headers = merge_headers(
                self._option_headers, manager.object_parameters(name=name, content=content, storage=self)
            )
            if not any(k.lower() == "content-type" for k in headers):
                guessed = manager.content_type_guess(name=name, content=content, storage=self)
                headers["Content-Type"] = guessed or DEFAULT_CONTENT_TYPE
        return merge_headers(headers, self._sse_headers)

    @cached_property
    def _option_headers(self) -> dict[str, str]:
        """The headers the storage options give every upload: built once, not per save."""
        config = self.config
        headers: dict[str, str] = {}
        for option, header in (
            ("cache_control", "Cache-Control"),
            ("content_disposition", "Content-Disposition"),
            ("content_encoding", "Content-Encoding"),
        ):
            if getattr(config, option):
                headers[header] = getattr(config, option)
        tags = {"x-amz-tagging": urlencode(dict(config.tags))} if config.tags else {}
        return merge_headers(headers, option_headers(config), tags)

    @cached_property
    def _sse_headers(self) -> dict[str, str]:
        return upload.sse_headers(self.config.sse)

    def _ssec(self) -> SseCustomerKey | None:
        sse = self.config.sse
        return sse if isinstance(sse, SseCustomerKey) else None

    # -- reading -------------------------------------------------------------------

    def _open(self, name: str, mode: str = "rb") -> MinioFile:
        if any(flag in mode for flag in "wax+"):
            raise ValueError(f"MinioBackend files are read-only; mode {mode!r} is not supported")
        key = self._key(name)
        with self._errors("open", name):
            response = self.client.get_object(self.bucket, key, ssec=self._ssec())
        # Later (ranged) GETs read this very object: by version when the bucket keeps
        # versions, else only while its ETag is unchanged. A replaced object fails the
        # read instead of handing out the old head with the new tail.
        version_id = response.headers.get("x-amz-version-id") or None
        if version_id == "null":
            version_id = None
        etag = response.headers.get("ETag")
        pin: dict[str, str | list[str] | tuple[str]] | None = (
            {"If-Match": etag} if etag and not version_id else None
        )

        def changed(offset: int) -> ObjectChangedError:
            return ObjectChangedError(
                f"open: {self.config.endpoint}/{self.bucket}/{name} changed while it was open "
                f"(read up to byte {offset}); open it again"
            )

        def open_at(offset: int) -> Any:
            if not etag and not version_id:
                raise StorageError(
                    f"open: {self.config.endpoint}/{self.bucket}/{name}: the server's answer had no ETag, "
                    "so a second request could read another version of the object; read it in one go "
                    "(no seek), or let the proxy pass the ETag header"
                )
            with self._errors("open", name):
                try:
                    answer = self.client.get_object(
                        self.bucket,
                        key,
                        offset=offset,
                        ssec=self._ssec(),
                        version_id=version_id,
                        request_headers=pin,
                    )
                except S3Error as exc:
                    if exc.code in ("PreconditionFailed", "NoSuchVersion") or (
                        exc.code in NOT_FOUND_CODES and offset
                    ):
                        raise changed(offset) from frameless(exc)
                    raise
            # A server or proxy that ignores If-Match (or versionId) answers with another object.
            if etag and _etag(answer.headers.get("ETag")) != _etag(etag):
                answer.close()
                answer.release_conn()
                raise changed(offset)
            return answer

        length = response.headers.get("Content-Length")
        if length is not None:
            size = int(length)
        else:
            # A chunked answer (a proxy, say) says nothing of the size: ask for it, same object.
            stat = self._stat(name)
            if etag and stat.etag and stat.etag.strip('"') != etag.strip('"'):
                response.close()
                response.release_conn()
                raise ObjectChangedError(f"open: {name} changed while it was being opened; open it again")
            size = int(stat.size)
        reader = ObjectReader(open_at, size, response, errors=lambda: self._errors("read", name))
        return MinioFile(reader, name, mode, size, reopen=lambda again: self._open(name, again))

    def exists(self, name: str) -> bool:
        try:
            self._stat(name)
        except FileNotFoundError:
            return False
        return True

    def _stat(self, name: str) -> Any:
        key = self._key(name)
        with self._errors("stat", name):
            return self.client.stat_object(self.bucket, key, ssec=self._ssec())

    def size(self, name: str) -> int:
        return int(self._stat(name).size)

    def _datetime(self, value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        if settings.USE_TZ:
            return value.astimezone(timezone.utc)
        from django.utils import timezone as dj_timezone

        return dj_timezone.make_naive(value, dj_timezone.get_default_timezone())

    def get_modified_time(self, name: str) -> datetime:
        return self._datetime(self._stat(name).last_modified)

    def get_created_time(self, name: str) -> datetime:
        """S3 objects are written whole, never modified: created when last modified."""
        return self.get_modified_time(name)

    def delete(self, name: str) -> None:
        if not name:
            raise ValueError("The name must be given to delete().")
        key = self._key(name)
        with self._errors("delete", name):
            self.client.remove_object(self.bucket, key)

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        path = clean_name(path.rstrip("/")) if path.strip("/") else ""
        prefix = self.location_prefix + (f"{path}/" if path else "")
        dirs: list[str] = []
        files: list[str] = []
        with self._errors("listdir", path):
            for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=False):
                entry = obj.object_name[len(prefix) :]
                if obj.is_dir:
                    dirs.append(entry.rstrip("/"))
                else:
                    files.append(entry)
        return dirs, files

    def path(self, name: str) -> str:
        raise NotImplementedError("MinioBackend keeps files in a bucket; they have no local path.")

    # -- URLs ----------------------------------------------------------------------

    def url(
        self,
        name: str | None,
        expire: timedelta | None = None,
        response_headers: Mapping[str, str] | None = None,
    ) -> str:
        """The URL of ``name``: plain for public buckets, presigned for private ones.

        ``name`` is validated as by every other method (``./a.txt`` is ``a.txt``);
        the bucket root and "folders" (``""``, ``"/"``, ``"dir/"``) are refused with
        SuspiciousFileOperation: their signed URL would list the bucket.
        ``expire`` sets a presigned URL's lifetime: at least one second (fractions
        round up), capped at 7 days; the URL stays valid at least that long (with
        ``MINIO_URL_SIGNING_WINDOW``, up to one window longer), except a URL from the
        URL cache whose expiry plus the cache's time is over 7 days: it has what is
        left of 7 days from its signing. ``response_headers``
        overrides response headers, e.g. ``{"content-disposition": 'attachment;
        filename="report.pdf"'}``; either makes even a public object's URL presigned.
        Signed locally: no network.
        """
        if name is None:  # Storage.url() accepts None (an empty FieldFile); refused as _key() refuses it
            raise ValueError("object name must be a string, not NoneType")
        if isinstance(name, str) and name[-1:] in ("", "/", "\\", ".") and links.names_root_or_folder(name):
            raise SuspiciousFileOperation(
                f"url({name!r}) names the bucket or a folder, not an object; its signed URL would list keys"
            )
        key = self._key(name)
        if expire is not None and expire < timedelta(seconds=1):
            raise ValueError(f"url(expire={expire!r}): a presigned URL must live at least one second")
        if self.is_public and expire is None and not response_headers:
            return self.signer.public_url(key)
        expiry = min(self.config.url_expiry_hours if expire is None else expire, MAX_URL_EXPIRY)
        return links.presigned_url(
            self.config, self.signer, key, expiry, links.response_params(response_headers)
        )

    # -- health --------------------------------------------------------------------

    def is_minio_available(self) -> MinioServerStatus:
        """Whether the server answers and accepts the credentials, within seconds; never raises."""
        return server_status(self)


@deconstructible(path="django_minio_backend.models.MinioBackendStatic")
class MinioBackendStatic(MinioBackend):
    """Storage for ``collectstatic``: ``MINIO_STATIC_FILES_BUCKET``, files replaced in place."""

    is_static = True
