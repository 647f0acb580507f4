"""``manage.py clean_orphaned_minio_files``: delete objects no file field references."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...orphans import (
    DEFAULT_MIN_AGE,
    BucketIdentityError,
    BucketSelectionError,
    EmptyTablesError,
    SharedPrefixError,
    clean_orphans,
)

DEFAULT_MIN_AGE_MINUTES = int(DEFAULT_MIN_AGE.total_seconds() // 60)


class Command(BaseCommand):
    help = (
        "Delete the objects of the buckets used by FileField/ImageField fields (MinioBackend storages) "
        "that no row references, matching names as open() reads them; storages that reach one bucket "
        "through different endpoints share their references. Objects saved without a model row look "
        "orphaned too: run with --dry-run first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="List the orphans; delete nothing.")
        parser.add_argument(
            "--check-missing",
            action="store_true",
            help="Also report rows whose object does not exist (one HEAD request per row).",
        )
        parser.add_argument(
            "--bucket",
            action="append",
            default=[],
            dest="buckets",
            metavar="NAME",
            help="Scan only this bucket (repeatable); it must be used by a model's file field.",
        )
        parser.add_argument(
            "--include-unused-bucket",
            action="append",
            default=[],
            dest="include_unused",
            metavar="NAME",
            help="Also scan this bucket although no model uses it (or static files live there): "
            "every object in it that no row references is deleted (repeatable).",
        )
        parser.add_argument(
            "--min-age-minutes",
            type=int,
            default=DEFAULT_MIN_AGE_MINUTES,
            metavar="N",
            help="Never judge objects modified in the last N minutes: an upload's row may not be "
            "committed yet, and a direct upload's form can be saved hours later "
            f"(default {DEFAULT_MIN_AGE_MINUTES}, a day).",
        )
        parser.add_argument(
            "--allow-empty-tables",
            action="store_true",
            help="Scan a bucket although no row of its fields names a file (by default that refuses: "
            "it usually means the wrong DATABASES, and every object would be deleted).",
        )

    def handle(
        self,
        *args: Any,
        dry_run: bool = False,
        check_missing: bool = False,
        buckets: list[str] | None = None,
        include_unused: list[str] | None = None,
        min_age_minutes: int = DEFAULT_MIN_AGE_MINUTES,
        allow_empty_tables: bool = False,
        verbosity: int = 1,
        **options: Any,
    ) -> None:
        if min_age_minutes < 0:
            raise CommandError("--min-age-minutes must be 0 or more.")
        try:
            summary = clean_orphans(
                dry_run=dry_run,
                check_missing=check_missing,
                buckets=buckets or (),
                include_unused=include_unused or (),
                min_age=timedelta(minutes=min_age_minutes),
                allow_empty_tables=allow_empty_tables,
                report=self.stdout.write if verbosity else lambda line: None,
            )
        except (
            OSError,
            BucketSelectionError,
            BucketIdentityError,
            SharedPrefixError,
            EmptyTablesError,
        ) as exc:
            raise CommandError(f"clean_orphaned_minio_files failed: {exc}") from exc
        self.stdout.write(summary.line())
        if summary.errors:
            raise CommandError(f"{summary.errors} orphaned object(s) could not be deleted.")
