"""The content type :mod:`mimetypes` guesses from the name."""

from __future__ import annotations

import mimetypes

from ..hookspecs import hookimpl


@hookimpl(trylast=True)
def content_type_guess(name: str) -> str | None:
    return mimetypes.guess_type(name, strict=False)[0]
