"""Django storage backend for MinIO and any S3-compatible object store."""

from __future__ import annotations

from .hookspecs import hookimpl
from .manifest import MinioManifestStaticStorage
from .names import get_iso_date, iso_date_prefix, plugin_prefix
from .status import MinioServerStatus
from .storage import MinioBackend, MinioBackendStatic

__all__ = [
    "MinioBackend",
    "MinioBackendStatic",
    "MinioManifestStaticStorage",
    "MinioServerStatus",
    "get_iso_date",
    "hookimpl",
    "iso_date_prefix",
    "plugin_prefix",
]
# The one place the version is written: pyproject.toml reads it from here.
__version__ = "5.0.0"
