"""``collectstatic`` that is fast on MinioBackend storages and Django's own elsewhere.

Active when ``django_minio_backend`` comes before ``django.contrib.staticfiles`` in
INSTALLED_APPS (Django takes a command from the first app that has it).
"""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles.management.commands.collectstatic import Command as DjangoCollectStatic
from django.core.management.base import CommandError, CommandParser

from ...collectstatic import (
    DEFAULT_WORKERS,
    ParallelUploader,
    clear,
    fingerprint,
    other_storages_above,
    other_storages_inside,
    remote_index,
)
from ...storage import MinioBackend


class Command(DjangoCollectStatic):
    help = (
        DjangoCollectStatic.help
        + " Skips files whose content is unchanged and uploads in parallel on MinIO/S3."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--upload-workers",
            type=int,
            default=DEFAULT_WORKERS,
            help=f"Parallel uploads to MinIO/S3 (default {DEFAULT_WORKERS}).",
        )

    def set_options(self, **options: Any) -> None:
        super().set_options(**options)
        self.upload_workers = max(1, int(options.get("upload_workers") or DEFAULT_WORKERS))

    def _fast(self) -> bool:
        # post_process (e.g. ManifestFilesMixin) reads what was uploaded: keep Django's order then.
        return (
            isinstance(self.storage, MinioBackend)
            and not self.symlink
            and not (self.post_process and hasattr(self.storage, "post_process"))
        )

    def collect(self) -> dict[str, list[str]]:
        if not self._fast():
            return super().collect()
        self._uploader = ParallelUploader(self.storage, self.upload_workers)
        self._index: dict[str, tuple[int, str]] | None = None
        try:
            result = super().collect()
        finally:
            failures = self._uploader.close()
        if failures:
            names = ", ".join(f"{name} ({error})" for name, error in failures[:5])
            raise CommandError(f"{len(failures)} static file(s) failed to upload: {names}")
        return result

    def _shared(self) -> dict[str, str]:
        """The other storages whose files are where the static files go (looked up once)."""
        if not hasattr(self, "_others"):
            self._others = other_storages_inside(self.storage)
        return self._others

    def _refuse_shared(self, what: str, key: str | None = None) -> None:
        """CommandError when another storage keeps files where ``what`` would delete or replace (``key``)."""
        for label, prefix in self._shared().items():
            if key is None or key.startswith(prefix):
                where = f"{self.storage.bucket}/{prefix or ''}"
                raise CommandError(
                    f"collectstatic {what} refused: {label} also stores files in {where!r}, where the "
                    "static files go; they would be lost. Give the static files their own bucket (or "
                    "a location the other storage does not use)."
                )

    def clear_dir(self, path: str) -> None:
        if not isinstance(self.storage, MinioBackend):
            return super().clear_dir(path)
        self._refuse_shared("--clear")
        above = other_storages_above(self.storage)
        if above:
            where = f"{self.storage.bucket}/{self.storage.location_prefix}"
            raise CommandError(
                f"collectstatic --clear refused: {', '.join(above)} stores files in a location that holds "
                f"{where!r}; its files there would be deleted. Give the static files their own bucket."
            )
        names = clear(self.storage, path, dry_run=self.dry_run)
        for name in names:
            self.log(f"{'Pretending to delete' if self.dry_run else 'Deleting'} '{name}'", level=1)
        if not names:
            self.log(f"Nothing to delete: '{path}'")
        # A bucket that was empty (or is missing) is listed again: missing, it is created or refused
        # as without --clear.
        self._index = {} if names else None
        return None

    def copy_file(self, path: str, prefixed_path: str, source_storage: Any) -> None:
        if not self._fast():
            # Django's path overwrites without a listing: one HEAD, asked only when files are shared.
            storage = self.storage
            if isinstance(storage, MinioBackend) and self._shared() and storage.exists(prefixed_path):
                self._refuse_shared(f"overwriting {prefixed_path!r}", storage._key(prefixed_path))
            return super().copy_file(path, prefixed_path, source_storage)
        if prefixed_path in self.copied_files:
            return self.log(f"Skipping '{path}' (already copied earlier)")
        if self._index is None:
            try:
                self._index = remote_index(self.storage, dry_run=self.dry_run)
            except FileNotFoundError as exc:
                raise CommandError(str(exc)) from exc
        remote = self._index.get(prefixed_path)
        if remote is not None and remote == fingerprint(source_storage, path):
            if prefixed_path not in self.unmodified_files:
                self.unmodified_files.append(prefixed_path)
            return self.log(f"Skipping '{path}' (not modified)")
        if remote is not None:
            self._refuse_shared(
                f"overwriting {prefixed_path!r}", self.storage.location_prefix + prefixed_path
            )
        if self.dry_run:
            self.log(f"Pretending to copy '{path}'", level=1)
        else:
            self.log(f"Copying '{path}'", level=2)
            self._uploader.submit(prefixed_path, source_storage, path, replace=remote is not None)
        self.copied_files.append(prefixed_path)
        return None
