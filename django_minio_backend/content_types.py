"""Declared content types parsed strictly: one ``type/subtype``, nothing a browser could read otherwise.

A browser or a client declares the type of what it uploads; stored as given, a
value such as ``text/plain;,text/html`` or ``image/png, text/html`` is one type to
a pattern match and another to the browser that later opens the object (which
then runs its script). So a declared type is reduced to ``type/subtype`` in RFC
9110 token characters, lower-cased, with at most a ``charset`` parameter, and
anything else (lists, wildcards, control or non-ASCII characters) is refused.
"""

from __future__ import annotations

import re

__all__ = ["ContentTypeError", "parse_content_type"]

_TOKEN = r"[!#$%&'+.^_`|~0-9a-z-]+"  # RFC 9110 tchar without "*": a wildcard is no type
_TYPE = re.compile(rf"({_TOKEN})/({_TOKEN})")
_CHARSET = re.compile(rf'charset\s*=\s*"?({_TOKEN})"?')


class ContentTypeError(ValueError):
    """A declared content type is not one plain ``type/subtype``; the message says why."""


def parse_content_type(value: str) -> str:
    """``value`` as ``type/subtype`` (lower case), plus ``; charset=...`` when it names one.

    Other parameters are dropped. Raises ContentTypeError for anything that is not
    exactly one media type: a comma, a wildcard, a control or non-ASCII character.
    """
    if not value.isascii() or not value.isprintable() or "," in value:
        raise ContentTypeError(f"content type {value!r} is not one plain type/subtype")
    main, _, params = value.lower().partition(";")
    if not _TYPE.fullmatch(main.strip(" \t")):
        raise ContentTypeError(f"content type {value!r} is not one plain type/subtype")
    parsed = main.strip(" \t")
    for param in params.split(";") if params else ():
        charset = _CHARSET.fullmatch(param.strip(" \t"))
        if charset:
            return f"{parsed}; charset={charset.group(1)}"
    return parsed
