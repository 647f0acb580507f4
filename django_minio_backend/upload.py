"""The write path: read a save's content in bounded buffers, send it in one PUT or in parts.

A create-only write never replaces an object, whatever runs beside it:

- **conditional** (the server honours ``If-None-Match: *`` on PUT): a small body is
  one conditional PUT. A large body first *claims* the name with a conditional PUT
  of an empty placeholder, then uploads its parts and completes over its own
  placeholder. Only the conditional PUT has to be atomic on the server; several
  servers (SeaweedFS, Ceph RGW) check ``If-None-Match`` on CompleteMultipartUpload
  without atomicity or not at all. After the complete, the object is verified to
  carry this write's token, which catches writers that do not claim (older
  versions of this package during a rolling deploy).
- **locked** (the server ignores the header): the name is locked in this process
  and, through Django's cache (atomic ``add`` on shared caches such as Redis,
  Memcached or the database cache), across processes; inside the lock a HEAD
  finds taken names.

:class:`NameTaken` tells the storage to try another name; the content is never
consumed by a refused write except after a rival overwrote our completed upload,
when :meth:`Body.restart` reads it again.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from minio import Minio
from minio.error import S3Error, ServerError
from minio.sse import Sse, SseCustomerKey

from . import sdk
from .client import endpoint_addresses
from .conf import Secret
from .forking import renew_after_fork

logger = logging.getLogger("django_minio_backend")

WRITE_TOKEN_HEADER = "x-amz-meta-dmb-write-token"
CLAIM_HEADER = "x-amz-meta-dmb-claim"
# Parts uploaded at once; a save then holds at most its head and this many part buffers.
UPLOAD_WORKERS = 2
CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
GONE_CODES = frozenset({"NoSuchUpload", "NoSuchKey", "NotFound"})
LOCK_TIMEOUT = 300  # seconds a cross-process name lock lives if its holder dies
LOCK_WAIT = 30.0  # seconds a save waits for a name lock before trying another name


class NameTaken(Exception):
    """The name is taken (or was taken during the write): the save must choose another."""


class Progress(Protocol):
    def set_meta(self, object_name: str, total_length: int) -> None: ...

    def update(self, size: int) -> None: ...


class Body:
    """The content of one save, read into bounded buffers and handed out as memoryviews.

    The first ``threshold + 1`` bytes decide between one PUT and a multipart upload
    (sizes are never trusted); parts after the head reuse a ring of part-sized
    buffers, so a save holds at most the head and a few parts, whatever the file's
    size. ``str`` chunks (text files) are sent UTF-8 encoded.
    """

    def __init__(self, content: Any, threshold: int) -> None:
        self._content = content
        self._threshold = threshold
        self._pending = b""
        self.consumed = False  # parts were read past the head: a new attempt must re-read
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
        self.consumed = False
        self._read_head()
        return True

    def _read(self, n: int) -> bytes:
        if self._pending:
            chunk, self._pending = self._pending[:n], self._pending[n:]
            return chunk
        chunk = self._content.read(n)
        if isinstance(chunk, str):
            encoded = chunk.encode("utf-8")
            chunk, self._pending = encoded[:n], encoded[n:]
        return bytes(chunk) if not isinstance(chunk, bytes) else chunk

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
        self.consumed = True
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


@dataclass(frozen=True)
class Destination:
    """Where a write goes: one bucket through one client, with its SSE-C key and progress."""

    client: Minio
    endpoint: str
    bucket: str
    part_size: int
    ssec: SseCustomerKey | None = None
    progress: Progress | None = field(default=None, compare=False)
    prefix: str = ""  # the storage's location: probes write there (credentials may end there)
    use_https: bool = False  # for the default port of an endpoint written without one

    @property
    def ssec_headers(self) -> dict[str, str]:
        return sse_headers(self.ssec)

    def sent(self, size: int) -> None:
        if self.progress is not None:
            self.progress.update(size)


def sse_headers(sse: Sse | None) -> dict[str, str]:
    """The headers of ``sse``, with an SSE-C key hidden from repr(): error reports show locals."""
    if sse is None:
        return {}
    return {
        name: Secret(value) if "customer-key" in name.lower() else value
        for name, value in sse.headers().items()
    }


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is the server refusing a conditional write."""
    if isinstance(exc, S3Error):
        return exc.code in CONFLICT_CODES
    return isinstance(exc, ServerError) and exc.status_code in (409, 412)


def _was_retried(exc: BaseException) -> bool:
    """Whether urllib3 sent the request more than once before this answer."""
    retries = getattr(getattr(exc, "response", None), "retries", None)
    return bool(retries is not None and retries.history)


