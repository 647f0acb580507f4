"""Exceptions raised by the backend."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import urllib3
from django.core.exceptions import ImproperlyConfigured
from minio.error import InvalidResponseError, S3Error, ServerError

NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "ResourceNotFound"})
CREDENTIAL_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"})


class ConfigurationError(ImproperlyConfigured):
    """A setting or storage option cannot work; the message names it."""


class PluginError(RuntimeError):
    """A plugin failed; ``plugin_name`` says which one."""

    def __init__(self, plugin_name: str, hook: str, error: BaseException) -> None:
        super().__init__(f"plugin {plugin_name!r} failed in hook {hook!r}: {error!r}")
        self.plugin_name = plugin_name
        self.hook = hook


class StorageError(OSError):
    """An S3 request failed; the message names the endpoint and the object."""


class ObjectChangedError(StorageError):
    """An object was replaced while a file opened from it was being read."""


def connection_hint(exc: BaseException) -> str:
    """What to change when a TLS handshake failed, or "" (the error text is enough)."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            "; the server's certificate is not trusted: for a private CA or a self-signed server "
            "set MINIO_CA_BUNDLE to its CA file (PEM)"
        )
    # OpenSSL's words for a TLS hello answered in plain HTTP (1.1/3.0, then 3.2+).
    if any(words in text for words in ("WRONG_VERSION_NUMBER", "record layer failure", "packet length")):
        return "; the server speaks plain HTTP: set MINIO_USE_HTTPS = False"
    return ""


def frameless(exc: BaseException) -> BaseException:
    """``exc`` and the exceptions chained to it, without their tracebacks.

    The frames are the SDK's and urllib3's, whose locals hold every request header,
    the session token among them: error reports (Django's 500 page, e-mails, error
    trackers) show frame locals. The messages, which name the endpoint and object, stay.
    """
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return exc


@contextlib.contextmanager
def s3_errors(endpoint: str, bucket: str, action: str, name: str = "") -> Iterator[None]:
    """Turn SDK and transport errors into OSError subclasses naming the endpoint and object.

    ``FileNotFoundError`` for missing objects or buckets, ``PermissionError`` for
    refused credentials, :class:`StorageError` for everything else.
    """
    where = f"{endpoint}/{bucket}" + (f"/{name}" if name else "")
    try:
        yield
    except S3Error as exc:
        if exc.code in NOT_FOUND_CODES:
            raise FileNotFoundError(f"{action}: {where} does not exist ({exc.code})") from frameless(exc)
        if exc.code in CREDENTIAL_CODES:
            raise PermissionError(
                f"{action}: the server at {endpoint} refused the credentials "
                f"or the access ({exc.code}) for {where}"
            ) from frameless(exc)
        raise StorageError(f"{action}: {where}: {exc.code}: {exc.message}") from frameless(exc)
    except InvalidResponseError as exc:
        # Not S3's XML: a proxy's or load balancer's page (413, 502 ...); its text, shortened.
        text = str(exc)
        text = text if len(text) <= 300 else text[:300] + "..."
        raise StorageError(f"{action}: {where}: the server did not answer as S3 does: {text}") from frameless(
            exc
        )
    except (urllib3.exceptions.HTTPError, ServerError, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError, StorageError)):
            raise
        hint = connection_hint(exc)
        raise StorageError(f"{action}: cannot reach S3 at {where} ({exc}){hint}") from frameless(exc)
