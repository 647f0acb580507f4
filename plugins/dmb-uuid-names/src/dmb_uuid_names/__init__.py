"""Collision-free upload folders for django-minio-backend.

Every new upload goes under a folder of its own, named by a fresh random UUID
(``uuid4().hex``, 32 lowercase hex digits): ``<uuid hex>/<filename>``. Two uploads
of ``report.pdf`` never overwrite each other and the object names don't reveal
when a file was uploaded.

With ``DMB_UUID_NAMES_WITH_DATE = True`` in the Django settings the prefix is
``YYYY-MM-DD/<uuid hex>`` (UTC date) instead, which keeps a bucket browsable by day.

Installed, the plugin is found through the ``django_minio_backend`` entry-point
group under the name ``uuid_names``; ``MINIO_DISABLED_PLUGINS = ["uuid_names"]``
turns it off.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from django.conf import settings
from django_minio_backend import hookimpl

__all__ = ["SETTING_WITH_DATE", "upload_to_prefix"]
__version__ = "1.0.0"

#: Name of the optional Django setting that puts the UTC date before the UUID.
SETTING_WITH_DATE = "DMB_UUID_NAMES_WITH_DATE"


def _with_date() -> bool:
    """Read ``DMB_UUID_NAMES_WITH_DATE`` at call time (False when unset or settings aren't configured)."""
    if not settings.configured:
        return False
    return bool(getattr(settings, SETTING_WITH_DATE, False))


@hookimpl
def upload_to_prefix() -> str:
    """Return ``<uuid4 hex>``, or ``YYYY-MM-DD/<uuid4 hex>`` with the date setting on.

    The hook's ``instance``, ``filename`` and ``storage`` arguments don't matter to
    this strategy, so the implementation takes none of them. The answer is never
    None, so this plugin takes precedence over the built-in ISO-date prefix (trylast).
    """
    folder = uuid.uuid4().hex
    if _with_date():
        return f"{datetime.now(timezone.utc).date().isoformat()}/{folder}"
    return folder
