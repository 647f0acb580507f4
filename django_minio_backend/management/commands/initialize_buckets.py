"""``manage.py initialize_buckets``: create declared buckets and reconcile policies."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...buckets import initialize_buckets
from ...discovery import declared_buckets
from ...exceptions import PluginError


class Command(BaseCommand):
    help = "Create the buckets of MINIO_PRIVATE_BUCKETS / MINIO_PUBLIC_BUCKETS and make their policies right."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be done; change nothing."
        )
        parser.add_argument("--silenced", action="store_true", help="Print nothing.")

    def handle(self, *args: Any, dry_run: bool = False, silenced: bool = False, **options: Any) -> None:
        try:
            reports = initialize_buckets(declared_buckets(), dry_run=dry_run)
        except (OSError, PluginError) as exc:
            raise CommandError(f"initialize_buckets failed: {exc}") from exc
        if not silenced:
            for report in reports:
                for line in report.lines():
                    self.stdout.write(line)
            if not reports:
                self.stdout.write("No buckets are declared (MINIO_PRIVATE_BUCKETS / MINIO_PUBLIC_BUCKETS).")
