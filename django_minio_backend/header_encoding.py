"""Upload header values made safe for HTTP: ASCII only, one line, signed as sent.

HTTP/1.1 header values are bytes, and the SDK signs what we give it as text: a
non-ASCII value is sent as Latin-1 (the signature, computed over UTF-8, then fails
as ``SignatureDoesNotMatch``) or cannot be sent at all. So values are encoded where
a standard says how, and refused, naming the header, everywhere else:

* ``Content-Disposition``: a non-ASCII ``filename`` becomes an ASCII ``filename``
  fallback plus ``filename*=UTF-8''...`` (RFC 6266 / RFC 5987), which browsers prefer.
* ``x-amz-meta-*`` values: an RFC 2047 encoded word (``=?UTF-8?B?...?=``), the form the
  S3 documentation gives for non-ASCII user metadata; decode with
  :func:`email.header.decode_header` when reading it back.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Mapping
from urllib.parse import quote

from .content_types import ContentTypeError, parse_content_type

__all__ = ["HeaderValueError", "content_disposition", "encode_headers", "encoded_word"]

META_PREFIX = "x-amz-meta-"
# Headers that turn an upload into a server-side copy of another object (any the
# credentials can read) or change what a copy keeps: never an upload's own header.
COPY_HEADER_PREFIXES = ("x-amz-copy-source", "x-amz-metadata-directive")
# Headers of the request itself, set for each request: a caller's value would make a body of the
# wrong length (the server waits for bytes that never come) or a request to another host.
TRANSPORT_HEADERS = frozenset({"content-length", "host", "transfer-encoding", "expect", "connection"})
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 field name
# Unicode category Cc (C0, DEL, C1) except the tab: one regex search instead of a lookup per character.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# One parameter of a Content-Disposition value: name = token or "quoted string".
_PARAM = re.compile(r'\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*?)\s*(?:;|$)')


class HeaderValueError(ValueError):
    """An upload header cannot be sent as given; the message names it."""


def encoded_word(value: str) -> str:
    """``value`` as one RFC 2047 encoded word (UTF-8, base64), or unchanged when ASCII without tabs.

    A tab is encoded too: servers disagree on how it is signed (SeaweedFS refuses the signature).
    """
    if value.isascii() and "\t" not in value:
        return value
    return "=?UTF-8?B?" + base64.b64encode(value.encode()).decode("ascii") + "?="


def _ascii_fallback(value: str) -> str:
    # "résumé" -> "resume"; what has no ASCII form (CJK) becomes "_".
    decomposed = unicodedata.normalize("NFKD", value)
    text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c if c.isascii() and c.isprintable() else "_" for c in text)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def content_disposition(value: str) -> str:
    """``value`` with each non-ASCII ``filename`` as an ASCII fallback plus ``filename*``.

    ``attachment; filename="résumé.pdf"`` becomes
    ``attachment; filename="resume.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf``.
    Raises HeaderValueError when something else in it is not ASCII.
    """
    if value.isascii():
        return value
    kind, _, rest = value.partition(";")
    if not kind.isascii():
        raise HeaderValueError(f"Content-Disposition type {kind.strip()!r} is not ASCII")
    parts = [kind.strip()]
    names = {m.group(1).lower() for m in _PARAM.finditer(rest)}
    position = 0
    for match in _PARAM.finditer(rest):
        if rest[position : match.start()].strip():
            break
        position = match.end()
        name, raw = match.group(1), match.group(2)
        text = _unquote(raw)
        if text.isascii():
            parts.append(f"{name}={raw}")
        elif name.lower() == "filename":
            fallback = _ascii_fallback(text).replace("\\", "_").replace('"', "_")
            parts.append(f'filename="{fallback}"')
            if "filename*" not in names:  # a filename* given by the caller wins
                parts.append("filename*=UTF-8''" + quote(text, safe="!#$&+-.^_`|~"))
        else:
            raise HeaderValueError(f"Content-Disposition parameter {name!r} is not ASCII: {text!r}")
    if rest[position:].strip():
        raise HeaderValueError(f"Content-Disposition {value!r} cannot be parsed")
    return "; ".join(parts)


def encode_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` ready to sign and send: ASCII, one line each.

    Encodes non-ASCII ``Content-Disposition`` file names (RFC 5987) and
    ``x-amz-meta-*`` values with non-ASCII or tabs (RFC 2047), sends other tabs as
    spaces; raises HeaderValueError, naming the header,
    for a name that is not an HTTP token, a value with a line break or control
    character, non-ASCII anywhere else, a Content-Type that is not one plain
    ``type/subtype`` and the copy headers (``x-amz-copy-source*``,
    ``x-amz-metadata-directive``).
    """
    result: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        if not _TOKEN.match(name):
            raise HeaderValueError(
                f"upload header name {name!r} is not a valid HTTP header name (ASCII token)"
            )
        lower = name.lower()
        if lower in TRANSPORT_HEADERS:
            raise HeaderValueError(f"upload header {name!r} is set by the backend for each request")
        if lower in seen:
            raise HeaderValueError(f"upload header {name!r} is given twice (header names ignore case)")
        seen.add(lower)
        if not isinstance(value, str):
            raise HeaderValueError(f"upload header {name!r}: value must be str, not {type(value).__name__}")
        if _CONTROL.search(value):
            raise HeaderValueError(
                f"upload header {name!r}: value {value!r} contains a line break or control character"
            )
        if lower.startswith(COPY_HEADER_PREFIXES):
            raise HeaderValueError(f"upload header {name!r} is not allowed: it makes the upload a copy")
        if lower == "content-type":
            try:
                parse_content_type(value)
            except ContentTypeError as exc:
                raise HeaderValueError(f"upload header {name!r}: {exc}") from None
        if lower.startswith(META_PREFIX):
            result[name] = encoded_word(value)
            continue
        # A tab is white space to HTTP, but servers sign it differently (SeaweedFS refuses the
        # signature): sent as a space, which means the same in these headers.
        if "\t" in value:  # (only then: a Secret value must stay a Secret, hidden from reprs)
            value = value.replace("\t", " ")
        if value.isascii():
            result[name] = value
        elif lower == "content-disposition":
            try:
                result[name] = content_disposition(value)
            except HeaderValueError as exc:
                raise HeaderValueError(f"upload header {name!r}: {exc}") from None
        else:
            raise HeaderValueError(
                f"upload header {name!r}: value {value!r} is not ASCII (only Content-Disposition file "
                "names and x-amz-meta-* values are encoded)"
            )
    return result
