"""Orphaned objects (no row references them) and missing objects (a row references nothing).

Which buckets: those of the ``FileField``/``ImageField`` fields whose storage is a
:class:`~django_minio_backend.storage.MinioBackend`. A bucket is identified by what
it is, not by how a storage spells its endpoint: storages whose endpoints resolve
to one address and port, or which see the same objects (an object listed through
one is read through the other), reach one bucket, and the rows of all their
fields count as references; it is scanned once. When that cannot be told (an
endpoint does not answer) nothing is deleted: :class:`BucketIdentityError`. A
bucket no model uses is scanned only when named in ``include_unused``, as is a
model bucket that also holds the static files.

How: before a bucket is listed, the names its fields' rows hold are read once
(``iterator()``) and turned into object keys the way ``open()`` does (the
storage's location, then :func:`~django_minio_backend.names.clean_name`); that
set is the only thing held whole. The bucket listing is streamed, and orphans are
deleted ``BATCH_SIZE`` at a time with one multi-object delete each, so memory
does not grow with the bucket. Matching happens in Python, byte for byte, so the
database collation cannot change the answer, except in one safe direction: an
object whose key differs from a referenced key only in letter case is kept and
reported (a ``_ci`` column treats the two names as one, and so do servers on
case-insensitive file systems). Missing objects are found by asking the server
about each row's name (one HEAD per row).

Objects modified less than ``min_age`` ago are never judged: their row may not be
committed yet (the default, a day, outlives a direct upload's ticket and signed form value).
Keys under the direct-upload quarantine prefix, and under the location of another
``STORAGES`` alias that reaches the bucket (static files at ``static/``, say) are never
judged either; an alias whose location holds the scanned keys makes the scan refuse
(:class:`SharedPrefixError`), as does a bucket whose fields have no rows at all while it
holds objects (:class:`EmptyTablesError`: the wrong database?). Rows are read when a
bucket's scan starts; a row written during the scan that names an old object not
referenced before is not seen. Files saved through a storage without a model row
(for example ``default_storage.save(...)`` in a bucket a model also uses) look
orphaned too; run with ``dry_run=True`` first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any, cast

import urllib3
from django.core.exceptions import SuspiciousOperation
from django.db import models
from minio.datatypes import Object
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error

from .buckets import quarantine_prefix
from .client import same_server
from .conf import default_storage_name
from .discovery import Alias, declared_buckets, minio_aliases, model_file_fields
from .exceptions import NOT_FOUND_CODES, frameless, s3_errors
from .names import clean_name
from .storage import MinioBackend

# Keys per multi-object delete request (S3 accepts at most 1000).
BATCH_SIZE = 1000
# Rows fetched per round trip when reading a table.
DB_CHUNK_SIZE = 2000
# A day: a direct upload's ticket lives MINIO_DIRECT_UPLOAD_TICKET_AGE (2 h) and its signed form value
# twice that before the row is written.
DEFAULT_MIN_AGE = timedelta(hours=24)
# Objects read through both storages when telling whether they reach one bucket.
PROBE_OBJECTS = 5


class BucketSelectionError(ValueError):
    """A bucket was asked for that no model uses, without saying so explicitly."""


class BucketIdentityError(ValueError):
    """Two storages name one bucket and it cannot be told whether they reach the same one."""


class SharedPrefixError(ValueError):
    """Another storage's location holds the keys a scan would judge: its files would look orphaned."""


class EmptyTablesError(ValueError):
    """No field of a bucket has a row, yet the bucket holds objects: every one would be deleted."""


def reference_keys(prefix: str, name: str) -> tuple[str, ...]:
    """The object keys a row's ``name`` can reach in a storage whose location is ``prefix``.

    The key ``open()`` reads (``prefix`` + :func:`clean_name`: ``//`` and ``./``
    collapse, ``\\`` becomes ``/``) and, when it differs, the name joined as given
    (what ``url()`` signs). A name ``clean_name`` refuses reaches only the latter.
    """
    literal = prefix + name.lstrip("/")
    try:
        key = prefix + clean_name(name)
    except (ValueError, SuspiciousOperation):
        return (literal,) if literal != prefix else ()
    return (key,) if key == literal else (key, literal)


