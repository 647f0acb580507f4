"""S3 clients and local URL signing.

Clients are built lazily and shared between storages with the same connection
settings; ``minio.Minio`` and urllib3 pools are thread-safe. URLs are signed here
with AWS Signature V4, locally, with a signing key cached per day: ``url()`` never
touches the network.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import certifi
import urllib3
from minio import Minio

from .conf import SETTINGS_BY_NAME, StorageConfig

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
POOL_CONNECTIONS: int = SETTINGS_BY_NAME["MINIO_MAX_POOL_CONNECTIONS"].default


def default_http_client(
    *,
    connect: float = CONNECT_TIMEOUT,
    read: float = READ_TIMEOUT,
    retries: int = 3,
    maxsize: int = POOL_CONNECTIONS,
) -> urllib3.PoolManager:
    """A pool with short timeouts and a few retries on resets and 5xx answers.

    The SDK's own default waits five minutes for a dead server; a web request
    should fail within seconds instead. ``maxsize`` connections per server are
    kept for reuse: with more threads than that, urllib3 closes the extra ones
    after each request ("Connection pool is full, discarding connection") and
    the next request pays a new TCP connection.
    """
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect, read=read),
        maxsize=maxsize,
        cert_reqs="CERT_REQUIRED",
        ca_certs=certifi.where(),
        retries=urllib3.Retry(
            total=retries,
            connect=retries,
            read=retries,
            backoff_factor=0.2,
            status_forcelist=(500, 502, 503, 504),
            raise_on_status=False,
        ),
    )


@functools.cache
def shared_http_client(maxsize: int = POOL_CONNECTIONS) -> urllib3.PoolManager:
    """The process-wide default pool of ``maxsize`` connections per server (MINIO_HTTP_CLIENT unset)."""
    return default_http_client(maxsize=maxsize)


@functools.cache
def status_http_client() -> urllib3.PoolManager:
    """A pool for health checks: they must answer within a few seconds."""
    return default_http_client(connect=2, read=5, retries=0)


@functools.lru_cache(maxsize=64)
def _client(
    endpoint: str, secure: bool, region: str, access_key: str, secret_key: str, http_client: Any
) -> Minio:
    return Minio(
        endpoint,
        access_key=access_key,
        secret_key=secret_key,
        secure=secure,
        region=region,
        http_client=http_client,
    )


def client_for(config: StorageConfig, http_client: Any = None) -> Minio:
    """The Minio client for the internal endpoint of ``config``."""
    if not config.endpoint:
        from .exceptions import ConfigurationError

        raise ConfigurationError("MINIO_ENDPOINT is not set (nor the storage's 'endpoint' option).")
    return _client(
        config.endpoint,
        config.use_https,
        config.signing_region,
        config.access_key,
        config.secret_key,
        http_client or config.http_client or shared_http_client(config.max_pool_connections),
    )


def _quote(value: str) -> str:
    return quote(value, safe="~")


@functools.lru_cache(maxsize=16384)
def _quote_path(name: str) -> str:
    """Percent-encode an object key for a URL path (cached: templates repeat names)."""
    return quote(name, safe="/~")


@dataclass(frozen=True)
class UrlSigner:
    """Builds public and presigned GET URLs for one bucket on one endpoint."""

    scheme: str
    host: str
    bucket: str
    region: str
    access_key: str
    secret_key: str

    @classmethod
    def for_config(cls, config: StorageConfig) -> UrlSigner:
        if config.external_endpoint:
            host, https = config.external_endpoint, config.external_endpoint_use_https
        else:
            host, https = config.endpoint, config.use_https
        scheme = "https" if https else "http"
        host = host.removeprefix("https://").removeprefix("http://").rstrip("/")
        default_port = ":443" if https else ":80"
        host = host.removesuffix(default_port)
        return cls(
            scheme=scheme,
            host=host,
            bucket=config.bucket_name,
            region=config.signing_region,
            access_key=config.access_key,
            secret_key=config.secret_key,
        )

    @functools.cached_property
    def _base(self) -> str:
        return f"{self.scheme}://{self.host}"

    def path(self, name: str) -> str:
        return f"/{self.bucket}/{_quote_path(name)}"

    def public_url(self, name: str) -> str:
        return self._base + self.path(name)

    def _day(self, datestamp: str) -> tuple[bytes, str, str]:
        """Signing key, scope and query prefix of one day, computed once a day."""
        cached = self.__dict__.get("_day_cache")
        if cached is not None and cached[0] == datestamp:
            return cached[1]
        key = ("AWS4" + self.secret_key).encode()
        for part in (datestamp, self.region, "s3", "aws4_request"):
            key = hmac.digest(key, part.encode(), "sha256")
        scope = f"{datestamp}/{self.region}/s3/aws4_request"
        prefix = (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
            + _quote(f"{self.access_key}/{scope}")
            + "&X-Amz-Date="
        )
        value = (key, scope, prefix)
        # A plain attribute store is atomic; a race only computes the day twice.
        object.__setattr__(self, "_day_cache", (datestamp, value))
        return value

    def presigned_url(
        self,
        name: str,
        expires: timedelta,
        *,
        now: datetime | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> str:
        """A presigned GET URL (AWS Signature V4, query string) valid for ``expires`` from ``now``."""
        amz_date = _amz_date(now)
        key, scope, prefix = self._day(amz_date[:8])
        # The canonical query is sorted by name: the X-Amz-* parameters (fixed
        # order), then response-* overrides (lower case sorts after upper case).
        query = f"{prefix}{amz_date}&X-Amz-Expires={int(expires.total_seconds())}&X-Amz-SignedHeaders=host"
        if response_headers:
            query += "".join(f"&{_quote(k)}={_quote(v)}" for k, v in sorted(response_headers.items()))
        path = self.path(name)
        canonical = f"GET\n{path}\n{query}\nhost:{self.host}\n\nhost\nUNSIGNED-PAYLOAD"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.digest(key, to_sign.encode(), "sha256").hex()
        return f"{self._base}{path}?{query}&X-Amz-Signature={signature}"


_date_cache: tuple[int, str] = (0, "")


def _amz_date(now: datetime | None) -> str:
    """``YYYYMMDDTHHMMSSZ`` of ``now`` (default: the current second, formatted once per second)."""
    global _date_cache
    if now is not None:
        return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    second = int(time.time())
    cached = _date_cache
    if cached[0] != second:
        cached = (second, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second)))
        _date_cache = cached
    return cached[1]
