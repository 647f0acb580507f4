"""clean_orphaned_minio_files against SeaweedFS, with real models and rows (tests/orphanapp)."""

from __future__ import annotations

import io
import uuid
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

from django_minio_backend import MinioBackend
from django_minio_backend.buckets import quarantine_prefix
from django_minio_backend.conf import global_setting
from django_minio_backend.orphans import BATCH_SIZE, DEFAULT_MIN_AGE
from django_minio_backend.testing.seaweedfs import S3Server, SeaweedFS, free_port
from tests.faultproxy import FaultProxy
from tests.orphanapp.models import (
    LOCATED_BUCKET,
    ORPHANS_BUCKET,
    Attachment,
    Document,
    LocatedNote,
    Photo,
    orphans_storage,
)
from tests.testapp.models import DefaultStorageAttachment

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

    output = run("--bucket", orphans_bucket)

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
    put(raw_client, orphans_bucket, "orphan.txt", "docs/kept.txt")
    Document.objects.create(file="docs/kept.txt")

    # A dry run over every bucket: the bucket of no model is not even listed. (The shared test
    # buckets hold files of other tests whose rows are gone: their tables are empty.)
    everything = run("--dry-run", "--allow-empty-tables")
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
        output = run("--bucket", orphans_bucket)

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
    put(raw_client, orphans_bucket, "held.txt", "loose.txt", "docs/kept.txt")
    Document.objects.create(file="docs/kept.txt")
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
        "3 objects scanned, 2 orphaned, 1 deleted, 0 missing references (1 delete errors)"
    )
    assert keys(raw_client, orphans_bucket) == {"held.txt", "docs/kept.txt"}


