"""What the project configures: MinioBackend aliases of STORAGES, declared buckets, model file fields.

Checks, bucket initialisation, orphan clean-up, the commands and the app config
ask these functions instead of walking the settings or the app registry themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from django.db import models
from django.utils.module_loading import import_string

from .conf import StorageConfig
from .storage import MinioBackend, MinioBackendStatic


@dataclass(frozen=True)
class Alias:
    """One ``STORAGES`` entry whose backend is a MinioBackend (sub)class."""

    name: str
    backend: type[MinioBackend]
    options: dict[str, Any]

    @property
    def label(self) -> str:
        return f"STORAGES[{self.name!r}]"

    @property
    def storage(self) -> MinioBackend:
        """The storage Django builds for this alias (``django.core.files.storage.storages``)."""
        # minio_aliases() keeps only aliases whose BACKEND is a MinioBackend subclass.
        return storages[self.name]  # type: ignore[return-value]


def backend_class(path: str) -> type[MinioBackend] | None:
    """The MinioBackend subclass at the dotted ``path``, or None for anything else."""
    try:
        cls = import_string(path)
    except ImportError:
        return None
    return cls if isinstance(cls, type) and issubclass(cls, MinioBackend) else None


def minio_aliases() -> list[Alias]:
    """Every ``STORAGES`` alias served by a MinioBackend, in settings order."""
    result = []
    for name, entry in (getattr(settings, "STORAGES", None) or {}).items():
        backend = backend_class(entry.get("BACKEND", ""))
        if backend is not None:
            result.append(Alias(name, backend, dict(entry.get("OPTIONS") or {})))
    return result


def configured_storages() -> list[MinioBackend]:
    """The storage of every MinioBackend alias of ``STORAGES``."""
    return [alias.storage for alias in minio_aliases()]


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
                if not isinstance(storage, MinioBackend):
                    continue
            except ImproperlyConfigured:
                continue
            yield model, field, storage


def labelled_storages() -> list[tuple[str, MinioBackend]]:
    """``(label, storage)`` of every MinioBackend alias and model file field, as messages name them."""
    result = [(alias.label, alias.storage) for alias in minio_aliases()]
    result += [
        (f"{model._meta.label}.{field.name}", storage) for model, field, storage in model_file_fields()
    ]
    return result


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
        if hasattr(settings, "MINIO_MEDIA_FILES_BUCKET"):
            sources.append((MinioBackend(), [settings.MINIO_MEDIA_FILES_BUCKET]))
        else:
            sources.append((MinioBackend(), []))
        if hasattr(settings, "MINIO_STATIC_FILES_BUCKET"):
            # A static storage: the static bucket is public unless declared private (3.x and 4.x).
            sources.append((MinioBackendStatic(), [settings.MINIO_STATIC_FILES_BUCKET]))
    seen: set[tuple[str, str]] = set()
    result: list[MinioBackend] = []
    for base, own in sources:
        config = base.config
        for name in [*own, *config.private_buckets, *config.public_buckets, *hook_buckets(config)]:
            key = (config.endpoint, name)
            if key not in seen:
                seen.add(key)
                result.append(base.with_bucket(name))
    return result