class ReferencedKeys:
    """A set of object keys that also answers "is there one that differs only in case?"."""

    def __init__(self) -> None:
        self._exact: set[str] = set()
        # Case-folded forms of the keys that are not their own case fold: the
        # common all-lower-case key is stored once.
        self._folded: set[str] = set()

    def add(self, key: str) -> None:
        self._exact.add(key)
        folded = key.casefold()
        if folded != key:
            self._folded.add(folded)

    def __contains__(self, key: object) -> bool:
        return key in self._exact

    def in_other_case(self, key: str) -> bool:
        """Whether a key equal to ``key`` but for letter case is in the set."""
        folded = key.casefold()
        return folded in self._folded or folded in self._exact


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
        rows: models.QuerySet[Any] = (
            self.model._base_manager.exclude(**{f"{self.name}__isnull": True})
            .exclude(**{self.name: ""})
            .order_by()
        )
        return rows


@dataclass
class BucketUse:
    """A bucket, the storages that reach it and the fields that store files in it.

    The bucket is listed and cleaned through the first storage.
    """

    storages: list[MinioBackend]
    fields: list[FieldRef] = field(default_factory=list)
    static: bool = False  # a MinioBackendStatic reaches it too
    # (label, storage) of the STORAGES aliases that reach it and store no model field's files.
    aliases: list[tuple[str, MinioBackend]] = field(default_factory=list)

    @property
    def storage(self) -> MinioBackend:
        return self.storages[0]

    @property
    def bucket(self) -> str:
        return self.storage.bucket

    @property
    def key(self) -> tuple[str, str]:
        return (self.storage.config.endpoint, self.bucket)

    def endpoints(self) -> list[str]:
        return list(dict.fromkeys(s.config.endpoint for s in self.storages))

    def absorb(self, other: BucketUse) -> None:
        self.storages.extend(other.storages)
        self.fields.extend(other.fields)
        self.static = self.static or other.static
        self.aliases.extend(other.aliases)

    def foreign_prefixes(self) -> dict[str, str]:
        """``location prefix -> alias label`` of the aliases that store no field's files.

        Their files have no rows: keys under them are not judged.
        """
        return {s.location_prefix: label for label, s in self.aliases}

    def skipped_prefixes(self) -> tuple[str, ...]:
        """Key prefixes never judged: other aliases' locations and direct-upload quarantines."""
        quarantines = {quarantine_prefix(s) for s in self.storages}
        return tuple(sorted({*self.foreign_prefixes(), *quarantines}))

    def describe(self) -> str:
        endpoint, *others = self.endpoints()
        used_by = ", ".join(ref.label for ref in self.fields) or (
            "static files" if self.static else "no model"
        )
        also = f" (also reached as {', '.join(others)})" if others else ""
        return f"{endpoint}/{self.bucket}{also} ({used_by})"


@dataclass
class CleanupSummary:
    """Counts over every bucket scanned."""

    scanned: int = 0
    orphaned: int = 0
    deleted: int = 0
    missing: int = 0
    too_recent: int = 0
    kept_case: int = 0
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
                (self.kept_case, "kept: a row names them in another letter case"),
                (self.references_checked, "references checked"),
                (self.errors, "delete errors"),
            )
            if count
        ]
        return f"{text} ({', '.join(extras)})" if extras else text


def model_buckets() -> list[BucketUse]:
    """Every (endpoint, bucket) a model's file field stores into, with those fields.

    Grouped by the endpoint as spelled (no network): :func:`select_buckets` then
    joins the groups that reach one bucket.
    """
    uses: dict[tuple[str, str], BucketUse] = {}
    for model, model_field, storage in model_file_fields():
        use = BucketUse([storage])
        use = uses.setdefault(use.key, use)
        use.fields.append(FieldRef(model, model_field.name, storage))
    return list(uses.values())


