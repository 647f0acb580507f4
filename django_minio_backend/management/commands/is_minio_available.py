"""``manage.py is_minio_available``: exit 0 when every configured server answers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...discovery import configured_storages
from ...storage import MinioBackend


class Command(BaseCommand):
    help = "Check that the S3 server(s) answer and accept the credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        # 3.x / 4.x health checks call it so; failures are still reported (non-zero exit).
        parser.add_argument("--silenced", action="store_true", help="Print nothing when all is well.")

    def handle(self, *args: Any, silenced: bool = False, **options: Any) -> None:
        storages = configured_storages() or [MinioBackend()]
        failures = []
        for storage in storages:
            status = storage.is_minio_available()
            if status:
                if not silenced:
                    self.stdout.write(f"OK: {status.details}")
            else:
                failures.append(status.details)
        if failures:
            raise CommandError("; ".join(failures))
