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
    from . import buckets, capabilities, manager

    if setting in ("MINIO_PLUGINS", "MINIO_DISABLED_PLUGINS"):
        manager.reset()
    if setting.startswith("MINIO_") or setting == "STORAGES":
        buckets.forget_known_buckets()
        capabilities.forget()


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


# manage.py commands that never read or write files in storage: no on-start check for them.
# minio_devserver starts the server the check would ask, and creates the buckets itself.
COMMANDS_WITHOUT_STORAGE = frozenset(
    {
        "minio_devserver",
        "help",
        "version",
        "makemigrations",
        "showmigrations",
        "sqlmigrate",
        "squashmigrations",
        "optimizemigration",
        "makemessages",
        "compilemessages",
        "startapp",
        "startproject",
        "diffsettings",
        "dbshell",
        "sqlflush",
        "sqlsequencereset",
        "inspectdb",
    }
)


def runs_without_storage(argv: Sequence[str]) -> bool:
    """Whether ``argv`` is a manage.py command that does not touch storage (or asks for help)."""
    if len(argv) < 2:
        return False
    return argv[1] in COMMANDS_WITHOUT_STORAGE or argv[1] in ("--help", "-h", "--version") or "--help" in argv


def _asked_by_an_alias() -> bool:
    """Whether some STORAGES alias turns the on-start check on in its OPTIONS (upstream 4.x style)."""
    from .discovery import minio_aliases

    return any(
        alias.options.get("MINIO_CONSISTENCY_CHECK_ON_START")
        or alias.options.get("consistency_check_on_start")
        for alias in minio_aliases()
    )


class DjangoMinioBackendConfig(AppConfig):
    name = "django_minio_backend"
    verbose_name = "MinIO / S3 storage"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .conf import global_setting

        setting_changed.connect(_on_setting_changed, dispatch_uid="django_minio_backend.settings")
        asked = global_setting("MINIO_CONSISTENCY_CHECK_ON_START") or _asked_by_an_alias()
        if asked and not is_autoreload_parent(sys.argv, os.environ) and not runs_without_storage(sys.argv):
            _check_on_start()


def _check_on_start() -> None:
    """Run the on-start bucket check; a failure is one logged line, never a traceback.

    Django loads every app before every command, ``help`` included: a server that
    is down must not stop commands that never touch it. Commands that do touch it
    fail on their own, naming the endpoint.
    """
    from django.core.exceptions import ImproperlyConfigured

    from .buckets import initialize_buckets
    from .discovery import declared_buckets
    from .exceptions import PluginError

    try:
        storages = [s for s in declared_buckets() if s.config.consistency_check_on_start]
        # A server that accepts connections but never answers must not hold every process
        # start for minutes: ask each endpoint once, with the health check's short timeouts.
        for storage in {s.config.endpoint: s for s in storages}.values():
            status = storage.is_minio_available()
            if not status:
                logger.error("django_minio_backend: on-start bucket check skipped: %s", status.details)
                return
        reports = initialize_buckets(storages, on_start=True)
    except (OSError, PluginError, ImproperlyConfigured) as exc:
        logger.error("django_minio_backend: on-start bucket check skipped: %s", exc)
        return
    for report in reports:
        for line in report.lines():
            logger.info("%s", line)
