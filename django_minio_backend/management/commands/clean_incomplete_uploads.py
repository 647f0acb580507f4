"""``manage.py clean_incomplete_uploads``: abort multipart uploads that were never completed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...buckets import abort_incomplete_uploads, remove_stale_claims, remove_stale_quarantine
from ...checks import check_direct_uploads
from ...discovery import declared_buckets


class Command(BaseCommand):
    help = (
        "Abort multipart uploads older than --older-than hours in every declared bucket "
        "(left by saves whose upload and abort both lost the server), and direct-upload quarantine "
        "objects as old that were never finalized."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=24.0,
            metavar="HOURS",
            help="Only uploads started at least this many hours ago (default 24: a running save is spared).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be aborted; abort nothing."
        )

    def handle(self, *args: Any, older_than: float = 24.0, dry_run: bool = False, **options: Any) -> None:
        if older_than < 0:
            raise CommandError("--older-than must be zero or more hours")
        overlaps = [
            message for message in check_direct_uploads() if message.id == "django_minio_backend.E050"
        ]
        if overlaps:
            # Also when called from code (call_command runs no system checks): it would delete finished files.
            raise CommandError(f"clean_incomplete_uploads refused, nothing deleted: {overlaps[0].msg}")
        verb = "would abort" if dry_run else "aborted"
        total = quarantined = 0
        for storage in declared_buckets():
            try:
                uploads = abort_incomplete_uploads(
                    storage, older_than=timedelta(hours=older_than), dry_run=dry_run
                )
            except OSError as exc:
                raise CommandError(f"clean_incomplete_uploads failed: {exc}") from exc
            for upload in uploads:
                started = upload.initiated.isoformat() if upload.initiated else "?"
                self.stdout.write(f"{verb}: {storage.bucket}/{upload.key} (started {started})")
            total += len(uploads)
            try:
                claims = remove_stale_claims(storage, older_than=timedelta(hours=older_than), dry_run=dry_run)
            except OSError as exc:
                raise CommandError(f"clean_incomplete_uploads failed: {exc}") from exc
            for key in claims:
                self.stdout.write(
                    f"{'would remove' if dry_run else 'removed'}: {storage.bucket}/{key} "
                    "(the empty claim of a large save that never finished)"
                )
            if storage.is_static:
                continue
            try:
                stale = remove_stale_quarantine(
                    storage, older_than=timedelta(hours=older_than), dry_run=dry_run
                )
            except OSError as exc:
                raise CommandError(f"clean_incomplete_uploads failed: {exc}") from exc
            for key, modified in stale:
                when = modified.isoformat() if modified else "?"
                self.stdout.write(
                    f"{'would remove' if dry_run else 'removed'}: {storage.bucket}/{key} ({when})"
                )
            quarantined += len(stale)
        self.stdout.write(f"{total} incomplete upload(s) {verb}.")
        if quarantined:
            self.stdout.write(
                f"{quarantined} unfinalized direct upload(s) {'would be ' if dry_run else ''}removed."
            )
