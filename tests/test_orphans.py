"""clean_orphaned_minio_files against SeaweedFS, with real models and rows (tests/orphanapp)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from minio import Minio
from minio.deleteobjects import DeleteError, DeleteObject

from django_minio_backend.orphans import BATCH_SIZE
from tests.orphanapp.models import (
    LOCATED_BUCKET,
    ORPHANS_BUCKET,
    Document,
    LocatedNote,
    Photo,
    orphans_storage,
)

pytestmark = pytest.mark.django_db


def drop_bucket(client: Minio, bucket: str) -> None:
    """Remove ``bucket`` with multi-object deletes (the per-object conftest helper is slow for thousands)."""
    if not client.bucket_exists(bucket):
        return
    names = (DeleteObject(obj.object_name) for obj in client.list_objects(bucket, recursive=True))
    errors = list(client.remove_objects(bucket, names))
    assert not errors, errors
    client.remove_bucket(bucket)


@pytest.fixture
def orphans_bucket(s3_settings: dict[str, Any], raw_client: Minio) -> Iterator[str]:
    """The bucket of the orphanapp models, empty at the start of each test (and the located one)."""
    for bucket in (ORPHANS_BUCKET, LOCATED_BUCKET):
        drop_bucket(raw_client, bucket)
        raw_client.make_bucket(bucket)
    yield ORPHANS_BUCKET
    for bucket in (ORPHANS_BUCKET, LOCATED_BUCKET):
        drop_bucket(raw_client, bucket)


def put(client: Minio, bucket: str, *names: str) -> None:
    for name in names:
        client.put_object(bucket, name, io.BytesIO(b"data"), 4)


def keys(client: Minio, bucket: str) -> set[str]:
    return {obj.object_name for obj in client.list_objects(bucket, recursive=True)}


def run(*args: str, min_age: str = "0") -> str:
    out = StringIO()
    call_command("clean_orphaned_minio_files", *args, "--min-age-minutes", min_age, stdout=out)
    return out.getvalue()


def summary(output: str) -> str:
    return output.splitlines()[-1]


def test_dry_run_lists_orphans_and_deletes_nothing(orphans_bucket: str, raw_client: Minio) -> None:
    put(raw_client, orphans_bucket, "docs/kept.txt", "docs/lost.txt", "stray.bin")
    Document.objects.create(file="docs/kept.txt")

    output = run("--dry-run", "--bucket", orphans_bucket)

    assert f"would delete: {orphans_bucket}/docs/lost.txt" in output
    assert f"would delete: {orphans_bucket}/stray.bin" in output
    assert "docs/kept.txt" not in output
    assert summary(output) == "3 objects scanned, 2 orphaned, 0 deleted, 0 missing references"
    assert keys(raw_client, orphans_bucket) == {"docs/kept.txt", "docs/lost.txt", "stray.bin"}


def test_run_deletes_only_objects_no_row_references(orphans_bucket: str, raw_client: Minio) -> None:
    put(raw_client, orphans_bucket, "docs/a.txt", "docs/b.txt", "docs/old.txt", "previews/gone.png")
    Document.objects.create(file="docs/a.txt", preview=None)
    Document.objects.create(file="docs/b.txt", preview="")

    output = run("--bucket", orphans_bucket)

    assert f"orphan: {orphans_bucket}/docs/old.txt" in output
    assert f"orphan: {orphans_bucket}/previews/gone.png" in output
    assert summary(output) == "4 objects scanned, 2 orphaned, 2 deleted, 0 missing references"
    assert keys(raw_client, orphans_bucket) == {"docs/a.txt", "docs/b.txt"}


def test_every_file_field_on_the_bucket_counts_as_a_reference(orphans_bucket: str, raw_client: Minio) -> None:
    put(raw_client, orphans_bucket, "docs/a.txt", "previews/a.png", "photos/p.jpg", "photos/orphan.jpg")
    Document.objects.create(file="docs/a.txt", preview="previews/a.png")
    Photo.objects.create(image="photos/p.jpg")

    output = run()

    assert f"scanning {orphans_storage.config.endpoint}/{orphans_bucket} (" in output
    for label in ("orphanapp.Document.file", "orphanapp.Document.preview", "orphanapp.Photo.image"):
        assert label in output
    assert keys(raw_client, orphans_bucket) == {"docs/a.txt", "previews/a.png", "photos/p.jpg"}


def test_check_missing_reports_rows_whose_object_is_gone(orphans_bucket: str, raw_client: Minio) -> None:
    put(raw_client, orphans_bucket, "docs/here.txt", "previews/here.png")
    Document.objects.create(file="docs/here.txt", preview="previews/here.png")
    lost = Document.objects.create(file="docs/gone.txt", preview="")
    photo = Photo.objects.create(image="photos/gone.jpg")

    output = run("--check-missing", "--bucket", orphans_bucket)

    missing = [line for line in output.splitlines() if line.startswith("missing: ")]
    assert sorted(missing) == [
        f"missing: orphanapp.Document.file pk={lost.pk} name=docs/gone.txt",
        f"missing: orphanapp.Photo.image pk={photo.pk} name=photos/gone.jpg",
    ]
    assert summary(output) == (
        "2 objects scanned, 0 orphaned, 0 deleted, 2 missing references (4 references checked)"
    )
    assert keys(raw_client, orphans_bucket) == {"docs/here.txt", "previews/here.png"}


def test_bucket_no_model_uses_is_untouched_unless_named(
    orphans_bucket: str, bucket: str, raw_client: Minio
) -> None:
    put(raw_client, bucket, "one.txt", "two/three.txt")
    put(raw_client, orphans_bucket, "orphan.txt")

    # A dry run over every bucket: the bucket of no model is not even listed.
    everything = run("--dry-run")
    assert f"would delete: {orphans_bucket}/orphan.txt" in everything
    assert bucket not in everything

    output = run("--bucket", orphans_bucket)
    assert f"orphan: {orphans_bucket}/orphan.txt" in output
    assert keys(raw_client, bucket) == {"one.txt", "two/three.txt"}

    with pytest.raises(CommandError, match=f"{bucket}.*--include-unused-bucket"):
        run("--bucket", bucket)
    assert keys(raw_client, bucket) == {"one.txt", "two/three.txt"}

    output = run("--bucket", orphans_bucket, "--include-unused-bucket", bucket)
    assert f"orphan: {bucket}/one.txt" in output
    assert keys(raw_client, bucket) == set()


def test_model_bucket_that_holds_static_files_is_skipped(orphans_bucket: str, raw_client: Minio) -> None:
    put(raw_client, orphans_bucket, "static/app.css")

    with override_settings(MINIO_STATIC_FILES_BUCKET=orphans_bucket):
        output = run()

    assert f"skipped: {orphans_storage.config.endpoint}/{orphans_bucket} (" in output
    assert "orphan:" not in output
    assert keys(raw_client, orphans_bucket) == {"static/app.css"}


def test_objects_younger_than_min_age_are_never_judged(orphans_bucket: str, raw_client: Minio) -> None:
    put(raw_client, orphans_bucket, "docs/uploading.txt")

    output = run("--bucket", orphans_bucket, min_age="60")

    assert "orphan:" not in output
    assert summary(output) == (
        "1 objects scanned, 0 orphaned, 0 deleted, 0 missing references (1 too recent to judge)"
    )
    assert keys(raw_client, orphans_bucket) == {"docs/uploading.txt"}


def test_s3_error_exits_non_zero_naming_the_bucket(orphans_bucket: str) -> None:
    with pytest.raises(CommandError, match="dmb-test-no-such-bucket"):
        run("--bucket", orphans_bucket, "--include-unused-bucket", "dmb-test-no-such-bucket")


def test_refused_delete_is_reported_and_exits_non_zero(
    orphans_bucket: str, raw_client: Minio, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(raw_client, orphans_bucket, "held.txt", "loose.txt")
    remove_objects = orphans_storage.client.remove_objects

    def refuse_first(bucket: str, objects: Iterator[DeleteObject]) -> Iterator[DeleteError]:
        # A multi-object delete answers per key; this one refuses the first key as a locked object would.
        held, *rest = objects
        name = getattr(held, "name", None) or held._name  # minio 7.2.0's DeleteObject keeps it private
        yield DeleteError("AccessDenied", "Access Denied.", name, None)
        yield from remove_objects(bucket, iter(rest))

    monkeypatch.setattr(orphans_storage.client, "remove_objects", refuse_first)
    out = StringIO()

    with pytest.raises(CommandError, match="1 orphaned object"):
        call_command(
            "clean_orphaned_minio_files", "--bucket", orphans_bucket, "--min-age-minutes", "0", stdout=out
        )

    output = out.getvalue()
    assert f"error: {orphans_bucket}/held.txt: AccessDenied Access Denied." in output
    assert summary(output) == (
        "2 objects scanned, 2 orphaned, 1 deleted, 0 missing references (1 delete errors)"
    )
    assert keys(raw_client, orphans_bucket) == {"held.txt"}


def test_listing_and_lookups_are_interleaved_in_batches(
    orphans_bucket: str, raw_client: Minio, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = 2500
    names = [f"bulk/{i:05d}.txt" for i in range(total)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda name: put(raw_client, orphans_bucket, name), names))
    Document.objects.bulk_create(Document(file=name) for name in names[::5])

    listed = 0
    list_objects = orphans_storage.client.list_objects

    def counting_listing(*args: Any, **kwargs: Any) -> Iterator[Any]:
        nonlocal listed
        for obj in list_objects(*args, **kwargs):
            listed += 1
            yield obj

    monkeypatch.setattr(orphans_storage.client, "list_objects", counting_listing)
    lookups: list[tuple[int, int]] = []  # (objects listed so far, query parameters)

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if "orphanapp" in sql:
            lookups.append((listed, len(params or ())))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        output = run("--bucket", orphans_bucket)

    assert summary(output) == "2500 objects scanned, 2000 orphaned, 2000 deleted, 0 missing references"
    # Each batch of names is looked up (once per field: every batch has orphans) as soon
    # as it is listed, before the next is read: neither side is ever held whole.
    fields = 3
    assert [seen for seen, _ in lookups] == [
        end for end in range(BATCH_SIZE, total + 1, BATCH_SIZE) for _ in range(fields)
    ]
    assert max(params for _, params in lookups) <= BATCH_SIZE + 1
    assert keys(raw_client, orphans_bucket) == set(names[::5])


def test_location_storage_judges_only_keys_under_its_location(orphans_bucket: str, raw_client: Minio) -> None:
    put(
        raw_client, LOCATED_BUCKET, "tenant-a/notes/kept.txt", "tenant-a/notes/lost.txt", "other-app/data.bin"
    )
    LocatedNote.objects.create(file="notes/kept.txt")
    assert LocatedNote.objects.get().file.storage.exists("notes/kept.txt")

    output = run("--bucket", LOCATED_BUCKET, "--check-missing")

    assert f"orphan: {LOCATED_BUCKET}/tenant-a/notes/lost.txt" in output
    assert keys(raw_client, LOCATED_BUCKET) == {"tenant-a/notes/kept.txt", "other-app/data.bin"}
    assert "missing:" not in output
