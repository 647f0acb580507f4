"""Fast ``collectstatic`` onto a MinioBackend: one listing, content comparison, parallel uploads.

Django's command asks the destination two HEADs per file (``exists`` and
``get_modified_time``) and uploads one file at a time; a git checkout that
touches every mtime re-uploads everything. Here the bucket is listed once, a file
is skipped when its size and MD5 equal the object's (its ETag), and changed files
are uploaded by a small thread pool.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .exceptions import s3_errors
from .storage import MinioBackend

DEFAULT_WORKERS = 8


def remote_index(storage: MinioBackend) -> dict[str, tuple[int, str]]:
    """``name -> (size, etag)`` of every object under the storage's location."""
    location = storage.location_prefix
    index: dict[str, tuple[int, str]] = {}
    with s3_errors(storage.config.endpoint, storage.bucket, "list for collectstatic", location):
        for obj in storage.client.list_objects(storage.bucket, prefix=location or None, recursive=True):
            index[obj.object_name[len(location) :]] = (int(obj.size or 0), (obj.etag or "").strip('"'))
    return index


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
        return [(name, f.exception()) for name, f in self._futures if f.exception() is not None]  # type: ignore[misc]