def written_by(dest: Destination, key: str, token: str) -> bool:
    """Whether the object at ``key`` carries the write token ``token``."""
    try:
        stat = dest.client.stat_object(dest.bucket, key, ssec=dest.ssec)
    except S3Error:
        return False
    return (stat.metadata or {}).get(WRITE_TOKEN_HEADER) == token


def write_token() -> str:
    """A token no other write carries, in any process: a random prefix per process, then a counter.

    Not ``uuid4()`` per write: ``os.urandom`` releases the GIL, and under many
    threads each release costs a save a wait for the GIL.
    """
    return f"{_token_prefix}{next(_token_counter):x}"


def _new_token_prefix() -> None:
    global _token_prefix, _token_counter
    _token_prefix, _token_counter = uuid.uuid4().hex, itertools.count()


_token_prefix = ""
_token_counter = itertools.count()
_new_token_prefix()
os.register_at_fork(after_in_child=_new_token_prefix)  # a forked child must not repeat its parent's tokens


def write(
    dest: Destination,
    key: str,
    body: Body,
    headers: Mapping[str, str],
    *,
    create_only: bool,
    conditional: bool,
) -> None:
    """Store ``body`` at ``key`` with ``headers``.

    ``create_only`` with ``conditional`` uses the server's ``If-None-Match``;
    ``create_only`` without it locks the name (see the module docstring). Raises
    :class:`NameTaken` when the name is (or became) someone else's; other failures
    are the SDK's exceptions. An interrupted multipart upload is aborted, or
    remembered and aborted once the server answers again.
    """
    retry_pending_cleanups(dest)
    if not create_only:
        _send(dest, key, body, dict(headers))
        return
    token = write_token()
    headers = {**headers, WRITE_TOKEN_HEADER: token}
    if not conditional:
        with name_lock(dest, key) as held:
            if _exists(dest, key):
                raise NameTaken

            def still_free() -> None:
                # Just before the object appears: the lock is still ours and nobody wrote meanwhile.
                if not held() or _exists(dest, key):
                    raise NameTaken

            # The header still goes: where the server does honour it (a process configured
            # otherwise, a probe that was wrong), a rival's new object is never replaced.
            if body.multipart:
                _multipart(dest, key, body, headers, before_complete=still_free)
            else:
                still_free()
                _conditional_put(dest, key, body.single(), headers, token)
                dest.sent(body.head_size)
        return
    if not body.multipart:
        _conditional_put(dest, key, body.single(), headers, token)
        dest.sent(body.head_size)
        return
    claim = _claim(dest, key, token)
    try:
        _multipart(dest, key, body, headers, if_match=claim)
    except BaseException:
        _release_claim(dest, key, token)
        raise
    if not written_by(dest, key, token):
        raise NameTaken  # a writer that does not claim replaced ours: save again elsewhere


def _send(dest: Destination, key: str, body: Body, headers: dict[str, str]) -> None:
    if body.multipart:
        _multipart(dest, key, body, headers)
    else:
        sdk.put_object(dest.client, dest.bucket, key, body.single(), headers)
        dest.sent(body.head_size)


def _conditional_put(
    dest: Destination, key: str, data: memoryview | bytes, headers: dict[str, str], token: str
) -> str:
    """PUT with ``If-None-Match: *``; returns the ETag, raises NameTaken when the key exists."""
    try:
        return sdk.put_object(dest.client, dest.bucket, key, data, {**headers, "If-None-Match": "*"})
    except (S3Error, ServerError) as exc:
        if not is_conflict(exc):
            raise
        if _was_retried(exc) and written_by(dest, key, token):
            return ""  # our own first attempt landed; its answer was lost
        raise NameTaken from exc


def _claim(dest: Destination, key: str, token: str) -> str:
    """Take ``key`` for a multipart upload with an empty create-only placeholder; returns its ETag."""
    claim_headers = {WRITE_TOKEN_HEADER: token, CLAIM_HEADER: "1", **dest.ssec_headers}
    return _conditional_put(dest, key, b"", claim_headers, token)


def _release_claim(dest: Destination, key: str, token: str) -> None:
    """Remove our placeholder after a failed upload; remember it if the server is gone."""
    try:
        if written_by(dest, key, token):
            dest.client.remove_object(dest.bucket, key)
    except Exception:
        _remember(_Cleanup(dest, key, token=token))


