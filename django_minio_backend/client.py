"""S3 clients and local URL signing.

Clients are built lazily and shared between storages with the same connection
settings; ``minio.Minio`` and urllib3 pools are thread-safe. URLs are signed here
with AWS Signature V4, locally, with a signing key cached per day: ``url()`` never
touches the network.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import os
import re
import socket
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import certifi
import urllib3
from django.utils.functional import cached_property
from django.utils.module_loading import import_string
from minio import Minio
from minio.credentials.credentials import Credentials as MinioCredentials
from minio.credentials.providers import Provider, StaticProvider
from urllib3._collections import RecentlyUsedContainer

from .conf import SETTINGS_BY_NAME, Secret, StorageConfig
from .exceptions import ConfigurationError

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
POOL_CONNECTIONS: int = SETTINGS_BY_NAME["MINIO_MAX_POOL_CONNECTIONS"].default


def default_http_client(
    *,
    connect: float = CONNECT_TIMEOUT,
    read: float = READ_TIMEOUT,
    retries: int = 3,
    ca_bundle: str | None = None,
    maxsize: int = POOL_CONNECTIONS,
) -> urllib3.PoolManager:
    """A pool with short timeouts and a few retries on resets and 5xx answers.

    The SDK's own default waits five minutes for a dead server; a web request
    should fail within seconds instead. ``ca_bundle`` (MINIO_CA_BUNDLE) replaces
    certifi's CAs, for a private CA or a self-signed server.
    ``maxsize`` connections per server are
    kept for reuse: with more threads than that, urllib3 closes the extra ones
    after each request ("Connection pool is full, discarding connection") and
    the next request pays a new TCP connection.
    """
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect, read=read),
        maxsize=maxsize,
        cert_reqs="CERT_REQUIRED",
        ca_certs=ca_bundle or certifi.where(),
        retries=urllib3.Retry(
            total=retries,
            connect=retries,
            read=retries,
            backoff_factor=0.2,
            status_forcelist=(500, 502, 503, 504),
            raise_on_status=False,
            # A redirect is answered, not followed: following one sends the body and the
            # session token to another host, and a save could "succeed" there.
            redirect=0,
            raise_on_redirect=False,
        ),
    )


@functools.cache
def shared_http_client(ca_bundle: str | None = None, maxsize: int = POOL_CONNECTIONS) -> urllib3.PoolManager:
    """The process-wide default pool (one per CA bundle and size), used when MINIO_HTTP_CLIENT is not set."""
    return default_http_client(ca_bundle=ca_bundle, maxsize=maxsize)


@functools.cache
def status_http_client(ca_bundle: str | None = None) -> urllib3.PoolManager:
    """A pool for health checks: they must answer within a few seconds."""
    return default_http_client(connect=2, read=5, retries=0, ca_bundle=ca_bundle)


@functools.lru_cache(maxsize=16)
def _provider_from_path(path: str) -> Provider:
    """One provider per dotted path and process: IAM / STS providers cache their keys until expiry."""
    target = import_string(path)
    provider = target() if callable(target) and not isinstance(target, Provider) else target
    if not isinstance(provider, Provider):
        raise ConfigurationError(
            f"MINIO_CREDENTIALS_PROVIDER = {path!r} gives {type(provider).__name__}, "
            "not a minio.credentials.Provider."
        )
    return provider


class _HidingProvider(Provider):
    """A provider whose credentials show no secret in a repr.

    minio's ``Credentials`` repr prints its fields, and its frames (and ours) hold
    them as locals that Django's error reports and error trackers print.
    """

    def __init__(self, provider: Provider) -> None:
        self._provider = provider

    def retrieve(self) -> MinioCredentials:
        creds = self._provider.retrieve()
        return MinioCredentials(
            creds.access_key,
            Secret(creds.secret_key),
            Secret(creds.session_token) if creds.session_token else None,
            getattr(creds, "expiration", None),
        )

    def __repr__(self) -> str:
        return f"<{type(self._provider).__name__} (secrets hidden)>"


@functools.lru_cache(maxsize=16)
def _hiding(provider: Provider) -> _HidingProvider:
    return _HidingProvider(provider)


def credentials_provider(config: StorageConfig) -> Provider | None:
    """The credentials provider of ``config`` (secrets hidden), or None when it uses its static keys."""
    value = config.credentials_provider
    if value is None:
        return None
    if isinstance(value, Provider):
        return _hiding(value)
    if isinstance(value, str):
        return _hiding(_provider_from_path(value))
    raise ConfigurationError(
        "MINIO_CREDENTIALS_PROVIDER must be a minio.credentials.Provider or a dotted path to one, "
        f"not {type(value).__name__}."
    )


@dataclass(frozen=True)
class Credentials:
    """An access key and its secret; the secret never appears in a repr (error reports show reprs)."""

    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    def provider(self) -> StaticProvider | None:
        """The SDK's credentials provider; None (anonymous requests) without an access key."""
        if not self.access_key:
            return None
        # The SDK's Credentials (a dataclass) is a local of its request frames: hide the secret there too.
        token = Secret(self.session_token) if self.session_token else None
        return StaticProvider(self.access_key, Secret(self.secret_key), token)


