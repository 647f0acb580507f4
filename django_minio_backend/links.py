"""Presigned URLs: response-header overrides, signing windows and the URL cache.

``MinioBackend.url()`` validates the name and hands the key here; nothing in this
module makes a network request (the cache is Django's).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

from .client import UrlSigner
from .conf import MAX_URL_EXPIRY, StorageConfig
from .header_encoding import HeaderValueError, content_disposition

URL_CACHE_MARGIN = 60  # seconds a cached URL must still be valid when served
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # signing windows are aligned to it


def response_params(headers: Mapping[str, str] | None) -> dict[str, str]:
    """``{"content-disposition": ...}`` -> ``{"response-content-disposition": ...}``.

    The server sends these values back as headers: a non-ASCII file name is encoded
    as RFC 6266 says (``filename*``), any other non-ASCII value is refused.
    """
    params = {}
    for key, value in (headers or {}).items():
        key = key.lower()
        key = key if key.startswith("response-") else f"response-{key}"
        if not isinstance(value, str):
            raise HeaderValueError(f"url(): the value of {key!r} must be str, not {type(value).__name__}")
        if any(unicodedata.category(c) == "Cc" for c in value):
            raise HeaderValueError(f"url(): the value of {key!r} contains a line break or control character")
        if key == "response-content-disposition":
            value = content_disposition(value)
        elif not value.isascii():
            raise HeaderValueError(f"url(): the value of {key!r} is not ASCII: {value!r}")
        params[key] = value
    return params


def names_root_or_folder(name: str) -> bool:
    """``""``, ``"/"``, ``"./."``, ``"dir/"``: names of the bucket root or of a "folder"."""
    spelled = name.replace("\\", "/")
    return spelled.endswith("/") or all(part in ("", ".") for part in spelled.split("/"))


def _cache_key(
    config: StorageConfig, signer: UrlSigner, key: str, expiry: timedelta, overrides: dict[str, str]
) -> str:
    """Everything a presigned URL depends on: storages that sign differently never share an entry.

    The keys count too: after the secret key (or session token) is rotated under the same
    access key, URLs signed with the old one are not served from a shared cache.
    """
    raw = "\0".join(
        [
            signer.scheme,
            signer.host,
            signer.bucket,
            signer.region,
            signer.access_key,
            hashlib.sha256(f"{signer.secret_key}\0{signer.session_token or ''}".encode()).hexdigest(),
            key,
            str(expiry),
            str(config.url_signing_window),
            repr(sorted(overrides.items())),
        ]
    )
    return config.url_cache_prefix + hashlib.sha256(raw.encode()).hexdigest()


def presigned_url(
    config: StorageConfig, signer: UrlSigner, key: str, expiry: timedelta, overrides: dict[str, str]
) -> str:
    """A URL of ``key`` valid at least ``expiry`` from now, from Django's cache when enabled."""
    if not config.url_caching_enabled or signer.provider is not None:
        # Keys from a provider rotate and end a URL's validity with them: never cached.
        return sign(config, signer, key, expiry, overrides)[0]
    from django.core.cache import cache

    cache_key = _cache_key(config, signer, key, expiry, overrides)
    url: str | None = cache.get(cache_key)
    if url is None:
        # Signed for the cache's time on top of the expiry, so a URL served from the cache
        # still has ``expiry`` to live; near the 7 days S3 allows, what is left of them.
        keep = min(
            config.url_cache_timeout or 0.8 * expiry.total_seconds(), 0.8 * MAX_URL_EXPIRY.total_seconds()
        )
        signed = min(expiry + timedelta(seconds=keep), MAX_URL_EXPIRY)
        promised = min(expiry, signed - timedelta(seconds=keep))
        url, valid_until = sign(config, signer, key, signed, overrides)
        now = datetime.now(timezone.utc)
        timeout = (valid_until - now - promised).total_seconds() - URL_CACHE_MARGIN
        if timeout > 0:
            cache.set(cache_key, url, timeout=int(timeout))
    return url


def sign(
    config: StorageConfig, signer: UrlSigner, key: str, expiry: timedelta, overrides: dict[str, str]
) -> tuple[str, datetime]:
    """A presigned URL valid at least ``expiry`` from now, and the moment it stops being valid.

    Without a signing window the URL is signed now (to the second, so its
    lifetime is rounded up). With one, it is signed at the window's start
    for ``expiry + window``: every call in the window gets the same URL, valid
    between ``expiry`` and ``expiry + window`` from the call. When
    ``expiry + window`` is over S3's 7 days (check E031 reports it for the
    configured expiry), that promise cannot be kept: the URL is signed now.
    """
    now = datetime.now(timezone.utc)
    start, end = now, now + expiry
    window = config.url_signing_window
    if window and expiry + window <= MAX_URL_EXPIRY:
        start = now - (now - _EPOCH) % window
        end = start + expiry + window
    signed_at = start.replace(microsecond=0)
    seconds = min(-((signed_at - end) // timedelta(seconds=1)), int(MAX_URL_EXPIRY.total_seconds()))
    lifetime = timedelta(seconds=seconds)
    url = signer.presigned_url(key, lifetime, now=signed_at, response_headers=overrides)
    return url, signed_at + lifetime
