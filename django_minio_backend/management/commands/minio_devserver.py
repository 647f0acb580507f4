"""``manage.py minio_devserver``: a local S3 server (SeaweedFS) on the project's MINIO_* settings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...devserver import DevServerError, plan_from_settings, serve
from ...exceptions import PluginError


def default_data_dir() -> Path:
    """``.minio-devserver`` next to manage.py (BASE_DIR), so uploads survive a restart."""
    return Path(getattr(settings, "BASE_DIR", None) or Path.cwd()) / ".minio-devserver"


class Command(BaseCommand):
    help = (
        "Run an embedded S3 server (SeaweedFS) for development on MINIO_ENDPOINT (loopback only) "
        "with MINIO_ACCESS_KEY / MINIO_SECRET_KEY, create the declared buckets, serve until Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="Where objects are kept (default: BASE_DIR/.minio-devserver).",
        )
        parser.add_argument(
            "--temporary",
            action="store_true",
            help="Keep the objects in a temporary directory removed at exit.",
        )

    def handle(
        self, *args: Any, data_dir: Path | None = None, temporary: bool = False, **options: Any
    ) -> None:
        def write(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()  # the ready line must reach a pipe at once

        try:
            plan = plan_from_settings()
            directory = None if temporary else (data_dir or default_data_dir())
            code = serve(plan, directory, write=write)
        except (DevServerError, OSError, PluginError) as exc:
            raise CommandError(f"minio_devserver: {exc}") from exc
        if code:
            sys.exit(code)