def test_rows_are_read_once_and_the_listing_streams_into_batched_deletes(
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

    deletes: list[tuple[int, int]] = []  # (objects listed so far, keys in the request)
    remove_objects = orphans_storage.client.remove_objects

    def recording_delete(bucket: str, objects: Iterator[DeleteObject]) -> Iterator[DeleteError]:
        batch = list(objects)
        deletes.append((listed, len(batch)))
        return remove_objects(bucket, iter(batch))

    monkeypatch.setattr(orphans_storage.client, "list_objects", counting_listing)
    monkeypatch.setattr(orphans_storage.client, "remove_objects", recording_delete)
    lookups: list[int] = []  # objects listed when each query of a model table ran

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if "orphanapp" in sql:
            lookups.append(listed)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        output = run("--bucket", orphans_bucket)

    assert summary(output) == "2500 objects scanned, 2000 orphaned, 2000 deleted, 0 missing references"
    # Whether any row names a file (Document.file's do), then one query per file field of the
    # bucket, all before the listing starts ...
    assert lookups == [0, 0, 0, 0, 0]
    # ... and the orphans go as soon as a batch is full, while the listing is still being read:
    # 1000 orphans are found among the first 1250 objects (every fifth is referenced).
    assert BATCH_SIZE == 1000
    assert deletes == [(1250, 1000), (2500, 1000)]
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


def test_rows_naming_a_file_the_way_open_accepts_keep_it(orphans_bucket: str, raw_client: Minio) -> None:
    put(raw_client, orphans_bucket, "legacy/doc.txt", "docs/win.txt", "docs/orphan.txt")
    put(raw_client, LOCATED_BUCKET, "tenant-a/notes/kept.txt", "tenant-a/notes/lost.txt")
    legacy = Document.objects.create(file="legacy//doc.txt")
    Document.objects.create(file="./docs\\win.txt")
    note = LocatedNote.objects.create(file="notes//./kept.txt")
    # The rows are served as they are: the names reach these objects.
    for row in (legacy, note):
        with row.file.open() as handle:
            assert handle.read() == b"data"

    output = run("--bucket", orphans_bucket, "--bucket", LOCATED_BUCKET)

    assert f"orphan: {orphans_bucket}/docs/orphan.txt" in output
    assert f"orphan: {LOCATED_BUCKET}/tenant-a/notes/lost.txt" in output
    assert keys(raw_client, orphans_bucket) == {"legacy/doc.txt", "docs/win.txt"}
    assert keys(raw_client, LOCATED_BUCKET) == {"tenant-a/notes/kept.txt"}


def test_check_missing_reports_a_name_open_refuses_instead_of_crashing(
    orphans_bucket: str, raw_client: Minio
) -> None:
    row = Document.objects.create(file="docs/../../etc/passwd")

    output = run("--check-missing", "--bucket", orphans_bucket)

    assert (
        f"missing: orphanapp.Document.file pk={row.pk} name=docs/../../etc/passwd (open() refuses" in output
    )
    assert summary(output).startswith("0 objects scanned, 0 orphaned, 0 deleted, 1 missing references")


def test_case_insensitive_column_keeps_objects_a_row_names_in_another_case(
    orphans_bucket: str, raw_client: Minio
) -> None:
    put(
        raw_client, orphans_bucket, "attachments/Report.PDF", "attachments/exact.txt", "attachments/stray.txt"
    )
    Attachment.objects.create(file="attachments/report.pdf")
    Attachment.objects.create(file="attachments/exact.txt")
    # The column is case-insensitive: the database takes the two spellings for one.
    assert Attachment.objects.filter(file="attachments/REPORT.pdf").count() == 1

    output = run("--bucket", orphans_bucket)

    assert f"kept: {orphans_bucket}/attachments/Report.PDF: a row names it in another letter case" in output
    assert f"orphan: {orphans_bucket}/attachments/stray.txt" in output
    assert summary(output) == (
        "3 objects scanned, 1 orphaned, 1 deleted, 0 missing references "
        "(1 kept: a row names them in another letter case)"
    )
    assert keys(raw_client, orphans_bucket) == {"attachments/Report.PDF", "attachments/exact.txt"}


# -- one bucket, several spellings of its endpoint -----------------------------------------------------


@pytest.fixture
def photo_storage(monkeypatch: pytest.MonkeyPatch) -> Callable[[MinioBackend], None]:
    """Store Photo.image through another storage for one test (Document's fields keep theirs)."""

    def swap(storage: MinioBackend) -> None:
        monkeypatch.setattr(Photo._meta.get_field("image"), "storage", storage)

    return swap


def one_bucket_of_two_models(client: Minio, bucket: str) -> None:
    """Each model references one object; one object is an orphan."""
    put(client, bucket, "docs/a.txt", "photos/p.jpg", "stray.bin")
    Document.objects.create(file="docs/a.txt")
    Photo.objects.create(image="photos/p.jpg")


def test_alias_spelling_the_endpoint_localhost_reaches_the_same_bucket(
    orphans_bucket: str,
    raw_client: Minio,
    s3_server: S3Server,
    photo_storage: Callable[[MinioBackend], None],
    settings: Any,
) -> None:
    host, port = s3_server.endpoint.rsplit(":", 1)
    assert host == "127.0.0.1"
    settings.STORAGES = {
        **settings.STORAGES,
        "photos": {
            "BACKEND": "django_minio_backend.models.MinioBackend",
            "OPTIONS": {"endpoint": f"localhost:{port}", "bucket_name": orphans_bucket},
        },
    }
    photo_storage(MinioBackend(storage_name="photos"))
    one_bucket_of_two_models(raw_client, orphans_bucket)

    output = run("--bucket", orphans_bucket)

    assert keys(raw_client, orphans_bucket) == {"docs/a.txt", "photos/p.jpg"}
    scans = [line for line in output.splitlines() if line.startswith("scanning ")]
    assert scans == [
        f"scanning {s3_server.endpoint}/{orphans_bucket} (also reached as localhost:{port}) "
        "(orphanapp.Document.file, orphanapp.Document.preview, orphanapp.Attachment.file, "
        "orphanapp.Photo.image)"
    ]
    assert summary(output) == "3 objects scanned, 1 orphaned, 1 deleted, 0 missing references"


def test_static_storage_spelling_the_endpoint_localhost_still_keeps_its_bucket_out(
    orphans_bucket: str, raw_client: Minio, s3_server: S3Server, settings: Any
) -> None:
    port = s3_server.endpoint.rsplit(":", 1)[1]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "django_minio_backend.models.MinioBackendStatic",
            "OPTIONS": {"endpoint": f"localhost:{port}", "bucket_name": orphans_bucket},
        },
    }
    put(raw_client, orphans_bucket, "static/app.css")

    output = run("--bucket", orphans_bucket)

    assert keys(raw_client, orphans_bucket) == {"static/app.css"}
    assert (
        f"skipped: {orphans_storage.config.endpoint}/{orphans_bucket} (also reached as localhost:{port})"
        in output
    )


