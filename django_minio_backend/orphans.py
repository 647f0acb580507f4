"""Orphaned objects (no row references them) and missing objects (a row references nothing).

Which buckets: those of the ``FileField``/``ImageField`` fields whose storage is a
:class:`~django_minio_backend.storage.MinioBackend`, one scan per (endpoint, bucket)
however many fields share it. A bucket no model uses is scanned only when named in
``include_unused``, as is a model bucket that also holds the static files.

How: both sides are streamed in batches, never held whole. The bucket listing is
read lazily; each batch of ``BATCH_SIZE`` object names is looked up with one
``field__in=batch`` query per field, and the batch's orphans are deleted with one
multi-object delete. Batched lookups were chosen over a merge-join of two sorted
streams because they are right whatever the database collation: S3 lists keys in
UTF-8 byte order, which a PostgreSQL locale collation does not follow. Missing
objects are found by streaming each field's rows (``iterator()``) and asking the
server about each name (one HEAD per row).

Objects modified less than ``min_age`` ago are never judged: their row may not be
committed yet. Files saved through a storage without a model row (for example
``default_storage.save(...)`` in a bucket a model also uses) look orphaned too;
run with ``dry_run=True`` first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any, cast

from django.db import models
from minio.datatypes import Object
from minio.deleteobjects import DeleteObject

from .discovery import configured_storages, declared_buckets, model_file_fields
from .exceptions import s3_errors
from .storage import MinioBackend

# Names per database lookup and per delete request: under SQLite's historical limit
# of 999 query parameters and S3's limit of 1000 keys per multi-object delete.
BATCH_SIZE = 500
# Rows fetched per round trip when streaming a table for missing objects.
DB_CHUNK_SIZE = 2000
DEFAULT_MIN_AGE = timedelta(minutes=60)


class BucketSelectionError(ValueError):
    """A bucket was asked for that no model uses, without saying so explicitly."""


@dataclass(frozen=True)
class FieldRef:
    """One file field of one concrete model."""

    model: type[models.Model]
    name: str
    storage: MinioBackend

    @property
    def prefix(self) -> str:
        """The storage's ``location``: rows hold names relative to it."""
        return self.storage.location_prefix

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.name}"

    def rows(self) -> models.QuerySet[Any]:
        """The rows that name a file in this field."""
        return (
            self.model._base_manager.exclude(**{f"{self.name}__isnull": True})
            .exclude(**{self.name: ""})
            .order_by()
        )


@dataclass
class BucketUse:
    """A bucket, the storage to reach it through and the fields that store files in it."""

    storage: MinioBackend
    fields: list[FieldRef] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.storage.config.endpoint, self.storage.bucket)

    def describe(self) -> str:
        used_by = ", ".join(ref.label for ref in self.fields) or "no model"
        return f"{self.key[0]}/{self.key[1]} ({used_by})"


@dataclass
class CleanupSummary:
    """Counts over every bucket scanned."""

    scanned: int = 0
    orphaned: int = 0
    deleted: int = 0
    missing: int = 0
    too_recent: int = 0
    references_checked: int = 0
    errors: int = 0

    def line(self) -> str:
        text = (
            f"{self.scanned} objects scanned, {self.orphaned} orphaned, {self.deleted} deleted, "
            f"{self.missing} missing references"
        )
        extras = [
            f"{count} {what}"
            for count, what in (
                (self.too_recent, "too recent to judge"),
                (self.references_checked, "references checked"),
                (self.errors, "delete errors"),
            )
            if count
        ]
        return f"{text} ({', '.join(extras)})" if extras else text


def model_buckets() -> list[BucketUse]:
    """Every (endpoint, bucket) a model's file field stores into, with those fields.

    Fields of a shared bucket are reached through the first field's storage.
    """
    uses: dict[tuple[str, str], BucketUse] = {}
    for model, model_field, storage in model_file_fields():
        use = BucketUse(storage)
        use = uses.setdefault(use.key, use)
        use.fields.append(FieldRef(model, model_field.name, storage))
    return list(uses.values())


def _storage_for_unused(name: str) -> MinioBackend:
    for storage in declared_buckets():
        if storage.bucket == name:
            return storage
    return MinioBackend(bucket_name=name)


def select_buckets(
    buckets: Sequence[str] = (), include_unused: Sequence[str] = ()
) -> tuple[list[BucketUse], list[str]]:
    """The buckets to scan, and a line for each model bucket left out for safety.

    ``buckets`` restricts the model buckets to those names; each must be used by a
    model. ``include_unused`` adds buckets no model uses (every object in them that
    is old enough is an orphan) and lets in model buckets that hold static files.
    """
    used = model_buckets()
    used_names = {use.key[1] for use in used}
    unknown = sorted(set(buckets) - used_names - set(include_unused))
    if unknown:
        raise BucketSelectionError(
            f"no model's file field uses bucket(s) {', '.join(unknown)}; to scan them anyway "
            "(every object in them would be an orphan) name them with --include-unused-bucket"
        )
    static = {(s.config.endpoint, s.bucket) for s in configured_storages() if s.is_static}
    selected: list[BucketUse] = []
    skipped: list[str] = []
    for use in used:
        name = use.key[1]
        if name in include_unused:
            selected.append(use)
        elif buckets and name not in buckets:
            continue
        elif use.key in static:
            skipped.append(
                f"skipped: {use.describe()}: static files are stored there too "
                "(name it with --include-unused-bucket to scan it)"
            )
        else:
            selected.append(use)
    selected.extend(
        BucketUse(_storage_for_unused(name))
        for name in dict.fromkeys(include_unused)
        if name not in used_names
    )
    return selected, skipped


