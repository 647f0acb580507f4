"""Bucket creation and policy reconciliation (``initialize_buckets`` and friends)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from minio.error import S3Error

from . import manager
from .exceptions import s3_errors
from .policies import policies_equal

if TYPE_CHECKING:
    from .storage import MinioBackend

NO_POLICY_CODES = frozenset({"NoSuchBucketPolicy", "NoSuchPolicy"})


@dataclass(frozen=True)
class BucketReport:
    """What was (or, in a dry run, would be) done to one bucket."""

    endpoint: str
    bucket: str
    public: bool
    created: bool
    policy: str  # "set", "deleted", "unchanged" or "none"
    dry_run: bool = False

    def line(self) -> str:
        kind = "public" if self.public else "private"
        verb = ("would create" if self.dry_run else "created") if self.created else "exists"
        policy = {
            "set": "policy would be set" if self.dry_run else "policy set",
            "deleted": "policy would be removed" if self.dry_run else "policy removed",
            "unchanged": "policy unchanged",
            "none": "no policy",
        }[self.policy]
        return f"{self.endpoint}/{self.bucket} ({kind}): {verb}, {policy}"


def _current_policy(storage: MinioBackend) -> str | None:
    try:
        return storage.client.get_bucket_policy(storage.bucket)
    except S3Error as exc:
        if exc.code in NO_POLICY_CODES:
            return None
        raise


def sync_bucket(storage: MinioBackend, *, dry_run: bool = False) -> BucketReport:
    """Create ``storage.bucket`` if missing, then make its policy what the hooks say.

    If a plugin fails right after the bucket was created, the (empty) bucket is
    removed again so that the next run starts from the same state. Server errors
    are raised as OSError subclasses naming the endpoint and bucket.
    """
    with s3_errors(storage.config.endpoint, storage.bucket, "initialize bucket"):
        return _sync_bucket(storage, dry_run)


def _sync_bucket(storage: MinioBackend, dry_run: bool) -> BucketReport:
    client, bucket, public = storage.client, storage.bucket, storage.is_public
    created = not client.bucket_exists(bucket)
    if created and not dry_run:
        client.make_bucket(bucket)
    try:
        if created and not dry_run:
            manager.on_bucket_created(bucket_name=bucket, public=public, storage=storage)
        desired = manager.bucket_policy(bucket_name=bucket, public=public, storage=storage)
        current = None if created else _current_policy(storage)
        if desired is None:
            action = "deleted" if current else "none"
        else:
            action = "unchanged" if policies_equal(desired, current) else "set"
        if not dry_run and action == "deleted":
            client.delete_bucket_policy(bucket)
        elif not dry_run and action == "set":
            client.set_bucket_policy(bucket, json.dumps(desired))
    except BaseException:
        if created and not dry_run:
            client.remove_bucket(bucket)
        raise
    return BucketReport(storage.config.endpoint, bucket, public, created, action, dry_run)


_known_lock = threading.Lock()
_known: set[tuple[str, str]] = set()


def ensure_bucket_once(storage: MinioBackend) -> None:
    """``MINIO_BUCKET_CHECK_ON_SAVE``: create the bucket if missing, once per process."""
    key = (storage.config.endpoint, storage.bucket)
    if key in _known:
        return
    with _known_lock:
        if key in _known:
            return
        with s3_errors(storage.config.endpoint, storage.bucket, "bucket check"):
            missing = not storage.client.bucket_exists(storage.bucket)
        if missing:
            sync_bucket(storage)
        _known.add(key)


def forget_known_buckets() -> None:
    with _known_lock:
        _known.clear()


def initialize_buckets(
    storages: Iterable[MinioBackend], *, dry_run: bool = False, on_start: bool = False
) -> list[BucketReport]:
    """Create each storage's bucket if missing and reconcile its policy.

    ``on_start`` limits the work to storages whose configuration turns
    ``MINIO_CONSISTENCY_CHECK_ON_START`` on (globally or in an alias's OPTIONS).
    """
    return [
        sync_bucket(storage, dry_run=dry_run)
        for storage in storages
        if not on_start or storage.config.consistency_check_on_start
    ]
