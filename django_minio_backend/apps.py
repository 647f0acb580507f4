"""App configuration: registers checks; touches the network only when asked to."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed

logger = logging.getLogger("django_minio_backend")


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    from . import buckets, manager

    if setting in ("MINIO_PLUGINS", "MINIO_DISABLED_PLUGINS"):
        manager.reset()
    if setting.startswith("MINIO_") or setting == "STORAGES":
        buckets.forget_known_buckets()


def is_autoreload_parent(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether this is runserver's file-watching process, whose child (RUN_MAIN=true) serves.

    The on-start check runs once, in the child, instead of twice.
    """
    return (
        len(argv) > 1
        and argv[1] == "runserver"
        and "--noreload" not in argv
        and environ.get("RUN_MAIN") != "true"
    )


def _asked_by_an_alias() -> bool:
    """Whether some STORAGES alias turns the on-start check on in its OPTIONS (upstream 4.x style)."""
    from django.conf import settings

    for entry in (getattr(settings, "STORAGES", None) or {}).values():
        options = entry.get("OPTIONS") or {}
        if options.get("MINIO_CONSISTENCY_CHECK_ON_START") or options.get("consistency_check_on_start"):
            return True
    return False


class DjangoMinioBackendConfig(AppConfig):
    name = "django_minio_backend"
    verbose_name = "MinIO / S3 storage"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .conf import global_setting

        setting_changed.connect(_on_setting_changed, dispatch_uid="django_minio_backend.settings")
        asked = global_setting("MINIO_CONSISTENCY_CHECK_ON_START") or _asked_by_an_alias()
        # minio_devserver starts the server the check would ask: it creates the buckets itself.
        devserver = sys.argv[1:2] == ["minio_devserver"]
        if asked and not devserver and not is_autoreload_parent(sys.argv, os.environ):
            from .buckets import initialize_buckets

            for report in initialize_buckets(on_start=True):
                logger.info("%s", report.line())