def _batches(names: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(names)
    while batch := list(islice(iterator, size)):
        yield batch


def _prefixes(fields: Sequence[FieldRef]) -> list[str]:
    """The key prefixes the fields can name: their locations, none nested in another."""
    result: list[str] = []
    for prefix in sorted({ref.prefix for ref in fields}):
        if not any(prefix.startswith(kept) for kept in result):
            result.append(prefix)
    return result or [""]


def _listing(use: BucketUse) -> Iterator[Object]:
    """The objects under the fields' locations only: keys outside them are no model's business."""
    storage = use.storage
    # The context manager covers the listing's requests only, not the caller's work between items.
    with s3_errors(storage.config.endpoint, storage.bucket, "list objects"):
        for prefix in _prefixes(use.fields):
            yield from storage.client.list_objects(storage.bucket, prefix=prefix or None, recursive=True)


def _judgeable(use: BucketUse, cutoff: datetime, summary: CleanupSummary) -> Iterator[str]:
    """Names of the listed objects old enough to be judged."""
    for obj in _listing(use):
        name = cast(str, obj.object_name)
        # A key ending in "/" is a folder marker; no FileField can name it.
        if obj.is_dir or name.endswith("/"):
            continue
        summary.scanned += 1
        if obj.last_modified is None or obj.last_modified > cutoff:
            summary.too_recent += 1
            continue
        yield name


def _referenced(fields: Sequence[FieldRef], batch: Sequence[str]) -> set[str]:
    """The object keys of ``batch`` some row of ``fields`` references (names are relative to locations)."""
    found: set[str] = set()
    for ref in fields:
        prefix = ref.prefix
        candidates = {key[len(prefix) :]: key for key in batch if key not in found and key.startswith(prefix)}
        if not candidates:
            continue
        names = ref.rows().filter(**{f"{ref.name}__in": list(candidates)}).values_list(ref.name, flat=True)
        found.update(candidates[name] for name in names.distinct())
    return found


def _delete(
    storage: MinioBackend, names: Sequence[str], report: Callable[[str], None], summary: CleanupSummary
) -> None:
    with s3_errors(storage.config.endpoint, storage.bucket, "delete objects"):
        # remove_objects is lazy: iterating its result sends the requests.
        errors = list(storage.client.remove_objects(storage.bucket, (DeleteObject(n) for n in names)))
    for error in errors:
        report(f"error: {storage.bucket}/{error.name}: {error.code} {error.message or ''}".rstrip())
    summary.deleted += len(names) - len(errors)
    summary.errors += len(errors)


def _clean_bucket(
    use: BucketUse, cutoff: datetime, dry_run: bool, report: Callable[[str], None], summary: CleanupSummary
) -> None:
    bucket = use.storage.bucket
    for batch in _batches(_judgeable(use, cutoff, summary), BATCH_SIZE):
        referenced = _referenced(use.fields, batch)
        orphans = [name for name in batch if name not in referenced]
        summary.orphaned += len(orphans)
        for name in orphans:
            report(f"{'would delete' if dry_run else 'orphan'}: {bucket}/{name}")
        if orphans and not dry_run:
            _delete(use.storage, orphans, report, summary)


def _check_missing(use: BucketUse, report: Callable[[str], None], summary: CleanupSummary) -> None:
    for ref in use.fields:
        rows = ref.rows().order_by("pk").values_list("pk", ref.name).iterator(chunk_size=DB_CHUNK_SIZE)
        for pk, name in rows:
            summary.references_checked += 1
            if not ref.storage.exists(name):
                summary.missing += 1
                report(f"missing: {ref.label} pk={pk} name={name}")


def clean_orphans(
    *,
    dry_run: bool = False,
    check_missing: bool = False,
    buckets: Sequence[str] = (),
    include_unused: Sequence[str] = (),
    min_age: timedelta = DEFAULT_MIN_AGE,
    report: Callable[[str], None] = lambda line: None,
) -> CleanupSummary:
    """Delete (or with ``dry_run`` only list) the objects no row references.

    ``report`` receives one line per bucket scanned or skipped, per orphan
    (``orphan: bucket/key``, or ``would delete: bucket/key``), per object the
    server refused to delete (``error: ...``) and, with ``check_missing``, per row
    whose object does not exist (``missing: app.Model.field pk=.. name=..``).
    See :func:`select_buckets` for ``buckets`` and ``include_unused``. S3 failures
    raise OSError subclasses; a refused delete is counted in ``errors`` instead.
    """
    selected, skipped = select_buckets(buckets, include_unused)
    for line in skipped:
        report(line)
    cutoff = datetime.now(timezone.utc) - min_age
    summary = CleanupSummary()
    for use in selected:
        report(f"scanning {use.describe()}")
        _clean_bucket(use, cutoff, dry_run, report, summary)
        if check_missing:
            _check_missing(use, report, summary)
    return summary
