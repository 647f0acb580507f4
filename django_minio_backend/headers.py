"""Upload headers from the ways older backends spelled them.

Three spellings reach a save: 3.x's ``metadata`` (minio's: standard headers and
``x-amz-*`` keys are headers, any other key is user metadata), 4.x's
``headers`` / ``user_metadata`` / ``retention`` / ``legal_hold`` / ``extra_headers``
put_object arguments, and django-storages' boto3 parameters
(``{"CacheControl": ..., "Metadata": {...}}``, from ``AWS_S3_OBJECT_PARAMETERS``
or ``get_object_parameters(name)``). Each becomes plain HTTP headers here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from .conf import StorageConfig

USER_METADATA_PREFIX = "x-amz-meta-"
# Sent as headers when they appear in ``metadata`` (what minio's put_object did for 3.x).
STANDARD_HEADERS = frozenset(
    {
        "cache-control",
        "content-disposition",
        "content-encoding",
        "content-language",
        "content-type",
        "expires",
    }
)
# boto3 put_object parameters (django-storages) and the header each one is.
BOTO3_PARAMETERS = {
    "ACL": "x-amz-acl",
    "CacheControl": "Cache-Control",
    "ContentDisposition": "Content-Disposition",
    "ContentEncoding": "Content-Encoding",
    "ContentLanguage": "Content-Language",
    "ContentType": "Content-Type",
    "Expires": "Expires",
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
    "StorageClass": "x-amz-storage-class",
    "Tagging": "x-amz-tagging",
    "WebsiteRedirectLocation": "x-amz-website-redirect-location",
    "ObjectLockMode": "x-amz-object-lock-mode",
    "ObjectLockRetainUntilDate": "x-amz-object-lock-retain-until-date",
    "ObjectLockLegalHoldStatus": "x-amz-object-lock-legal-hold",
}


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return _http_date(value)
    return str(value)


def _utc(value: datetime) -> datetime:
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _http_date(value: datetime) -> str:
    return _utc(value).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _iso_date(value: datetime) -> str:
    """The ISO 8601 form S3 wants in object-lock headers: ``2030-01-02T03:04:05.000Z``."""
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def user_metadata_headers(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """Every key as ``x-amz-meta-<key>`` (a key already so prefixed is kept as it is)."""
    headers = {}
    for key, value in (metadata or {}).items():
        key = str(key)
        name = key if key.lower().startswith(USER_METADATA_PREFIX) else USER_METADATA_PREFIX + key
        headers[name] = _text(value)
    return headers


def metadata_headers(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """3.x's ``metadata``: standard headers and ``x-amz-*`` keys as headers, other keys user metadata.

    ``{"Cache-Control": "max-age=60", "x-amz-storage-class": "STANDARD", "owner": "ann"}``
    gives ``Cache-Control``, ``x-amz-storage-class`` and ``x-amz-meta-owner``.
    """
    headers: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        key = str(key)
        lowered = key.lower()
        if lowered in STANDARD_HEADERS or lowered.startswith("x-amz-"):
            headers[key] = _text(value)
        else:
            headers.update(user_metadata_headers({key: value}))
    return headers


def boto3_headers(params: Mapping[str, Any] | None) -> dict[str, str]:
    """django-storages' boto3 parameters as headers; keys that already are header names pass through.

    ``Metadata`` becomes ``x-amz-meta-*`` and a ``Tagging`` dict is URL-encoded.
    """
    headers: dict[str, str] = {}
    for key, value in (params or {}).items():
        if key == "Metadata":
            headers.update(user_metadata_headers(value))
        elif key == "Tagging" and isinstance(value, Mapping):
            headers["x-amz-tagging"] = urlencode(dict(value))
        elif key == "ObjectLockRetainUntilDate" and isinstance(value, datetime):
            headers[BOTO3_PARAMETERS[key]] = _iso_date(value)
        elif value is not None:
            headers[BOTO3_PARAMETERS.get(key, key)] = _text(value)
    return headers


def object_lock_headers(retention: Any, legal_hold: bool) -> dict[str, str]:
    """4.x's ``retention`` (a ``minio.retention.Retention``) and ``legal_hold`` as headers."""
    headers = {}
    if retention is not None and getattr(retention, "mode", None):
        headers["x-amz-object-lock-mode"] = str(retention.mode)
        headers["x-amz-object-lock-retain-until-date"] = _iso_date(retention.retain_until_date)
    if legal_hold:
        headers["x-amz-object-lock-legal-hold"] = "ON"
    return headers


def merge_headers(*layers: Mapping[str, str]) -> dict[str, str]:
    """The headers of ``layers``; a later layer's header replaces an earlier one's in any case of its name.

    One layer that holds two spellings of a name keeps both, for ``encode_headers``
    to refuse: which one was meant cannot be told.
    """
    result: dict[str, str] = {}
    for layer in layers:
        lowered = {name.lower() for name in layer}
        for name in [name for name in result if name.lower() in lowered]:
            del result[name]
        result.update(layer)
    return result


def option_headers(config: StorageConfig) -> dict[str, str]:
    """The headers the header-like storage options ask for, later ones winning.

    ``metadata`` (3.x meaning), then 4.x's ``headers`` (minio gave them the same
    meaning), ``user_metadata``, ``retention``/``legal_hold`` and ``extra_headers``
    (sent as they are, last, as minio did). ``headers`` and ``extra_headers`` also
    take boto3 names.
    """
    return merge_headers(
        metadata_headers(config.metadata),
        metadata_headers(boto3_headers(config.headers)),
        user_metadata_headers(config.user_metadata),
        object_lock_headers(config.retention, config.legal_hold),
        boto3_headers(config.extra_headers),
    )
