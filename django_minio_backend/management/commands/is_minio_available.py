"""``manage.py is_minio_available``: exit 0 when every configured server answers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ...discovery import configured_storages
from ...storage import MinioBackend


class Command(BaseCommand):
    help = "Check that the S3 server(s) answer and accept the credentials."

    def handle(self, *args: Any, **options: Any) -> None:
        storages = configured_storages() or [MinioBackend()]
        failures = []
        for storage in storages:
            status = storage.is_minio_available()
            if status:
                self.stdout.write(f"OK: {status.details}")
            else:
                failures.append(status.details)
        if failures:
            raise CommandError("; ".join(failures))
