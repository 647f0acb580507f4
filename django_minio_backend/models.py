"""Old import path: ``django_minio_backend.models.MinioBackend`` keeps working."""

from __future__ import annotations

from .manifest import MinioManifestStaticStorage
from .names import get_iso_date, iso_date_prefix
from .storage import MinioBackend, MinioBackendStatic

__all__ = [
    "MinioBackend",
    "MinioBackendStatic",
    "MinioManifestStaticStorage",
    "get_iso_date",
    "iso_date_prefix",
]