class _Unreadable(Exception):
    """An object the probe cannot read without more (an SSE-C key, say)."""


def _stat(storage: MinioBackend, key: str) -> tuple[Any, ...] | None:
    """(ETag, size, last modified) of ``key`` through ``storage``, None if it is not there."""
    try:
        stat = storage.client.stat_object(storage.bucket, key)
    except S3Error as exc:
        if exc.code in NOT_FOUND_CODES:
            return None
        raise _Unreadable from exc
    return stat.etag, stat.size, stat.last_modified


def same_objects(a: MinioBackend, b: MinioBackend) -> bool | None:
    """Whether ``a`` and ``b`` see the same objects; None when neither has one to compare.

    An object listed through one is read through the other: the same ETag, size and
    modification time prove one bucket (or a replica, which shares its deletes);
    absent or different there (while it stays unchanged here) proves two. A bucket
    that exists through only one of them is two buckets.
    """
    exists = a.client.bucket_exists(a.bucket)
    if exists != b.client.bucket_exists(b.bucket):
        return False
    if not exists:
        return None
    for here, there in ((a, b), (b, a)):
        for obj in islice(here.client.list_objects(here.bucket, recursive=True), PROBE_OBJECTS):
            key = cast(str, obj.object_name)
            if obj.is_dir or key.endswith("/"):
                continue
            try:
                before = _stat(here, key)
                seen = _stat(there, key)
                after = _stat(here, key)
            except _Unreadable:
                continue
            if before is not None and before == after:
                return seen == before
    return None


def _same_bucket(first: BucketUse, other: BucketUse) -> bool:
    """Whether two groups of storages naming one bucket reach the same bucket.

    Raises BucketIdentityError when a server does not answer. Buckets that hold
    no object to compare are taken as one: scanning them as one deletes less,
    never more.
    """
    a, b = first.storage, other.storage
    if same_server(a.config, b.config):
        return True
    try:
        verdict = same_objects(a, b)
    except (OSError, urllib3.exceptions.HTTPError, MinioException) as exc:
        raise BucketIdentityError(
            f"cannot tell whether {first.describe()} and {other.describe()} are one bucket "
            f"(if so, the rows of each protect the files of the other): {exc}. Nothing was deleted: "
            "make both endpoints answer, or give both storages one endpoint."
        ) from frameless(exc)
    return verdict is not False


def _merge_same_buckets(uses: Iterable[BucketUse]) -> list[BucketUse]:
    merged: list[BucketUse] = []
    for use in uses:
        for group in merged:
            if group.bucket == use.bucket and _same_bucket(group, use):
                group.absorb(use)
                break
        else:
            merged.append(use)
    return merged


def _storage_for_unused(name: str) -> MinioBackend:
    for storage in declared_buckets():
        if storage.bucket == name:
            return storage
    return MinioBackend(bucket_name=name)


def _stores_fields(alias: Alias, field_storages: Sequence[MinioBackend]) -> bool:
    """Whether a field stores through ``alias``: its storage (``default_storage`` too), or one built
    from its OPTIONS (``storage_name``, by default ``"default"`` as in upstream 4.x)."""
    storage = alias.storage
    for used in field_storages:
        built_from = used._options.get("storage_name") or default_storage_name(static=used.is_static)
        if getattr(used, "_wrapped", used) is storage or built_from == alias.name:
            return True
    return False


