"""Object names: validation, ISO-date prefixes and the plugin name strategy."""

from __future__ import annotations

import functools
import posixpath
import re
from datetime import datetime, timezone
from typing import Any

from django.core.exceptions import SuspiciousFileOperation

MAX_KEY_BYTES = 1024
# Unicode category Cc (control characters), as one regex scan instead of a lookup per character.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def get_iso_date() -> str:
    """Today's UTC date as ``YYYY-MM-DD``."""
    return datetime.now(timezone.utc).date().isoformat()


def iso_date_prefix(instance: Any, filename: str) -> str:
    """``upload_to`` callable: ``YYYY-MM-DD/filename`` whatever plugins are installed."""
    return f"{get_iso_date()}/{filename}"


def join_prefix(prefix: str | None, filename: str) -> str:
    prefix = (prefix or "").strip("/")
    return f"{prefix}/{filename}" if prefix else filename


def plugin_prefix(instance: Any, filename: str) -> str:
    """``upload_to`` callable that asks the ``upload_to_prefix`` hook chain.

    With only the built-ins installed this equals :func:`iso_date_prefix`; an
    installed name-strategy plugin takes over without touching models.
    """
    from .manager import upload_to_prefix

    return join_prefix(upload_to_prefix(instance=instance, filename=filename, storage=None), filename)


def clean_name(name: str) -> str:
    """Validate an object name and return it in canonical form (``/`` separators).

    Refuses what could escape the bucket or cannot be an S3 key, naming the
    problem: ``..`` components and absolute paths (SuspiciousFileOperation),
    empty names, NUL and control characters, a trailing slash and names over
    1024 bytes in UTF-8 (ValueError).
    """
    if not isinstance(name, str):
        raise ValueError(f"object name must be a string, not {type(name).__name__}")
    if len(name) > MAX_KEY_BYTES:  # valid only when padded (``./``, ``//``): not worth keeping
        return _clean_name(name)
    return _cached_clean_name(name)


def _clean_name(name: str) -> str:
    name = name.replace("\\", "/")
    if not name or name in (".", "/"):
        raise ValueError("object name is empty")
    if _CONTROL.search(name):
        raise ValueError(f"object name {name!r} contains a NUL or control character")
    if name.startswith("/") or posixpath.isabs(name):
        raise SuspiciousFileOperation(f"object name {name!r} is an absolute path")
    parts = name.split("/")
    if ".." in parts:
        raise SuspiciousFileOperation(f"object name {name!r} contains a '..' component")
    if name.endswith("/"):
        raise ValueError(f"object name {name!r} ends with a slash (that is a folder)")
    name = "/".join(p for p in parts if p not in ("", "."))
    if len(name.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"object name is over {MAX_KEY_BYTES} bytes once UTF-8 encoded")
    return name


# A save validates its name three times (save, get_available_name, the key); url(), exists()
# and open() repeat names. Answers are cached for names up to 1024 characters: whatever names
# requests bring, at most 4096 x 1024 characters are kept (a refused name raises again each time).
_cached_clean_name = functools.lru_cache(maxsize=4096)(_clean_name)