def split_endpoint(endpoint: str, use_https: bool) -> tuple[str, bool]:
    """``(host[:port], https)`` of an endpoint written ``host[:port]`` or ``http(s)://host[:port]``.

    A scheme in the endpoint wins over ``use_https`` (the system checks report a
    contradiction with an explicit ``*_USE_HTTPS`` setting). The host is lower-cased:
    clients send it so in the Host header, and URLs are signed with it. Raises
    ConfigurationError for another scheme or a path, naming the endpoint.
    """
    host = endpoint.strip()
    scheme, sep, rest = host.partition("://")
    if sep:
        if scheme.lower() not in ("http", "https"):
            raise ConfigurationError(f"endpoint {endpoint!r}: only http:// or https:// may prefix the host")
        host, use_https = rest, scheme.lower() == "https"
    host = host.removesuffix("/")
    if not host or any(ch in host for ch in "/?#@ "):
        raise ConfigurationError(
            f"endpoint {endpoint!r} must be host[:port], optionally after http:// or https://, "
            "with no path, query or user"
        )
    if host.count(":") > 1 and not host.startswith("["):
        raise ConfigurationError(f"endpoint {endpoint!r}: write an IPv6 address in brackets, e.g. [::1]:9000")
    try:
        port = urlsplit("//" + host).port  # raises for a port that is not a number in 0-65535
        if port == 0 or host.endswith(":"):
            raise ValueError(host)
    except ValueError:
        raise ConfigurationError(f"endpoint {endpoint!r}: the port must be a number in 1-65535") from None
    return host.lower(), use_https


def endpoint_addresses(endpoint: str, use_https: bool) -> tuple[frozenset[str], int | None]:
    """The IP addresses and port ``endpoint`` reaches; no addresses when its host does not resolve.

    Resolved on every call, with no process-wide cache: a clean-up run sees DNS as it is now.
    """
    try:
        host, https = split_endpoint(endpoint, use_https)
        parts = urlsplit("//" + host)
        name, port = parts.hostname, parts.port or (443 if https else 80)
    except (ConfigurationError, ValueError):
        return frozenset(), None
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM) if name else []
    except OSError:
        infos = []
    return frozenset(_connected_address(str(info[4][0])) for info in infos), port


def _connected_address(address: str) -> str:
    """The address a connection to ``address`` reaches: ``::ffff:a.b.c.d`` is IPv4, ``0.0.0.0`` loopback."""
    address = address.removeprefix("::ffff:")
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address, address)


def same_server(a: StorageConfig, b: StorageConfig) -> bool | None:
    """Whether two storages' endpoints reach one server: the same port and a shared address.

    None when either endpoint does not resolve: callers decide what "cannot tell" means
    (a destructive command must not take two buckets as one, nor keep one apart).
    """
    if a.endpoint == b.endpoint:
        return True
    (addresses_a, port_a), (addresses_b, port_b) = (
        endpoint_addresses(a.endpoint, a.use_https),
        endpoint_addresses(b.endpoint, b.use_https),
    )
    if not (addresses_a and addresses_b):
        return None
    return port_a == port_b and bool(addresses_a & addresses_b)


@functools.lru_cache(maxsize=64)
def _client(
    endpoint: str, secure: bool, region: str, credentials: Credentials | Provider | None, http_client: Any
) -> Minio:
    # The secret travels inside ``credentials``: no local variable of a frame that an
    # error report may show holds it (Minio's own frames get only the provider).
    provider = credentials.provider() if isinstance(credentials, Credentials) else credentials
    if isinstance(http_client, urllib3.PoolManager):
        _POOLS.add(http_client)
    return Minio(endpoint, credentials=provider, secure=secure, region=region, http_client=http_client)


