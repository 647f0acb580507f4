"""Direct uploads by users who may add or change the model (up to the max size); asked last."""

from __future__ import annotations

from typing import Any

from django.db import models

from ..conf import global_setting
from ..direct import UploadRules
from ..hookspecs import hookimpl


@hookimpl(trylast=True)
def direct_upload_rules(request: Any, model: type[models.Model]) -> UploadRules:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return UploadRules.refuse("log in to upload files")
    # The permissions that would let the user save the model with a file of their choice anyway.
    meta = model._meta
    perms = (f"{meta.app_label}.add_{meta.model_name}", f"{meta.app_label}.change_{meta.model_name}")
    if not any(user.has_perm(perm) for perm in perms):
        return UploadRules.refuse(f"you may not add or change {meta.verbose_name_plural}")
    return UploadRules(max_size=int(global_setting("MINIO_DIRECT_UPLOAD_MAX_SIZE")))