def select_buckets(
    buckets: Sequence[str] = (), include_unused: Sequence[str] = ()
) -> tuple[list[BucketUse], list[str]]:
    """The buckets to scan, and a line for each model bucket left out for safety.

    ``buckets`` restricts the model buckets to those names; each must be used by a
    model. ``include_unused`` adds buckets no model uses (every object in them that
    is old enough is an orphan) and lets in model buckets that hold static files.
    Storages that reach one bucket through different endpoints are joined (this may
    ask the servers); BucketIdentityError when that cannot be told.
    """
    used = model_buckets()
    used_names = {use.bucket for use in used}
    unknown = sorted(set(buckets) - used_names - set(include_unused))
    if unknown:
        raise BucketSelectionError(
            f"no model's file field uses bucket(s) {', '.join(unknown)}; to scan them anyway "
            "(every object in them would be an orphan) name them with --include-unused-bucket"
        )
    wanted = [use for use in used if not buckets or use.bucket in buckets or use.bucket in include_unused]
    names = {use.bucket for use in wanted}
    # An alias is compared only with the model buckets of its name; one a field stores through is
    # not another storage (its files have rows).
    field_storages = [ref.storage for use in used for ref in use.fields]
    statics = [
        BucketUse(
            [a.storage],
            static=a.storage.is_static,
            aliases=[] if _stores_fields(a, field_storages) else [(a.label, a.storage)],
        )
        for a in minio_aliases()
        if a.storage.bucket in names
    ]
    selected: list[BucketUse] = []
    skipped: list[str] = []
    for use in _merge_same_buckets([*wanted, *statics]):
        if not use.fields:
            continue  # only static files live there
        if use.static and use.bucket not in include_unused:
            skipped.append(
                f"skipped: {use.describe()}: static files are stored there too "
                "(name it with --include-unused-bucket to scan it)"
            )
        else:
            selected.append(use)
    selected.extend(
        BucketUse([_storage_for_unused(name)])
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


def referenced_keys(fields: Iterable[FieldRef]) -> ReferencedKeys:
    """The object keys the rows of ``fields`` reference, as ``open()`` and ``url()`` resolve them."""
    referenced = ReferencedKeys()
    for ref in fields:
        prefix = ref.prefix
        for name in ref.rows().values_list(ref.name, flat=True).iterator(chunk_size=DB_CHUNK_SIZE):
            for key in reference_keys(prefix, name):
                referenced.add(key)
    return referenced


def _listing(use: BucketUse) -> Iterator[Object]:
    """The objects under the fields' locations only: keys outside them are no model's business."""
    storage = use.storage
    # The context manager covers the listing's requests only, not the caller's work between items.
    with s3_errors(storage.config.endpoint, storage.bucket, "list objects"):
        for prefix in _prefixes(use.fields):
            yield from storage.client.list_objects(storage.bucket, prefix=prefix or None, recursive=True)


def _orphans(
    use: BucketUse,
    referenced: ReferencedKeys,
    cutoff: datetime,
    report: Callable[[str], None],
    summary: CleanupSummary,
) -> Iterator[str]:
    """Keys of the listed objects old enough to be judged that no row references."""
    bucket = use.bucket
    skipped = use.skipped_prefixes()
    for obj in _listing(use):
        key = cast(str, obj.object_name)
        # A key ending in "/" is a folder marker; no FileField can name it.
        if obj.is_dir or key.endswith("/") or key.startswith(skipped):
            continue
        summary.scanned += 1
        if obj.last_modified is None or obj.last_modified > cutoff:
            summary.too_recent += 1
        elif key in referenced:
            continue
        elif referenced.in_other_case(key):
            summary.kept_case += 1
            report(f"kept: {bucket}/{key}: a row names it in another letter case")
        else:
            yield key


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


def refuse_unsafe(use: BucketUse, cutoff: datetime) -> None:
    """Raise when judging ``use`` would delete files that are not the fields' to judge.

    SharedPrefixError when an alias that no field uses has its location at or above
    a scanned prefix (every key there could be its); EmptyTablesError when no field
    has a row naming a file while an object old enough to be judged is there.
    """
    for other, label in use.foreign_prefixes().items():
        fields = [ref for ref in use.fields if ref.prefix.startswith(other)]
        if fields:
            raise SharedPrefixError(
                f"{label} stores files in bucket {use.bucket} at {other or 'the bucket root'!r}, where "
                f"{', '.join(ref.label for ref in fields)} store theirs: its files have no rows and "
                "would be deleted. Nothing was deleted: give one of them its own bucket or location, "
                "or scan other buckets only (--bucket)."
            )
    # A bucket no model uses was named with --include-unused-bucket: emptying it is what was asked.
    if not use.fields or any(ref.rows().exists() for ref in use.fields):
        return
    for _ in _orphans(use, ReferencedKeys(), cutoff, lambda line: None, CleanupSummary()):
        labels = ", ".join(ref.label for ref in use.fields)
        raise EmptyTablesError(
            f"no row of {labels} names a file, yet bucket {use.bucket} holds objects: every one would "
            "be deleted. Nothing was deleted. Wrong DATABASES? If these tables really are empty, "
            "run again with --allow-empty-tables."
        )


def _clean_bucket(
    use: BucketUse, cutoff: datetime, dry_run: bool, report: Callable[[str], None], summary: CleanupSummary
) -> None:
    referenced = referenced_keys(use.fields)
    for batch in _batches(_orphans(use, referenced, cutoff, report, summary), BATCH_SIZE):
        summary.orphaned += len(batch)
        for name in batch:
            report(f"{'would delete' if dry_run else 'orphan'}: {use.bucket}/{name}")
        if not dry_run:
            _delete(use.storage, batch, report, summary)


def _check_missing(use: BucketUse, report: Callable[[str], None], summary: CleanupSummary) -> None:
    for ref in use.fields:
        rows = ref.rows().order_by("pk").values_list("pk", ref.name).iterator(chunk_size=DB_CHUNK_SIZE)
        for pk, name in rows:
            summary.references_checked += 1
            try:
                found = ref.storage.exists(name)
            except (ValueError, SuspiciousOperation) as exc:
                summary.missing += 1
                report(f"missing: {ref.label} pk={pk} name={name} (open() refuses the name: {exc})")
                continue
            if not found:
                summary.missing += 1
                report(f"missing: {ref.label} pk={pk} name={name}")


def clean_orphans(
    *,
    dry_run: bool = False,
    check_missing: bool = False,
    buckets: Sequence[str] = (),
    include_unused: Sequence[str] = (),
    min_age: timedelta = DEFAULT_MIN_AGE,
    allow_empty_tables: bool = False,
    report: Callable[[str], None] = lambda line: None,
) -> CleanupSummary:
    """Delete (or with ``dry_run`` only list) the objects no row references.

    ``report`` receives one line per bucket scanned or skipped, per orphan
    (``orphan: bucket/key``, or ``would delete: bucket/key``), per object kept
    because a row names it in another letter case (``kept: ...``), per object the
    server refused to delete (``error: ...``) and, with ``check_missing``, per row
    whose object does not exist (``missing: app.Model.field pk=.. name=..``).
    See :func:`select_buckets` for ``buckets`` and ``include_unused``; every
    bucket is identified before anything is deleted. S3 failures raise OSError
    subclasses; a refused delete is counted in ``errors`` instead. Before anything
    is deleted, every bucket is checked by :func:`refuse_unsafe` (the empty-tables
    refusal is lifted by ``allow_empty_tables``).
    """
    selected, skipped = select_buckets(buckets, include_unused)
    for line in skipped:
        report(line)
    cutoff = datetime.now(timezone.utc) - min_age
    for use in selected:
        try:
            refuse_unsafe(use, cutoff)
        except EmptyTablesError:
            if not allow_empty_tables:
                raise
    summary = CleanupSummary()
    for use in selected:
        report(f"scanning {use.describe()}")
        _clean_bucket(use, cutoff, dry_run, report, summary)
        if check_missing:
            _check_missing(use, report, summary)
    return summary