# Every pool manager a client was built with: a forked child drops the connections it inherited.
_POOLS: weakref.WeakSet[urllib3.PoolManager] = weakref.WeakSet()


def _forget_inherited_connections() -> None:
    """In a forked child: give every pool manager new, empty pools (the parent's connections stay open).

    Without this, a worker forked after the parent made a request (a preloaded app,
    ``MINIO_CONSISTENCY_CHECK_ON_START``) sends on the parent's keep-alive socket, and
    parent and children read each other's answers. A lock another thread of the
    parent held at the fork stays held in the child for good, so none is waited for:
    the manager gets a new container, and each inherited pool new queue locks (the
    child has one thread) before it closes its copies of the connections.
    """
    for manager in list(_POOLS):
        inherited = manager.pools
        manager.pools = RecentlyUsedContainer(inherited._maxsize, dispose_func=inherited.dispose_func)
        for pool in list(inherited._container.values()):
            queue = pool.pool
            if queue is None:
                continue
            queue.mutex = threading.Lock()
            queue.not_empty = threading.Condition(queue.mutex)
            queue.not_full = threading.Condition(queue.mutex)
            queue.all_tasks_done = threading.Condition(queue.mutex)
            with contextlib.suppress(Exception):
                pool.close()


os.register_at_fork(after_in_child=_forget_inherited_connections)


def client_for(config: StorageConfig, http_client: Any = None) -> Minio:
    """The Minio client for the internal endpoint of ``config``."""
    if not config.endpoint:
        raise ConfigurationError("MINIO_ENDPOINT is not set (nor the storage's 'endpoint' option).")
    host, secure = split_endpoint(config.endpoint, config.use_https)
    provider = credentials_provider(config)
    return _client(
        host,
        secure,
        config.signing_region,
        provider or Credentials(config.access_key, config.secret_key, config.session_token),
        http_client
        or config.http_client
        or shared_http_client(config.ca_bundle, config.max_pool_connections),
    )


def _quote(value: str) -> str:
    return quote(value, safe="~")


@functools.lru_cache(maxsize=16384)
def _quote_path(name: str) -> str:
    """Percent-encode an object key for a URL path (cached: templates repeat names)."""
    return quote(name, safe="/~")


