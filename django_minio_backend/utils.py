"""Old import path for the helpers of django-minio-backend 3.x."""

from __future__ import annotations

from .exceptions import ConfigurationError
from .status import MinioServerStatus

__all__ = ["ConfigurationError", "MinioServerStatus"]
