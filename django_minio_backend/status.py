"""Server availability, as returned by ``MinioBackend.is_minio_available()``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import urllib3
from django.core.exceptions import ImproperlyConfigured
from minio.error import S3Error, ServerError

from .client import client_for, status_http_client
from .exceptions import connection_hint

if TYPE_CHECKING:
    from .storage import MinioBackend


class MinioServerStatus:
    """Truthy when the server answered and accepted the credentials.

    ``details`` says why not (or what was found) in one or more lines.
    """

    def __init__(self, available: bool, details: str | list[str] = "") -> None:
        self._available = available
        self._details = [details] if isinstance(details, str) else list(details)

    def __bool__(self) -> bool:
        return self._available

    @property
    def is_available(self) -> bool:
        return self._available

    @property
    def details(self) -> str:
        return "\n".join(d for d in self._details if d)

    def __repr__(self) -> str:
        return "MinIO is available" if self._available else "MinIO is NOT available"


def server_status(storage: MinioBackend) -> MinioServerStatus:
    """Whether ``storage``'s server answers and accepts the credentials, within seconds; never raises."""
    try:
        config = storage.config
    except (ImproperlyConfigured, TypeError, ValueError) as exc:
        return MinioServerStatus(False, f"the storage's configuration cannot be used: {exc}")
    try:
        client = client_for(config, config.http_client or status_http_client(config.ca_bundle))
    except (ImproperlyConfigured, ValueError) as exc:
        return MinioServerStatus(False, f"MINIO_ENDPOINT {config.endpoint!r} cannot be used: {exc}")
    if not config.endpoint:
        return MinioServerStatus(False, "MINIO_ENDPOINT is not set (in the settings or the OPTIONS)")
    bucket = storage.bucket
    try:
        found = client.bucket_exists(bucket)
    except S3Error as exc:
        return MinioServerStatus(
            False, f"{config.endpoint} refused the request ({exc.code}): check the access and secret key"
        )
    except (urllib3.exceptions.HTTPError, ServerError, OSError, ValueError) as exc:
        return MinioServerStatus(False, f"cannot reach S3 at {config.endpoint}: {exc}{connection_hint(exc)}")
    if found:
        return MinioServerStatus(True, f"{config.endpoint} is available; bucket {bucket!r} exists")
    return MinioServerStatus(
        True,
        f"{config.endpoint} is available; bucket {bucket!r} does not exist yet "
        "(run manage.py initialize_buckets)",
    )