@dataclass(frozen=True)
class UrlSigner:
    """Builds public and presigned GET URLs for one bucket on one endpoint.

    With a ``provider`` every URL is signed with the keys it currently returns
    (temporary keys rotate); otherwise with the static keys and ``session_token``.
    """

    scheme: str
    host: str
    bucket: str
    region: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    provider: Provider | None = field(default=None, repr=False, compare=False)

    @classmethod
    def for_config(cls, config: StorageConfig) -> UrlSigner:
        if config.external_endpoint:
            endpoint, https = config.external_endpoint, config.external_endpoint_use_https
        else:
            endpoint, https = config.endpoint, config.use_https
        host, https = split_endpoint(endpoint, https)
        scheme = "https" if https else "http"
        default_port = ":443" if https else ":80"
        host = host.removesuffix(default_port)
        return cls(
            scheme=scheme,
            host=host,
            bucket=config.bucket_name,
            region=config.signing_region,
            access_key=config.access_key,
            secret_key=config.secret_key,
            session_token=config.session_token,
            provider=credentials_provider(config),
        )

    @cached_property
    def _base(self) -> str:
        return f"{self.scheme}://{self.host}"

    def path(self, name: str) -> str:
        return f"/{self.bucket}/{_quote_path(name)}"

    def public_url(self, name: str) -> str:
        return self._base + self.path(name)

    def _day(self, datestamp: str, access_key: str, secret_key: str) -> tuple[_SigningKey, str, str]:
        """Signing key, scope and query prefix of one day and key pair, computed once for both."""
        cached: _DayCache | None = self.__dict__.get("_day_cache")
        if cached is not None and cached[0] == (datestamp, access_key, secret_key):
            return cached[1]
        key = _signing_key(secret_key, datestamp, self.region)
        scope = f"{datestamp}/{self.region}/s3/aws4_request"
        prefix = (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
            + _quote(f"{access_key}/{scope}")
            + "&X-Amz-Date="
        )
        value = (key, scope, prefix)
        # A plain attribute store is atomic; a race only computes the day twice.
        object.__setattr__(self, "_day_cache", ((datestamp, access_key, secret_key), value))
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
        access_key, secret_key, token = self._keys()
        key, scope, prefix = self._day(amz_date[:8], access_key, secret_key)
        # The canonical query is sorted by name: the X-Amz-* parameters (fixed
        # order), then response-* overrides (lower case sorts after upper case).
        query = f"{prefix}{amz_date}&X-Amz-Expires={int(expires.total_seconds())}"
        if token:
            query += f"&X-Amz-Security-Token={_quote(token)}"
        query += "&X-Amz-SignedHeaders=host"
        if response_headers:
            query += "".join(f"&{_quote(k)}={_quote(v)}" for k, v in sorted(response_headers.items()))
        path = self.path(name)
        canonical = f"GET\n{path}\n{query}\nhost:{self.host}\n\nhost\nUNSIGNED-PAYLOAD"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = key.sign(to_sign)
        return f"{self._base}{path}?{query}&X-Amz-Signature={signature}"

    def presigned(
        self,
        method: str,
        name: str,
        expires: timedelta,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> str:
        """A presigned ``method`` URL with query ``params``, and ``headers`` signed into it.

        The request must send each of ``headers`` with exactly that value: a signed
        ``content-length`` makes the server refuse a body of any other size.
        """
        amz_date = _amz_date(now)
        access_key, secret_key, token = self._keys()
        key, scope, _ = self._day(amz_date[:8], access_key, secret_key)
        signed = {"host": self.host, **{k.lower(): str(v).strip() for k, v in (headers or {}).items()}}
        names = ";".join(sorted(signed))
        query_params = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{access_key}/{scope}",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(int(expires.total_seconds())),
            "X-Amz-SignedHeaders": names,
            **(params or {}),
        }
        if token:
            query_params["X-Amz-Security-Token"] = token
        # The canonical query is sorted by encoded name and encoded as in the URL.
        query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query_params.items()))
        path = self.path(name)
        canonical_headers = "".join(f"{k}:{signed[k]}\n" for k in sorted(signed))
        canonical = f"{method}\n{path}\n{query}\n{canonical_headers}\n{names}\nUNSIGNED-PAYLOAD"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        return f"{self._base}{path}?{query}&X-Amz-Signature={key.sign(to_sign)}"

    def _keys(self) -> tuple[str, str, str | None]:
        """Access key, secret key and session token: the provider's current ones if there is one."""
        if self.provider is None:
            return self.access_key, self.secret_key, self.session_token
        creds = self.provider.retrieve()
        return creds.access_key, creds.secret_key, creds.session_token


class _SigningKey:
    """One day's derived signing key: it signs anything that day, so no repr shows it."""

    __slots__ = ("_key",)

    def __init__(self, secret_key: str, datestamp: str, region: str) -> None:
        key = ("AWS4" + secret_key).encode()
        for part in (datestamp, region, "s3", "aws4_request"):
            key = hmac.digest(key, part.encode(), "sha256")
        self._key = key

    def sign(self, text: str) -> str:
        # hmac.new, not hmac.digest: the one-shot digest releases the GIL, which under
        # many threads costs each signature a wait to get it back.
        return hmac.new(self._key, text.encode(), "sha256").hexdigest()

    def __repr__(self) -> str:
        return "<signing key>"


def sign_request(
    method: str,
    path: str,
    headers: dict[str, str],
    payload_hash: str,
    *,
    region: str,
    credentials: MinioCredentials,
) -> None:
    """Sign a request in its headers (AWS Signature V4): adds ``x-amz-date`` and ``authorization``.

    ``headers`` (lower-case names, ``host`` among them) are all signed, as sent;
    ``path`` is the URL path as sent, without a query. The signing key is cached
    per day, region and secret (no frame's locals hold the secret itself).
    """
    amz_date = _amz_date(None)
    headers["x-amz-date"] = amz_date
    key = _signing_key(credentials.secret_key, amz_date[:8], region)
    names = sorted(headers)
    canonical_headers = "".join(f"{name}:{_MULTI_SPACE.sub(' ', headers[name]).strip()}\n" for name in names)
    signed = ";".join(names)
    canonical = f"{method}\n{path}\n\n{canonical_headers}\n{signed}\n{payload_hash}"
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={key.sign(to_sign)}"
    )


_MULTI_SPACE = re.compile(" +")


@functools.lru_cache(maxsize=16)
def _signing_key(secret_key: str, datestamp: str, region: str) -> _SigningKey:
    return _SigningKey(secret_key, datestamp, region)


# UrlSigner._day's cache: the (datestamp, access key, secret key) it holds, and its answer for them.
_DayCache = tuple[tuple[str, str, str], tuple[_SigningKey, str, str]]


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