def _multipart(
    dest: Destination,
    key: str,
    body: Body,
    headers: dict[str, str],
    *,
    if_match: str = "",
    before_complete: Callable[[], None] | None = None,
) -> None:
    """Upload ``body`` in parts, ``UPLOAD_WORKERS`` at a time; abort the upload on any failure.

    ``if_match`` (our claim's ETag) completes only over that object: a writer that
    replaced the claim meanwhile is not overwritten (NameTaken instead).
    """
    client, bucket = dest.client, dest.bucket
    ssec = dest.ssec_headers
    upload_id = sdk.create_multipart_upload(client, bucket, key, headers)

    def upload(number: int, part: memoryview) -> tuple[str, int]:
        return sdk.upload_part(client, bucket, key, upload_id, number, part, ssec), len(part)

    etags: list[str] = []
    in_flight: deque[Future[tuple[str, int]]] = deque()

    def finish_oldest() -> None:
        etag, size = in_flight.popleft().result()
        etags.append(etag)
        dest.sent(size)

    try:
        with ThreadPoolExecutor(UPLOAD_WORKERS, thread_name_prefix="dmb-part") as pool:
            try:
                parts = body.parts(dest.part_size, buffers=UPLOAD_WORKERS)
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
        if before_complete is not None:
            before_complete()
        _complete(dest, key, upload_id, etags, if_match)
    except BaseException:
        try:
            sdk.abort_multipart_upload(client, bucket, key, upload_id)
        except Exception:
            _remember(_Cleanup(dest, key, upload_id=upload_id))
        raise


def _complete(dest: Destination, key: str, upload_id: str, etags: list[str], if_match: str) -> None:
    headers = dest.ssec_headers
    if if_match:
        try:
            sdk.complete_multipart_upload(
                dest.client, dest.bucket, key, upload_id, etags, {**headers, "If-Match": f'"{if_match}"'}
            )
            return
        except (S3Error, ServerError) as exc:
            if is_conflict(exc):
                raise NameTaken from exc
            if not _not_implemented(exc):
                raise
    sdk.complete_multipart_upload(dest.client, dest.bucket, key, upload_id, etags, headers)


def _not_implemented(exc: S3Error | ServerError) -> bool:
    """A server that does not know conditional completes (the post-complete check still runs)."""
    if isinstance(exc, S3Error):
        return exc.code in ("NotImplemented", "InvalidArgument")
    return exc.status_code == 501


def _exists(dest: Destination, key: str) -> bool:
    try:
        dest.client.stat_object(dest.bucket, key, ssec=dest.ssec)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NotFound", "ResourceNotFound"):
            return False
        raise
    return True


# -- name locks (servers without conditional writes) --------------------------------

_LOCKS = tuple(threading.Lock() for _ in range(64))
renew_after_fork(globals(), "_LOCKS")


@functools.lru_cache(maxsize=64)
def server_identity(endpoint: str, use_https: bool = False) -> str:
    """``endpoint`` as the server it reaches: its lowest address and port.

    ``localhost:9000``, ``127.0.0.1:9000`` and ``[::ffff:127.0.0.1]:9000`` lock each
    other's names; so do ``host`` and ``https://host:443`` over HTTPS. A host that
    does not resolve stays as written.
    """
    addresses, port = endpoint_addresses(endpoint, use_https)
    return f"{min(addresses)}:{port}" if addresses else endpoint.lower()


# Cache backends whose add() is atomic across processes.
ATOMIC_ADD_CACHES = (
    "django.core.cache.backends.redis.RedisCache",
    "django.core.cache.backends.memcached.PyMemcacheCache",
    "django.core.cache.backends.memcached.PyLibMCCache",
    "django.core.cache.backends.db.DatabaseCache",
    "django_redis.cache.RedisCache",
)


def cache_locks_across_processes() -> bool:
    """Whether Django's default cache makes :func:`name_lock` hold across processes."""
    from django.conf import settings

    return str(settings.CACHES.get("default", {}).get("BACKEND", "")) in ATOMIC_ADD_CACHES


