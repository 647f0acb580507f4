"""The content type the upload itself declares (an ``UploadedFile``'s, say)."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl


@hookimpl(trylast=True)
def content_type_guess(content: Any) -> str | None:
    value = getattr(content, "content_type", None)
    return value if isinstance(value, str) and value else None
