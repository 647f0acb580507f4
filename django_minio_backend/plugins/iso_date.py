"""The default name strategy: uploads go under the UTC date, ``YYYY-MM-DD``."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..names import get_iso_date


@hookimpl(trylast=True)
def upload_to_prefix() -> str:
    return get_iso_date()