@contextlib.contextmanager
def name_lock(dest: Destination, key: str) -> Iterator[Callable[[], bool]]:
    """Hold ``key`` against other writers of this process and, through the cache, of others.

    Yields a function telling whether the cache still holds the lock for us: an
    entry can be evicted (a culled DatabaseCache, a full Memcached) or expire
    during a long upload, and a writer that lost its lock must not write.
    """
    server = server_identity(dest.endpoint, dest.use_https)
    local = _LOCKS[hash((server, dest.bucket, key)) % len(_LOCKS)]
    with local:
        from django.core.cache import cache

        cache_key = f"dmb-lock:{uuid.uuid5(uuid.NAMESPACE_URL, f'{server}/{dest.bucket}/{key}').hex}"
        token = write_token()
        deadline = time.monotonic() + LOCK_WAIT
        while not cache.add(cache_key, token, timeout=LOCK_TIMEOUT):
            if time.monotonic() > deadline:
                raise NameTaken  # held too long by another process: another name is free sooner
            time.sleep(0.01)

        def held() -> bool:
            return bool(cache.get(cache_key) == token)

        try:
            yield held
        finally:
            if held():  # never release a lock another writer took after ours was lost
                cache.delete(cache_key)


# -- clean-ups the server could not take at the time ---------------------------------


@dataclass(frozen=True)
class _Cleanup:
    dest: Destination
    key: str
    upload_id: str | None = None
    token: str | None = None


_pending_lock = threading.Lock()
renew_after_fork(globals(), "_pending_lock")
_pending: list[_Cleanup] = []


def _remember(cleanup: _Cleanup) -> None:
    logger.warning(
        "could not %s %s/%s at %s; retrying once the server answers",
        "abort the multipart upload of" if cleanup.upload_id else "remove the placeholder",
        cleanup.dest.bucket,
        cleanup.key,
        cleanup.dest.endpoint,
    )
    with _pending_lock:
        _pending.append(cleanup)


def pending_cleanups() -> list[tuple[str, str, str, str | None]]:
    """(endpoint, bucket, key, upload id) of clean-ups still waiting for their server."""
    with _pending_lock:
        return [(c.dest.endpoint, c.dest.bucket, c.key, c.upload_id) for c in _pending]


def retry_pending_cleanups(dest: Destination) -> None:
    """Take the clean-ups waiting for ``dest``'s server; keep those it still refuses."""
    if not _pending:
        return
    with _pending_lock:
        mine = [c for c in _pending if c.dest.endpoint == dest.endpoint]
        for cleanup in mine:
            _pending.remove(cleanup)
    for cleanup in mine:
        try:
            _cleanup(cleanup)
        except Exception:
            with _pending_lock:
                _pending.append(cleanup)
            return  # still unreachable: the rest waits too


def _cleanup(cleanup: _Cleanup) -> None:
    dest = cleanup.dest
    if cleanup.upload_id is not None:
        try:
            sdk.abort_multipart_upload(dest.client, dest.bucket, cleanup.key, cleanup.upload_id)
        except S3Error as exc:
            if exc.code not in GONE_CODES:
                raise
    elif cleanup.token is not None and written_by(dest, cleanup.key, cleanup.token):
        dest.client.remove_object(dest.bucket, cleanup.key)


# -- server-side copies (direct uploads move out of quarantine) ----------------------


def copy(
    dest: Destination,
    source_key: str,
    key: str,
    headers: Mapping[str, str],
    *,
    create_only: bool,
    conditional: bool,
) -> None:
    """Copy ``source_key`` to ``key`` on the server, with ``headers`` replacing its metadata.

    The same create-only strategies as :func:`write`: with ``conditional`` the name
    is claimed by a conditional PUT (the one request servers make atomic) and the
    copy lands only over that claim (``If-Match``); without, the name is locked.
    Raises :class:`NameTaken` when ``key`` is someone else's. Objects up to 5 GiB
    (one CopyObject request).
    """
    retry_pending_cleanups(dest)
    headers = {**headers, "x-amz-metadata-directive": "REPLACE"}
    if not create_only:
        sdk.copy_object(dest.client, dest.bucket, key, source_key, headers)
        return
    token = write_token()
    headers[WRITE_TOKEN_HEADER] = token
    if not conditional:
        with name_lock(dest, key):
            if _exists(dest, key):
                raise NameTaken
            sdk.copy_object(dest.client, dest.bucket, key, source_key, headers)
        return
    claim = _claim(dest, key, token)
    try:
        try:
            sdk.copy_object(dest.client, dest.bucket, key, source_key, {**headers, "If-Match": f'"{claim}"'})
        except (S3Error, ServerError) as exc:
            if is_conflict(exc):
                if written_by(dest, key, token):
                    return  # a retried copy found its own first attempt (its answer was lost)
                raise NameTaken from exc
            if not _not_implemented(exc):
                raise
            sdk.copy_object(dest.client, dest.bucket, key, source_key, headers)
    except BaseException:
        _release_claim(dest, key, token)
        raise
    if not written_by(dest, key, token):
        raise NameTaken  # a writer that does not claim replaced ours
