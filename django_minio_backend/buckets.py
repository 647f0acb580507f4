"""Bucket creation and policy reconciliation (``initialize_buckets`` and friends)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from django.db import models
from django.utils.module_loading import import_string
from minio.error import S3Error

from . import manager
from .conf import StorageConfig
from .policies import describe_statement, policies_equal, private_remainder
from .storage import MinioBackend

NO_POLICY_CODES = frozenset({"NoSuchBucketPolicy", "NoSuchPolicy"})


@dataclass(frozen=True)
class BucketReport:
    """What was (or, in a dry run, would be) done to one bucket."""

    endpoint: str
    bucket: str
    public: bool
    created: bool
    policy: str  # "set", "deleted", "trimmed", "unchanged" or "none"
    dry_run: bool = False
    removed: tuple[str, ...] = ()  # statements taken out of a private bucket's policy

    def line(self) -> str:
        kind = "public" if self.public else "private"
        verb = ("would create" if self.dry_run else "created") if self.created else "exists"
        policy = {
            "set": "policy would be set" if self.dry_run else "policy set",
            "deleted": "policy would be removed" if self.dry_run else "policy removed",
            "trimmed": "statements would be removed" if self.dry_run else "statements removed",
            "unchanged": "policy unchanged",
            "none": "no policy",
        }[self.policy]
        if self.removed:
            policy += f" ({'; '.join(self.removed)})"
        if self.policy == "trimmed":
            policy += ", other statements kept"
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
    with storage._errors("initialize bucket"):
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
        removed: list[dict[str, Any]] = []
        if desired is None:
            # Private: take out anonymous grants and our own statements, keep operators' grants.
            desired, removed = private_remainder(current)
            if not removed:
                action = "unchanged" if current else "none"
            else:
                action = "trimmed" if desired else "deleted"
        else:
            action = "unchanged" if policies_equal(desired, current) else "set"
        if not dry_run and action == "deleted":
            client.delete_bucket_policy(bucket)
        elif not dry_run and action in ("set", "trimmed"):
            client.set_bucket_policy(bucket, json.dumps(desired))
    except BaseException:
        if created and not dry_run:
            client.remove_bucket(bucket)
        raise
    described = tuple(describe_statement(statement) for statement in removed)
    return BucketReport(storage.config.endpoint, bucket, public, created, action, dry_run, described)


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
        with storage._errors("bucket check"):
            missing = not storage.client.bucket_exists(storage.bucket)
        if missing:
            sync_bucket(storage)
        _known.add(key)


def forget_known_buckets() -> None:
    with _known_lock:
        _known.clear()


def _is_minio_backend(backend: str) -> bool:
    try:
        cls = import_string(backend)
    except ImportError:
        return False
    return isinstance(cls, type) and issubclass(cls, MinioBackend)


def model_file_fields() -> Iterator[tuple[type[models.Model], models.FileField, MinioBackend]]:
    """(model, field, storage) of every concrete FileField/ImageField stored in a MinioBackend.

    Local fields only: an inherited field lives in its parent's table. A field whose
    storage is a broken STORAGES alias is left out (the system checks report it).
    """
    for model in apps.get_models():
        for field in model._meta.local_concrete_fields:
            if not isinstance(field, models.FileField):
                continue
            try:
                storage = field.storage
                ours = isinstance(storage, MinioBackend)
            except ImproperlyConfigured:
                continue
            if ours:
                yield model, field, storage


def configured_storages() -> list[MinioBackend]:
    """Every MinioBackend alias of ``STORAGES``."""
    return [
        storages[alias]
        for alias, entry in (getattr(settings, "STORAGES", None) or {}).items()
        if _is_minio_backend(entry.get("BACKEND", ""))
    ]


def storage_for_bucket(base: MinioBackend, bucket: str) -> MinioBackend:
    """``base`` itself, or a storage with the same options on ``bucket``."""
    if bucket == base.bucket:
        return base
    options: dict[str, Any] = {k: v for k, v in base._options.items() if k != "bucket_name"}
    return type(base)(bucket_name=bucket, **options)


def hook_buckets(config: StorageConfig) -> list[str]:
    """The buckets ``MINIO_POLICY_HOOKS`` names (3.x applied every entry, listed or not)."""
    return [
        entry[0]
        for entry in config.policy_hooks
        if isinstance(entry, (tuple, list)) and len(entry) == 2 and isinstance(entry[0], str)
    ]


def declared_buckets() -> list[MinioBackend]:
    """One storage per distinct (endpoint, bucket) the configuration mentions.

    That is each MinioBackend alias's own bucket and declared bucket lists, and,
    when ``MINIO_ENDPOINT`` is set, the top-level bucket lists and the media and
    static buckets named in the settings.
    """
    sources: list[tuple[MinioBackend, list[str]]] = [
        (storage, [storage.bucket]) for storage in configured_storages()
    ]
    if getattr(settings, "MINIO_ENDPOINT", None):
        named = [
            getattr(settings, name)
            for name in ("MINIO_MEDIA_FILES_BUCKET", "MINIO_STATIC_FILES_BUCKET")
            if hasattr(settings, name)
        ]
        sources.append((MinioBackend(), named))
    seen: set[tuple[str, str]] = set()
    result: list[MinioBackend] = []
    for base, own in sources:
        config = base.config
        for name in [*own, *config.private_buckets, *config.public_buckets, *hook_buckets(config)]:
            key = (config.endpoint, name)
            if key not in seen:
                seen.add(key)
                result.append(storage_for_bucket(base, name))
    return result


def initialize_buckets(*, dry_run: bool = False, on_start: bool = False) -> list[BucketReport]:
    """Create every declared bucket that is missing and reconcile every policy.

    ``on_start`` limits the work to storages whose configuration turns
    ``MINIO_CONSISTENCY_CHECK_ON_START`` on (globally or in an alias's OPTIONS).
    """
    return [
        sync_bucket(storage, dry_run=dry_run)
        for storage in declared_buckets()
        if not on_start or storage.config.consistency_check_on_start
    ]
