"""Direct browser uploads for authenticated users, up to ``MINIO_DIRECT_UPLOAD_MAX_SIZE``, asked last."""

from __future__ import annotations

from typing import Any

from ..conf import global_setting
from ..direct import UploadRules
from ..hookspecs import hookimpl


@hookimpl(trylast=True)
def direct_upload_rules(request: Any) -> UploadRules:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return UploadRules.refuse("log in to upload files")
    return UploadRules(max_size=int(global_setting("MINIO_DIRECT_UPLOAD_MAX_SIZE")))
