"""Content-Type from the bytes of an upload, not from its name.

The plugin answers django-minio-backend's ``content_type_guess`` hook first
(``tryfirst``): it reads the first :data:`SNIFF_BYTES` bytes of the upload,
matches them against the magic-number signatures of the `filetype`_ library and
returns the detected MIME type. A PNG uploaded as ``notes.txt`` is stored as
``image/png``, a PDF uploaded as ``photo.jpg`` as ``application/pdf``.

When the bytes match no signature (plain text, CSV, JSON, HTML, ... have none)
or the upload can't be read without losing its position, it answers None and the
built-ins decide as before: the upload's own ``content_type``, then
:mod:`mimetypes` on the name.

Installed, the plugin is found through the ``django_minio_backend`` entry-point
group under the name ``sniff_content_type``;
``MINIO_DISABLED_PLUGINS = ["sniff_content_type"]`` turns it off.

.. _filetype: https://pypi.org/project/filetype/
"""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING, Any

import filetype
from django_minio_backend import hookimpl

if TYPE_CHECKING:
    from django.core.files import File

__all__ = ["SNIFF_BYTES", "content_type_guess", "sniff"]
__version__ = "1.0.0"

#: How many bytes from the start of the upload are inspected (filetype reads no more).
SNIFF_BYTES = 8192

#: Answers too vague to beat the name: no opinion instead.
_GENERIC = frozenset({"application/octet-stream"})
_ZIP = "application/zip"


def sniff(data: bytes | bytearray) -> str | None:
    """Return the MIME type that ``data`` (the start of a file) has a signature of, or None."""
    if not data:
        return None
    # Always bytes: filetype takes a str for a path to open.
    mime: str | None = filetype.guess_mime(bytearray(data[:SNIFF_BYTES]))
    return None if mime in _GENERIC else mime


def _zip_based(name: str) -> bool:
    """Tell whether ``name``'s extension stands for a format stored in a ZIP container.

    JAR, APK, XPI, EPUB, OOXML and OpenDocument files all start with a ZIP header;
    filetype recognizes some of them and calls the others ``application/zip``, a
    less useful answer than the name's own type.
    """
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if not guessed or guessed == _ZIP or not guessed.startswith("application/"):
        return False
    subtype = guessed.removeprefix("application/")
    return subtype.endswith("+zip") or subtype.startswith(("vnd.", "x-", "java-archive"))


def _read_head(content: Any) -> bytes | None:
    """Read the first bytes of ``content`` and put its position back; None if it can't."""
    seekable = getattr(content, "seekable", None)
    try:
        if callable(seekable) and not seekable():
            return None
        position = content.tell()
        content.seek(0)
    except (AttributeError, OSError, ValueError):  # no tell/seek, unsupported operation, closed
        return None
    try:
        head = content.read(SNIFF_BYTES)
    except (OSError, ValueError):
        head = None
    finally:
        content.seek(position)  # seek worked a moment ago; if it fails now, that is an error
    if isinstance(head, str):  # a text-mode file: sniff what it would store
        return head.encode("utf-8", "surrogateescape")
    return bytes(head) if head else None


@hookimpl(tryfirst=True)
def content_type_guess(name: str, content: File) -> str | None:
    """Return the MIME type detected from the first bytes of ``content``, or None.

    ``content`` is a Django ``File`` (any object with ``seek``/``tell``/``read``
    does). Its position is the same afterwards as before. A stream that is not
    seekable is not read at all (None). A bare ZIP signature under a name whose
    type is a ZIP-based format (``.docx``, ``.jar``, ``.apk``, ``.epub``, ...)
    gives None too, so the name's more precise type is kept.
    """
    head = _read_head(content)
    if head is None:
        return None
    mime = sniff(head)
    if mime == _ZIP and _zip_based(name):
        return None
    return mime
