"""``manage.py minio_capabilities``: what each configured server honours, probed on scratch keys."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...capabilities import survey
from ...discovery import declared_buckets
from ...exceptions import s3_errors


class Command(BaseCommand):
    help = (
        "Probe each declared bucket's server: conditional PUT and complete, If-Match on complete, "
        "bucket policies, lifecycle rules. Writes and removes scratch keys named .dmb-probe-*."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bucket", action="append", default=[], help="Only this bucket (repeatable).")

    def handle(self, *args: Any, bucket: list[str], **options: Any) -> None:
        storages = [s for s in declared_buckets() if not bucket or s.bucket in bucket]
        if not storages:
            raise CommandError("No declared bucket matches (MINIO_PRIVATE_BUCKETS / MINIO_PUBLIC_BUCKETS).")
        for storage in storages:
            config = storage.config
            self.stdout.write(f"{config.endpoint}/{storage.bucket}:")
            try:
                with s3_errors(config.endpoint, storage.bucket, "probe"):
                    findings = survey(storage.destination, use_https=config.use_https)
            except OSError as exc:
                raise CommandError(str(exc)) from exc
            for finding in findings:
                self.stdout.write(f"  {finding.line()}")
