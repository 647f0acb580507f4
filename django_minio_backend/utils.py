"""Old import path for the helpers of django-minio-backend 3.x and 4.x."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from .exceptions import ConfigurationError
from .status import MinioServerStatus

# Upstream 3.x/4.x import path; this package reports mixed bucket lists as check E001 instead.
PrivatePublicMixedError = ConfigurationError

__all__ = [
    "ConfigurationError",
    "MinioServerStatus",
    "PrivatePublicMixedError",
    "get_setting",
    "get_storages_setting",
]


def get_setting(name: str, default: Any = None) -> Any:
    """A Django setting, or ``default`` when it is not set (3.x / 4.x helper)."""
    return getattr(settings, name, default)


def get_storages_setting(name: str, storage: str = "default", default: Any = None) -> Any:
    """A key of ``STORAGES[storage]["OPTIONS"]``, or ``default`` (4.x helper)."""
    entry = (getattr(settings, "STORAGES", None) or {}).get(storage) or {}
    return (entry.get("OPTIONS") or {}).get(name, default)