def test_storage_on_another_address_of_the_same_server_shares_its_references(
    orphans_bucket: str, raw_client: Minio, s3_server: S3Server, photo_storage: Callable[[MinioBackend], None]
) -> None:
    # An internal and an external endpoint of one server: the proxy is another port, the same server.
    host, port = s3_server.endpoint.rsplit(":", 1)
    with FaultProxy((host, int(port))) as proxy:
        photo_storage(MinioBackend(bucket_name=orphans_bucket, endpoint=proxy.endpoint))
        one_bucket_of_two_models(raw_client, orphans_bucket)

        output = run("--bucket", orphans_bucket)

    assert keys(raw_client, orphans_bucket) == {"docs/a.txt", "photos/p.jpg"}
    assert f"(also reached as {proxy.endpoint})" in output
    assert summary(output) == "3 objects scanned, 1 orphaned, 1 deleted, 0 missing references"


def test_unreachable_spelling_of_a_model_bucket_deletes_nothing(
    orphans_bucket: str, raw_client: Minio, photo_storage: Callable[[MinioBackend], None]
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    photo_storage(MinioBackend(bucket_name=orphans_bucket, endpoint=dead))
    one_bucket_of_two_models(raw_client, orphans_bucket)

    with pytest.raises(CommandError) as refused:
        run("--bucket", orphans_bucket)

    assert keys(raw_client, orphans_bucket) == {"docs/a.txt", "photos/p.jpg", "stray.bin"}
    message = str(refused.value)
    assert "cannot tell whether" in message
    assert f"{dead}/{orphans_bucket} (orphanapp.Photo.image)" in message
    assert "Nothing was deleted" in message


def test_refusal_for_an_unreachable_spelling_carries_no_sdk_frames_holding_the_token(
    orphans_bucket: str, raw_client: Minio, photo_storage: Callable[[MinioBackend], None]
) -> None:
    from tests.test_secrets import raised, reports

    token = "ToKeN-" + uuid.uuid4().hex
    dead = f"127.0.0.1:{free_port()}"
    photo_storage(MinioBackend(bucket_name=orphans_bucket, endpoint=dead, session_token=token))
    one_bucket_of_two_models(raw_client, orphans_bucket)
    refused = raised(lambda: run("--bucket", orphans_bucket))  # its frames start below this test's
    assert isinstance(refused, CommandError) and "cannot tell whether" in str(refused)
    assert token not in reports(refused)


@pytest.fixture(scope="module")
def second_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with SeaweedFS(tmp_path_factory.mktemp("orphans-second")) as server:
        yield server


def test_bucket_of_the_same_name_on_another_server_is_scanned_on_its_own(
    orphans_bucket: str,
    raw_client: Minio,
    second_server: S3Server,
    photo_storage: Callable[[MinioBackend], None],
) -> None:
    other = Minio(second_server.endpoint, second_server.access_key, second_server.secret_key, secure=False)
    drop_bucket(other, orphans_bucket)
    other.make_bucket(orphans_bucket)
    photo_storage(
        MinioBackend(
            bucket_name=orphans_bucket,
            endpoint=second_server.endpoint,
            access_key=second_server.access_key,
            secret_key=second_server.secret_key,
        )
    )
    # The same keys on both servers: only the rows of each server's fields protect its objects.
    put(raw_client, orphans_bucket, "docs/a.txt", "photos/p.jpg")
    for name in ("docs/a.txt", "photos/p.jpg"):
        other.put_object(orphans_bucket, name, io.BytesIO(b"other data"), 10)
    Document.objects.create(file="docs/a.txt")
    Photo.objects.create(image="photos/p.jpg")

    try:
        output = run("--bucket", orphans_bucket)
        assert "also reached as" not in output
        assert f"orphan: {orphans_bucket}/photos/p.jpg" in output
        assert f"orphan: {orphans_bucket}/docs/a.txt" in output
        assert keys(raw_client, orphans_bucket) == {"docs/a.txt"}
        assert keys(other, orphans_bucket) == {"photos/p.jpg"}
    finally:
        drop_bucket(other, orphans_bucket)


def media_and_static_aliases(settings: Any, bucket: str, static_location: str) -> None:
    """The default alias (DefaultStorageAttachment.file stores through it) and a plain one, one bucket."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django_minio_backend.models.MinioBackend",
            "OPTIONS": {"bucket_name": bucket},
        },
        "static": {
            "BACKEND": "django_minio_backend.models.MinioBackend",
            "OPTIONS": {"bucket_name": bucket, "location": static_location},
        },
    }


def test_files_of_another_alias_located_in_a_model_bucket_are_never_judged(
    bucket: str, raw_client: Minio, settings: Any
) -> None:
    media_and_static_aliases(settings, bucket, "static")
    put(raw_client, bucket, "static/css/site.css", "docs/kept.txt", "stray.bin")
    DefaultStorageAttachment.objects.create(file="docs/kept.txt")

    output = run("--bucket", bucket)

    assert "static/" not in output
    assert summary(output) == "2 objects scanned, 1 orphaned, 1 deleted, 0 missing references"
    assert keys(raw_client, bucket) == {"static/css/site.css", "docs/kept.txt"}


def test_alias_sharing_the_scanned_prefix_refuses_naming_both_storages(
    bucket: str, raw_client: Minio, settings: Any
) -> None:
    media_and_static_aliases(settings, bucket, "")
    put(raw_client, bucket, "css/site.css", "docs/kept.txt")
    DefaultStorageAttachment.objects.create(file="docs/kept.txt")

    with pytest.raises(CommandError, match=r"STORAGES\['static'\].*testapp.DefaultStorageAttachment.file"):
        run("--bucket", bucket, "--dry-run")
    with pytest.raises(CommandError, match=r"STORAGES\['static'\]"):
        run("--bucket", bucket)

    assert keys(raw_client, bucket) == {"css/site.css", "docs/kept.txt"}


def test_bucket_whose_tables_are_empty_is_refused_unless_allowed(
    orphans_bucket: str, raw_client: Minio
) -> None:
    put(raw_client, orphans_bucket, "docs/a.txt", "photos/p.jpg")

    with pytest.raises(CommandError, match=r"Wrong DATABASES\?.*--allow-empty-tables"):
        run("--bucket", orphans_bucket)
    assert keys(raw_client, orphans_bucket) == {"docs/a.txt", "photos/p.jpg"}

    output = run("--bucket", orphans_bucket, "--allow-empty-tables")
    assert summary(output) == "2 objects scanned, 2 orphaned, 2 deleted, 0 missing references"
    assert keys(raw_client, orphans_bucket) == set()


def test_empty_tables_and_a_bucket_with_nothing_to_judge_is_no_refusal(
    orphans_bucket: str, raw_client: Minio
) -> None:
    put(raw_client, orphans_bucket, "docs/new.txt")

    output = run("--bucket", orphans_bucket, min_age="60")

    assert summary(output).endswith("(1 too recent to judge)")
    assert keys(raw_client, orphans_bucket) == {"docs/new.txt"}


def test_direct_upload_quarantine_is_never_judged(orphans_bucket: str, raw_client: Minio) -> None:
    waiting = f"{quarantine_prefix(orphans_storage)}ticket-1/report.pdf"
    put(raw_client, orphans_bucket, waiting, "docs/kept.txt", "docs/lost.txt")
    Document.objects.create(file="docs/kept.txt")

    output = run("--bucket", orphans_bucket)

    assert summary(output) == "2 objects scanned, 1 orphaned, 1 deleted, 0 missing references"
    assert keys(raw_client, orphans_bucket) == {waiting, "docs/kept.txt"}


def test_default_min_age_outlives_a_direct_upload_value_and_keeps_todays_objects(
    orphans_bucket: str, raw_client: Minio
) -> None:
    # A finalized direct upload gets its row when the form is saved, up to twice the ticket age later.
    value_lifetime = 2 * global_setting("MINIO_DIRECT_UPLOAD_TICKET_AGE")
    assert value_lifetime < DEFAULT_MIN_AGE
    put(raw_client, orphans_bucket, "direct/finalized.pdf", "docs/kept.txt")
    Document.objects.create(file="docs/kept.txt")
    out = StringIO()

    call_command("clean_orphaned_minio_files", "--bucket", orphans_bucket, stdout=out)

    assert summary(out.getvalue()).endswith("(2 too recent to judge)")
    assert keys(raw_client, orphans_bucket) == {"direct/finalized.pdf", "docs/kept.txt"}


def test_default_alias_the_fields_storages_are_built_from_is_not_another_storage(
    orphans_bucket: str, raw_client: Minio, settings: Any
) -> None:
    # Upstream 4.x's layout: MinioBackend(bucket_name=...) in the models reads STORAGES["default"]'s OPTIONS.
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django_minio_backend.models.MinioBackend",
            "OPTIONS": {"bucket_name": orphans_bucket},
        },
    }
    put(raw_client, orphans_bucket, "docs/kept.txt", "stray.bin")
    Document.objects.create(file="docs/kept.txt")

    output = run("--bucket", orphans_bucket)

    assert f"orphan: {orphans_bucket}/stray.bin" in output
    assert keys(raw_client, orphans_bucket) == {"docs/kept.txt"}
