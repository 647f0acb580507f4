"""The storage backends: ``MinioBackend`` (media) and ``MinioBackendStatic``."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import pathlib
import threading
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any
from urllib.parse import urlencode
from xml.etree.ElementTree import Element, SubElement, tostring

import urllib3
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import File
from django.core.files.storage import Storage
from django.core.signals import setting_changed
from django.utils.deconstruct import deconstructible
from minio import Minio
from minio.error import S3Error, ServerError
from minio.sse import SseCustomerKey

from . import manager
from .client import UrlSigner, client_for, connection_hint, status_http_client
from .conf import MAX_URL_EXPIRY, SECRET_OPTIONS, StorageConfig, normalize_options, resolve
from .exceptions import StorageError
from .files import MinioFile, ObjectReader
from .names import clean_name, join_prefix
from .status import MinioServerStatus

DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_NAME_ATTEMPTS = 20
URL_CACHE_MARGIN = 60  # seconds a cached URL must still be valid when served
WRITE_TOKEN_HEADER = "x-amz-meta-dmb-write-token"
# Parts uploaded at once; a save then holds at most its head and this many part buffers.
UPLOAD_WORKERS = 2
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "ResourceNotFound"})
CREDENTIAL_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"})
CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


class _NameTaken(Exception):
    """The server refused a create-only write: the name is taken."""


_COMPLETE_LOCKS = tuple(threading.Lock() for _ in range(64))


def _complete_lock(*key: str) -> threading.Lock:
    return _COMPLETE_LOCKS[hash(key) % len(_COMPLETE_LOCKS)]


def _was_retried(exc: Exception) -> bool:
    """Whether urllib3 sent the request more than once before this answer."""
    retries = getattr(getattr(exc, "response", None), "retries", None)
    return bool(retries is not None and retries.history)


def _is_conflict(exc: Exception) -> bool:
    if isinstance(exc, S3Error):
        return exc.code in CONFLICT_CODES
    return isinstance(exc, ServerError) and exc.status_code in (409, 412)


class _Body:
    """The content of one save, read into bounded buffers and handed out as memoryviews.

    The first ``threshold + 1`` bytes decide between one PUT and a multipart upload
    (sizes are never trusted); parts after the head reuse one part-sized buffer,
    so a save holds at most the head and one part, whatever the file's size.
    ``str`` chunks (text files) are sent UTF-8 encoded.
    """

    def __init__(self, content: Any, threshold: int) -> None:
        self._content = content
        self._threshold = threshold
        self._pending = b""
        self.rewindable = self._rewind()
        self._read_head()

    def _rewind(self) -> bool:
        try:
            self._content.seek(0)
        except (AttributeError, OSError, ValueError):
            return False
        self._pending = b""
        return True

    def _read_head(self) -> None:
        # Grown chunk by chunk: a 4 KiB upload must not pay for a threshold-sized buffer.
        self._head = bytearray()
        limit = self._threshold + 1
        while len(self._head) < limit:
            chunk = self._read(min(limit - len(self._head), 1024 * 1024))
            if not chunk:
                break
            self._head += chunk
        self.head_size = len(self._head)
        self.multipart = self.head_size > self._threshold

    def restart(self) -> bool:
        """Read the content again from its start (after a lost race); False if it cannot be."""
        if not (self.rewindable and self._rewind()):
            return False
        self._read_head()
        return True

    def _read(self, n: int) -> bytes:
        if self._pending:
            chunk, self._pending = self._pending[:n], self._pending[n:]
            return chunk
        chunk = self._content.read(n)
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
            chunk, self._pending = chunk[:n], chunk[n:]
        return chunk

    def _fill(self, view: memoryview) -> int:
        """Fill ``view`` in chunks of at most 1 MiB; short only at the end of the content."""
        filled = 0
        while filled < len(view):
            chunk = self._read(min(len(view) - filled, 1024 * 1024))
            if not chunk:
                break
            view[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
        return filled

    def single(self) -> memoryview:
        return memoryview(self._head)[: self.head_size]

    def parts(self, size: int, buffers: int = 1) -> Iterator[memoryview]:
        """Parts of ``size`` bytes (the last may be shorter), read into a ring of ``buffers``.

        A part's view stays valid until ``buffers`` more parts have been taken: a
        caller that takes the next part only when at most ``buffers - 1`` parts are
        still in use never sees a buffer overwritten under it.
        """
        head = memoryview(self._head)[: self.head_size]
        while len(head) >= size:
            yield head[:size]
            head = head[size:]
        ring: list[memoryview] = []  # allocated on first use: by then the head's parts may be sent
        carried = bytes(head)
        del head
        self._head = bytearray()  # views already handed out keep the old buffer alive until sent
        for turn in itertools.count():
            if len(ring) < max(1, buffers):
                ring.append(memoryview(bytearray(size)))
            view = ring[turn % len(ring)]
            view[: len(carried)] = carried
            filled = len(carried) + self._fill(view[len(carried) :])
            carried = b""
            if filled:
                yield view[:filled]
            if filled < size:
                return


def _with_condition(headers: dict[str, str], conditional: bool) -> dict[str, str]:
    return {**headers, "If-None-Match": "*"} if conditional else dict(headers)


def _size_of(content: Any, fallback: int) -> int:
    try:
        return int(content.size)
    except (AttributeError, OSError, TypeError, ValueError):
        return fallback


def _response_params(headers: Mapping[str, str] | None) -> dict[str, str]:
    """``{"content-disposition": ...}`` -> ``{"response-content-disposition": ...}``."""
    params = {}
    for key, value in (headers or {}).items():
        key = key.lower()
        params[key if key.startswith("response-") else f"response-{key}"] = value
    return params


def _url_cache_key(config: StorageConfig, key: str, expiry: timedelta, overrides: dict[str, str]) -> str:
    raw = "\0".join([config.endpoint, config.bucket_name, key, str(expiry), repr(sorted(overrides.items()))])
    return config.url_cache_prefix + hashlib.sha256(raw.encode()).hexdigest()


@deconstructible(path="django_minio_backend.models.MinioBackend")
class MinioBackend(Storage):
    """Django storage keeping files in one bucket of a MinIO / S3 server.

    ``bucket_name`` defaults to ``MINIO_MEDIA_FILES_BUCKET``; every other keyword
    argument is a storage option (see :mod:`django_minio_backend.conf`). Nothing
    here touches the network until a file operation needs it.
    """

    is_static = False

    def __init__(self, bucket_name: str | None = None, **options: Any) -> None:
        self._options = normalize_options(options)
        if bucket_name:
            self._options["bucket_name"] = bucket_name
        if self.is_static:
            self._options.setdefault("replace_existing", True)
        # What @deconstructible writes into migrations: what the user passed, minus secrets.
        args, kwargs = self._constructor_args  # type: ignore[has-type]
        self._constructor_args = (
            args,
            {k: v for k, v in kwargs.items() if k.lower().removeprefix("minio_") not in SECRET_OPTIONS},
        )
        setting_changed.connect(self._on_setting_changed)

    # -- configuration -------------------------------------------------------------

    def _on_setting_changed(self, *, setting: str, **kwargs: Any) -> None:
        from .conf import is_setting_of_ours

        if is_setting_of_ours(setting):
            for attr in ("config", "client", "signer", "_location", "is_public"):
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
    def _location(self) -> str:
        location = (self.config.location or "").strip("/")
        return f"{clean_name(location)}/" if location else ""

    def _key(self, name: str) -> str:
        """The object key of ``name``: validated, under the ``location`` prefix."""
        return self._location + clean_name(name)

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

    @contextlib.contextmanager
    def _errors(self, action: str, name: str = "") -> Iterator[None]:
        where = f"{self.config.endpoint}/{self.bucket}" + (f"/{name}" if name else "")
        try:
            yield
        except S3Error as exc:
            if exc.code in NOT_FOUND_CODES:
                raise FileNotFoundError(f"{action}: {where} does not exist ({exc.code})") from exc
            if exc.code in CREDENTIAL_CODES:
                raise PermissionError(
                    f"{action}: the server at {self.config.endpoint} refused the credentials "
                    f"or the access ({exc.code}) for {where}"
                ) from exc
            raise StorageError(f"{action}: {where}: {exc.code}: {exc.message}") from exc
        except (urllib3.exceptions.HTTPError, ServerError, OSError) as exc:
            if isinstance(exc, (FileNotFoundError, PermissionError, StorageError)):
                raise
            raise StorageError(f"{action}: cannot reach S3 at {where} ({exc}){connection_hint(exc)}") from exc

    # -- names ---------------------------------------------------------------------

    def _candidates(self, name: str, max_length: int | None) -> Iterator[str]:
        """``name``, then Django-style alternatives, each within ``max_length``."""
        if not max_length or len(name) <= max_length:
            yield name
        dir_name, file_name = os.path.split(name)
        file_ext = "".join(pathlib.PurePath(file_name).suffixes)
        file_root = file_name.removesuffix(file_ext)
        for _ in range(MAX_NAME_ATTEMPTS):
            candidate = os.path.join(dir_name, self.get_alternative_name(file_root, file_ext))
            if max_length and len(candidate) > max_length:
                file_root = file_root[: len(file_root) - (len(candidate) - max_length)]
                if not file_root:
                    raise SuspiciousFileOperation(
                        f'Storage can not find an available filename for "{name}". '
                        "Please make sure that the corresponding file field "
                        'allows sufficient "max_length".'
                    )
                candidate = os.path.join(dir_name, self.get_alternative_name(file_root, file_ext))
            yield candidate

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        name = clean_name(name)
        if self.config.replace_existing:
            if max_length and len(name) > max_length:
                raise SuspiciousFileOperation(f"{name!r} is longer than max_length={max_length}")
            return name
        for candidate in self._candidates(name, max_length):
            if not self.exists(candidate):
                return candidate
        raise FileExistsError(f"no free name found for {name!r} after {MAX_NAME_ATTEMPTS} attempts")

    # -- saving --------------------------------------------------------------------

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        """Store ``content`` under ``name`` or, if taken, a new name; return the name used.

        With conditional writes (the default) an existing object is never
        replaced, even by concurrent saves: the server refuses the write and
        the next candidate name is tried.
        """
        if name is None:
            name = content.name
        if not hasattr(content, "chunks"):
            content = File(content, name)
        name = clean_name(name)
        if self.config.upload_prefix:
            prefix = manager.upload_to_prefix(instance=None, filename=name, storage=self)
            name = join_prefix(prefix, name)
        return self._store(name, content, max_length)

    def _save(self, name: str, content: Any) -> str:
        return self._store(clean_name(name), content, None)

    def get_object_parameters(self, name: str, content: Any) -> dict[str, str]:
        """The HTTP headers every upload of ``name`` carries.

        From the storage options (``cache_control``, ``content_disposition``,
        ``content_encoding``, ``metadata``, ``tags``, ``sse``), then the
        ``object_parameters`` hook (which wins), then the ``content_type_guess``
        hook for Content-Type. Override in a subclass for per-object rules.
        """
        config = self.config
        headers: dict[str, str] = {}
        for option, header in (
            ("cache_control", "Cache-Control"),
            ("content_disposition", "Content-Disposition"),
            ("content_encoding", "Content-Encoding"),
        ):
            if getattr(config, option):
                headers[header] = getattr(config, option)
        for key, value in (config.metadata or {}).items():
            headers[f"x-amz-meta-{key}"] = str(value)
        if config.tags:
            headers["x-amz-tagging"] = urlencode(dict(config.tags))
        headers.update(manager.object_parameters(name=name, content=content, storage=self))
        if not any(k.lower() == "content-type" for k in headers):
            guessed = manager.content_type_guess(name=name, content=content)
            headers["Content-Type"] = guessed or DEFAULT_CONTENT_TYPE
        if config.sse is not None:
            headers.update(config.sse.headers())
        return headers

    def _store(self, name: str, content: Any, max_length: int | None) -> str:
        config = self.config
        headers = self.get_object_parameters(name, content)
        if config.conditional_writes and not config.replace_existing:
            # Tells a retried create-only PUT whose first answer was lost from a rival's object.
            headers[WRITE_TOKEN_HEADER] = uuid.uuid4().hex
        if config.bucket_check_on_save:
            from .buckets import ensure_bucket_once

            ensure_bucket_once(self)
        if config.replace_existing:
            names: Iterator[str] = iter([self.get_available_name(name, max_length)])
            conditional = False
        else:
            names = self._candidates(name, max_length)
            conditional = config.conditional_writes
        body = _Body(content, config.multipart_threshold)
        for candidate in names:
            # Without conditional writes, a HEAD finds taken names (racy, for old
            # servers); with them, a HEAD still spares a large body a lost PUT.
            precheck = body.multipart if conditional else not config.replace_existing
            if precheck and self.exists(candidate):
                continue
            key = self._key(candidate)
            if config.progress is not None:
                config.progress.set_meta(object_name=key, total_length=_size_of(content, body.head_size))
            try:
                with self._errors("save", candidate):
                    try:
                        if body.multipart:
                            self._put_multipart(key, body, headers, conditional)
                        else:
                            self._put_single(key, body.single(), headers, conditional)
                    except _NameTaken:
                        raise
                    except (S3Error, ServerError) as exc:
                        if not (conditional and _is_conflict(exc)):
                            raise
                        if _was_retried(exc) and self._written_by(key, headers):
                            return candidate  # our own first attempt landed; its answer was lost
                        raise _NameTaken from exc
                return candidate
            except _NameTaken:
                # A multipart body was consumed by the lost race; send it once more.
                if body.multipart and not body.restart():
                    raise FileExistsError(
                        f"{candidate!r} was taken during the upload and the content cannot be re-read"
                    ) from None
        raise FileExistsError(f"no free name found for {name!r} after {MAX_NAME_ATTEMPTS} attempts")

    def _written_by(self, key: str, headers: dict[str, str]) -> bool:
        """Whether the object at ``key`` carries this save's write token."""
        token = headers.get(WRITE_TOKEN_HEADER)
        try:
            stat = self.client.stat_object(self.bucket, key, ssec=self._ssec())
        except S3Error:
            return False
        return token is not None and stat.metadata.get(WRITE_TOKEN_HEADER) == token

    def _sent(self, size: int) -> None:
        if self.config.progress is not None:
            self.config.progress.update(size)

    def _put_single(self, key: str, data: memoryview, headers: dict[str, str], conditional: bool) -> None:
        # minio's put_object would turn If-None-Match into user metadata.
        self.client._put_object(self.bucket, key, data, _with_condition(headers, conditional))  # type: ignore[arg-type]
        self._sent(len(data))

    def _put_multipart(self, key: str, body: _Body, headers: dict[str, str], conditional: bool) -> None:
        """Upload ``body`` in parts, ``UPLOAD_WORKERS`` at a time; abort the upload on any failure."""
        client, bucket = self.client, self.bucket
        ssec = self._ssec_headers()
        upload_id = client._create_multipart_upload(bucket, key, dict(headers))

        def upload(number: int, part: memoryview) -> tuple[str, int]:
            etag = client._upload_part(bucket, key, part, dict(ssec), upload_id, number)  # type: ignore[arg-type]
            return etag, len(part)

        etags: list[str] = []
        in_flight: deque[Future[tuple[str, int]]] = deque()

        def finish_oldest() -> None:
            etag, size = in_flight.popleft().result()
            etags.append(etag)
            self._sent(size)

        try:
            with ThreadPoolExecutor(UPLOAD_WORKERS, thread_name_prefix="dmb-part") as pool:
                try:
                    parts = body.parts(self.config.multipart_part_size, buffers=UPLOAD_WORKERS)
                    for number in itertools.count(1):
                        # Oldest first, before the next read: the ring buffer it reuses is then free.
                        while len(in_flight) >= UPLOAD_WORKERS:
                            finish_oldest()
                        part = next(parts, None)
                        if part is None:
                            break
                        in_flight.append(pool.submit(upload, number, part))
                    while in_flight:
                        finish_oldest()
                finally:
                    for future in in_flight:
                        future.cancel()
            root = Element("CompleteMultipartUpload")
            for number, etag in enumerate(etags, start=1):
                part_element = SubElement(root, "Part")
                SubElement(part_element, "PartNumber").text = str(number)
                SubElement(part_element, "ETag").text = f'"{etag}"'
            # Some servers (SeaweedFS 4.48) check If-None-Match on CompleteMultipartUpload
            # without atomicity: serialise this process's completes of one name, then
            # verify below that the object which landed is ours.
            lock = (
                _complete_lock(self.config.endpoint, bucket, key) if conditional else contextlib.nullcontext()
            )
            with lock:
                client._execute(
                    "POST",
                    bucket,
                    key,
                    body=tostring(root),
                    headers=_with_condition({"Content-Type": "application/xml", **ssec}, conditional),
                    query_params={"uploadId": upload_id},
                )
        except BaseException:
            with contextlib.suppress(Exception):
                client._abort_multipart_upload(bucket, key, upload_id)
            raise
        if conditional and not self._written_by(key, headers):
            raise _NameTaken  # a rival's complete replaced ours: save again under a new name

    def _ssec(self) -> SseCustomerKey | None:
        sse = self.config.sse
        return sse if isinstance(sse, SseCustomerKey) else None

    def _ssec_headers(self) -> dict[str, str]:
        ssec = self._ssec()
        return dict(ssec.headers()) if ssec else {}

    # -- reading -------------------------------------------------------------------

    def _open(self, name: str, mode: str = "rb") -> MinioFile:
        if any(flag in mode for flag in "wax+"):
            raise ValueError(f"MinioBackend files are read-only; mode {mode!r} is not supported")
        key = self._key(name)

        def open_at(offset: int) -> Any:
            with self._errors("open", name):
                return self.client.get_object(self.bucket, key, offset=offset, ssec=self._ssec())

        response = open_at(0)
        size = int(response.headers.get("Content-Length", 0))
        reader = ObjectReader(open_at, size, response, errors=lambda: self._errors("read", name))
        return MinioFile(reader, name, mode, size)

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
        prefix = self._location + (f"{path}/" if path else "")
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
        name: str,
        expire: timedelta | None = None,
        response_headers: Mapping[str, str] | None = None,
    ) -> str:
        """The URL of ``name``: plain for public buckets, presigned for private ones.

        ``expire`` sets a private URL's lifetime (capped at 7 days) and
        ``response_headers`` overrides response headers, e.g.
        ``{"content-disposition": 'attachment; filename="report.pdf"'}``; either
        makes even a public object's URL presigned. Signed locally: no network.
        """
        if ".." in name:
            clean_name(name)  # raises for '..' components
        key = self._location + name.lstrip("/")
        if self.is_public and expire is None and not response_headers:
            return self.signer.public_url(key)
        config = self.config
        expiry = min(expire or config.url_expiry_hours, MAX_URL_EXPIRY)
        overrides = _response_params(response_headers)
        if not config.url_caching_enabled:
            return self._presign(key, expiry, overrides)[0]
        from django.core.cache import cache

        cache_key = _url_cache_key(config, key, expiry, overrides)
        url = cache.get(cache_key)
        if url is None:
            url, valid_until = self._presign(key, expiry, overrides)
            remaining = (valid_until - datetime.now(timezone.utc)).total_seconds() - URL_CACHE_MARGIN
            timeout = config.url_cache_timeout or 0.8 * expiry.total_seconds()
            if remaining > 0:
                cache.set(cache_key, url, timeout=int(min(timeout, remaining)))
        return url

    def _presign(self, key: str, expiry: timedelta, overrides: dict[str, str]) -> tuple[str, datetime]:
        """A presigned URL and the moment it stops being valid."""
        now = datetime.now(timezone.utc)
        window = self.config.url_signing_window
        if window:
            # One URL per window: sign at the window's start, extend to keep the promised lifetime.
            now = now - timedelta(seconds=now.timestamp() % window.total_seconds())
            expiry = min(expiry + window, MAX_URL_EXPIRY)
        return self.signer.presigned_url(key, expiry, now=now, response_headers=overrides), now + expiry

    # -- health --------------------------------------------------------------------

    def is_minio_available(self) -> MinioServerStatus:
        """Whether the server answers and accepts the credentials, within seconds."""
        config = self.config
        client = client_for(config, config.http_client or status_http_client(config.ca_bundle))
        try:
            found = client.bucket_exists(self.bucket)
        except S3Error as exc:
            return MinioServerStatus(
                False, f"{config.endpoint} refused the request ({exc.code}): check the access and secret key"
            )
        except (urllib3.exceptions.HTTPError, ServerError, OSError) as exc:
            return MinioServerStatus(
                False, f"cannot reach S3 at {config.endpoint}: {exc}{connection_hint(exc)}"
            )
        if found:
            return MinioServerStatus(True, f"{config.endpoint} is available; bucket {self.bucket!r} exists")
        return MinioServerStatus(
            True,
            f"{config.endpoint} is available; bucket {self.bucket!r} does not exist yet "
            "(run manage.py initialize_buckets)",
        )


@deconstructible(path="django_minio_backend.models.MinioBackendStatic")
class MinioBackendStatic(MinioBackend):
    """Storage for ``collectstatic``: ``MINIO_STATIC_FILES_BUCKET``, files replaced in place."""

    is_static = True
