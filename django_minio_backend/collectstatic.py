"""Fast ``collectstatic`` onto a MinioBackend: one listing, content comparison, parallel uploads.

Django's command asks the destination two HEADs per file (``exists`` and
``get_modified_time``) and uploads one file at a time; a git checkout that
touches every mtime re-uploads everything. Here the bucket is listed once, a file
is skipped when its size and MD5 equal the object's (its ETag), and changed files
are uploaded by a small thread pool.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import urllib3
from minio.deleteobjects import DeleteObject
from minio.error import MinioException

from .buckets import ensure_bucket_once
from .client import same_server
from .discovery import labelled_storages
from .exceptions import StorageError, s3_errors
from .orphans import same_objects
from .storage import MinioBackend

DEFAULT_WORKERS = 8


def remote_index(storage: MinioBackend, *, dry_run: bool = False) -> dict[str, tuple[int, str]]:
    """``name -> (size, etag)`` of every object under the storage's location.

    A missing bucket is created as a save would create it (``MINIO_BUCKET_CHECK_ON_SAVE``,
    policy included; not in a ``dry_run``) and is empty; without that setting
    FileNotFoundError says how to create it.
    """
    try:
        return _listing(storage)
    except FileNotFoundError as exc:  # only the bucket can be missing in a listing
        if dry_run:
            return {}
        if not storage.config.bucket_check_on_save:
            raise FileNotFoundError(
                f"{exc}: run `manage.py initialize_buckets` first, or set MINIO_BUCKET_CHECK_ON_SAVE = True "
                "so that collectstatic creates it"
            ) from exc
    ensure_bucket_once(storage)
    return {}


def _listing(storage: MinioBackend, prefix: str = "") -> dict[str, tuple[int, str]]:
    location = storage.location_prefix
    index: dict[str, tuple[int, str]] = {}
    with s3_errors(storage.config.endpoint, storage.bucket, "list for collectstatic", location):
        objects = storage.client.list_objects(
            storage.bucket, prefix=location + prefix or None, recursive=True
        )
        for obj in objects:
            index[obj.object_name[len(location) :]] = (int(obj.size or 0), (obj.etag or "").strip('"'))
    return index


def clear(storage: MinioBackend, path: str = "", *, dry_run: bool = False) -> list[str]:
    """``collectstatic --clear``: delete every object under ``path`` (the whole location for "").

    Returns the names deleted (or, in a ``dry_run``, that would be); a missing
    bucket has nothing to delete. Django's own ``clear_dir`` cannot be used: it asks
    ``exists("")``, and the bucket root is not an object.
    """
    prefix = path.strip("/") + "/" if path.strip("/") else ""
    try:
        names = sorted(_listing(storage, prefix))
    except FileNotFoundError:
        return []
    if dry_run or not names:
        return names
    location = storage.location_prefix
    with s3_errors(storage.config.endpoint, storage.bucket, "clear for collectstatic", location + prefix):
        errors = storage.client.remove_objects(
            storage.bucket, (DeleteObject(location + name) for name in names)
        )
        failed = [f"{error.name} ({error.code})" for error in errors]
    if failed:
        raise StorageError(
            f"clear for collectstatic: {len(failed)} object(s) not deleted: {', '.join(failed[:5])}"
        )
    return names


def _same_bucket(a: MinioBackend, b: MinioBackend) -> bool:
    """Whether ``a`` and ``b`` may reach one bucket: same name, and not shown to be two.

    Endpoints that share no address can still reach one bucket (a proxy, a published
    port): their objects are compared. Whatever cannot be told apart counts as the
    same, which keeps the other storage's files.
    """
    if a.bucket != b.bucket:
        return False
    if same_server(a.config, b.config) is not False:
        return True
    try:
        return same_objects(a, b) is not False
    except (OSError, urllib3.exceptions.HTTPError, MinioException):
        return True


def _others(storage: MinioBackend) -> Iterator[tuple[str, MinioBackend]]:
    """``(label, storage)`` of every other MinioBackend alias and model file field storage."""
    this = getattr(storage, "_wrapped", storage)  # staticfiles_storage is a lazy object
    for label, other in labelled_storages():
        other = getattr(other, "_wrapped", other)
        if other is not this:
            yield label, other


def other_storages_inside(storage: MinioBackend) -> dict[str, str]:
    """``label -> location prefix`` of the other storages whose files ``storage`` can overwrite or clear.

    Every other storage that reaches ``storage``'s bucket with its location at or
    under ``storage``'s: a ``--clear`` there deletes their files too, and a static
    file can replace one of theirs.
    """
    location = getattr(storage, "_wrapped", storage).location_prefix
    return {
        label: other.location_prefix
        for label, other in _others(storage)
        if other.location_prefix.startswith(location) and _same_bucket(storage, other)
    }


def other_storages_above(storage: MinioBackend) -> list[str]:
    """Labels of the other storages whose location holds ``storage``'s (a media storage at the bucket root).

    Their files can have names under ``storage``'s location: a ``--clear`` would delete them.
    """
    location = getattr(storage, "_wrapped", storage).location_prefix
    return [
        label
        for label, other in _others(storage)
        if location.startswith(other.location_prefix)
        and other.location_prefix != location
        and _same_bucket(storage, other)
    ]


def fingerprint(source_storage: Any, path: str) -> tuple[int, str]:
    """Size and MD5 hex of a source file, streamed."""
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with source_storage.open(path) as source:
        for chunk in source.chunks():
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class ParallelUploader:
    """Saves files to a storage from a thread pool; ``close()`` waits and returns the failures."""

    def __init__(self, storage: MinioBackend, workers: int = DEFAULT_WORKERS) -> None:
        self._storage = storage
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collectstatic")
        self._futures: list[tuple[str, Future[str]]] = []

    def submit(self, name: str, source_storage: Any, path: str, *, replace: bool) -> None:
        """Upload ``path`` as ``name``; ``replace`` an existing object of that name."""
        self._futures.append((name, self._pool.submit(self._copy, name, source_storage, path, replace)))

    def _copy(self, name: str, source_storage: Any, path: str, replace: bool) -> str:
        if replace and not self._storage.config.replace_existing:
            self._storage.delete(name)  # as Django's collectstatic does, or save() would pick a new name
        with source_storage.open(path) as source:
            return self._storage.save(name, source)

    def close(self) -> list[tuple[str, BaseException]]:
        self._pool.shutdown(wait=True)
        return [(name, exc) for name, f in self._futures if (exc := f.exception()) is not None]
