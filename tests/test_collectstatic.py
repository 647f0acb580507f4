"""collectstatic onto MinioBackendStatic: Django's command, and our fast one (listing, MD5, parallel)."""

from __future__ import annotations

import os
import threading
import time
from io import BytesIO, StringIO
from pathlib import Path

import pytest
import urllib3
from django.core.management import call_command
from django.test import override_settings
from minio import Minio

from django_minio_backend.testing.relay import ByteRelay
from django_minio_backend.testing.seaweedfs import S3Server

from .conftest import remove_bucket

OURS_FIRST = ["django_minio_backend", "django.contrib.staticfiles"]
DJANGO_FIRST = ["django.contrib.staticfiles", "django_minio_backend"]


class CountingPool(urllib3.PoolManager):
    """A MINIO_HTTP_CLIENT that counts requests by method."""

    def __init__(self) -> None:
        super().__init__(timeout=urllib3.Timeout(connect=5, read=30), retries=False)
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def urlopen(self, method: str, url: str, *args, **kwargs):  # type: ignore[override]
        with self._lock:
            self.calls[method] = self.calls.get(method, 0) + 1
        return super().urlopen(method, url, *args, **kwargs)


@pytest.fixture
def static_source(tmp_path: Path) -> Path:
    source = tmp_path / "static"
    for i in range(40):
        (source / f"app{i % 4}").mkdir(parents=True, exist_ok=True)
        (source / f"app{i % 4}" / f"file{i}.css").write_text(f"body{{--n:{i}}}")
    return source


def collect(
    apps: list[str], source: Path, bucket: str, pool: CountingPool, *args: str, **settings: object
) -> str:
    out = StringIO()
    with override_settings(
        INSTALLED_APPS=apps,
        STATICFILES_DIRS=[str(source)],
        # The source only: the apps' own files (the direct-upload widget's) would change the counts.
        STATICFILES_FINDERS=["django.contrib.staticfiles.finders.FileSystemFinder"],
        MINIO_STATIC_FILES_BUCKET=bucket,
        MINIO_PRIVATE_BUCKETS=[bucket],
        MINIO_HTTP_CLIENT=pool,
        **settings,
    ):
        call_command("collectstatic", *args, interactive=False, stdout=out, verbosity=1)
    return out.getvalue()


@pytest.fixture
def static_bucket(s3_settings, raw_client: Minio):
    raw_client.make_bucket("dmb-test-collect")
    yield "dmb-test-collect"
    remove_bucket(raw_client, "dmb-test-collect")


def test_fast_collectstatic_uploads_then_skips_unchanged_with_one_listing(
    static_source: Path, static_bucket: str, raw_client: Minio
) -> None:
    pool = CountingPool()
    assert "40 static files copied" in collect(OURS_FIRST, static_source, static_bucket, pool)
    assert pool.calls == {"GET": 1, "PUT": 40}  # one listing, one PUT per file, no HEAD
    assert raw_client.get_object(static_bucket, "app1/file5.css").read() == b"body{--n:5}"
    assert raw_client.stat_object(static_bucket, "app1/file5.css").content_type == "text/css"

    pool = CountingPool()
    output = collect(OURS_FIRST, static_source, static_bucket, pool)
    assert "0 static files copied" in output and "40 unmodified" in output
    assert pool.calls == {"GET": 1}


def test_fast_collectstatic_compares_content_not_mtime(
    static_source: Path, static_bucket: str, raw_client: Minio
) -> None:
    collect(OURS_FIRST, static_source, static_bucket, CountingPool())
    future = time.time() + 3600
    for path in static_source.rglob("*.css"):
        os.utime(path, (future, future))  # a fresh checkout: every mtime changes
    (static_source / "app2" / "file2.css").write_text("body{--changed:1}")
    pool = CountingPool()
    output = collect(OURS_FIRST, static_source, static_bucket, pool)
    assert "1 static file copied" in output and "39 unmodified" in output
    assert pool.calls == {"GET": 1, "PUT": 1}
    assert raw_client.get_object(static_bucket, "app2/file2.css").read() == b"body{--changed:1}"


def test_fast_collectstatic_replaces_changed_files_on_a_create_only_storage(
    static_source: Path, static_bucket: str, raw_client: Minio
) -> None:
    storages = {
        "default": {"BACKEND": "django_minio_backend.models.MinioBackend"},
        "staticfiles": {
            "BACKEND": "django_minio_backend.models.MinioBackendStatic",
            "OPTIONS": {"replace_existing": False},
        },
    }
    with override_settings(STORAGES=storages):
        collect(OURS_FIRST, static_source, static_bucket, CountingPool())
        (static_source / "app0" / "file0.css").write_text("body{--v:2}")
        collect(OURS_FIRST, static_source, static_bucket, CountingPool())
    names = [o.object_name for o in raw_client.list_objects(static_bucket, prefix="app0/", recursive=True)]
    assert len(names) == 10  # replaced in place, no file0_XXXXXXX.css
    assert raw_client.get_object(static_bucket, "app0/file0.css").read() == b"body{--v:2}"


def test_django_collectstatic_still_works_when_ordered_first(static_source: Path, static_bucket: str) -> None:
    pool = CountingPool()
    assert "40 static files copied" in collect(DJANGO_FIRST, static_source, static_bucket, pool)
    assert pool.calls.get("HEAD", 0) >= 40  # Django asks exists() per file
    output = collect(DJANGO_FIRST, static_source, static_bucket, CountingPool())
    assert "40 unmodified" in output


def test_fast_collectstatic_reports_upload_failures(static_source: Path, static_bucket: str) -> None:
    from django.core.management import CommandError

    class Failing(CountingPool):
        def urlopen(self, method: str, url: str, *args, **kwargs):  # type: ignore[override]
            if method == "PUT" and "file7" in url:
                raise urllib3.exceptions.ProtocolError("connection reset")
            return super().urlopen(method, url, *args, **kwargs)

    with pytest.raises(CommandError, match=r"1 static file\(s\) failed to upload: app3/file7\.css"):
        collect(OURS_FIRST, static_source, static_bucket, Failing())


def test_clear_deletes_stale_objects_and_uploads_everything_again(
    static_source: Path, static_bucket: str, raw_client: Minio
) -> None:
    collect(OURS_FIRST, static_source, static_bucket, CountingPool())
    raw_client.put_object(static_bucket, "old/stale.css", BytesIO(b"x"), 1)
    output = collect(OURS_FIRST, static_source, static_bucket, CountingPool(), "--clear")
    assert "Deleting 'old/stale.css'" in output
    assert "40 static files copied" in output  # headers re-pushed: nothing skipped as unmodified
    names = {o.object_name for o in raw_client.list_objects(static_bucket, recursive=True)}
    assert "old/stale.css" not in names and len(names) == 40


def test_clear_dry_run_lists_what_would_go_and_deletes_nothing(
    static_source: Path, static_bucket: str, raw_client: Minio
) -> None:
    raw_client.put_object(static_bucket, "old/stale.css", BytesIO(b"x"), 1)
    pool = CountingPool()
    output = collect(OURS_FIRST, static_source, static_bucket, pool, "--clear", "--dry-run")
    assert "Pretending to delete 'old/stale.css'" in output
    assert "40 static files copied" in output  # "copied" is Django's dry-run wording too
    assert set(pool.calls) == {"GET"}  # listings only: no DELETE, no POST, no PUT
    assert [o.object_name for o in raw_client.list_objects(static_bucket, recursive=True)] == [
        "old/stale.css"
    ]


def test_fast_collectstatic_creates_a_missing_static_bucket_as_a_save_would(
    static_source: Path, bucket_name: str, raw_client: Minio
) -> None:
    output = collect(OURS_FIRST, static_source, bucket_name, CountingPool(), MINIO_BUCKET_CHECK_ON_SAVE=True)
    assert "40 static files copied" in output
    assert raw_client.get_object(bucket_name, "app1/file5.css").read() == b"body{--n:5}"


def test_fast_collectstatic_dry_run_does_not_create_the_bucket(
    static_source: Path, bucket_name: str, raw_client: Minio
) -> None:
    output = collect(
        OURS_FIRST, static_source, bucket_name, CountingPool(), "--dry-run", MINIO_BUCKET_CHECK_ON_SAVE=True
    )
    assert "40 static files copied" in output
    assert not raw_client.bucket_exists(bucket_name)


def test_fast_collectstatic_says_how_to_create_a_missing_bucket(
    static_source: Path, bucket_name: str
) -> None:
    from django.core.management import CommandError

    with pytest.raises(CommandError, match=f"{bucket_name}.*initialize_buckets.*MINIO_BUCKET_CHECK_ON_SAVE"):
        collect(OURS_FIRST, static_source, bucket_name, CountingPool(), MINIO_BUCKET_CHECK_ON_SAVE=False)


def shared_bucket(
    bucket: str, media_location: str, static_location: str = "", media_endpoint: str | None = None
) -> dict[str, object]:
    """STORAGES with the media (default) alias and the static files in one bucket."""
    media: dict[str, object] = {"bucket_name": bucket, "location": media_location}
    if media_endpoint:
        media["endpoint"] = media_endpoint
    return {
        "default": {"BACKEND": "django_minio_backend.models.MinioBackend", "OPTIONS": media},
        "staticfiles": {
            "BACKEND": "django_minio_backend.models.MinioBackendStatic",
            "OPTIONS": {"location": static_location},
        },
    }


def keys(client: Minio, bucket: str) -> set[str]:
    return {o.object_name for o in client.list_objects(bucket, recursive=True)}


@pytest.mark.parametrize("through_relay", [False, True], ids=["same endpoint", "another port, same server"])
def test_clear_refuses_when_media_lives_under_the_static_location(
    static_source: Path, static_bucket: str, raw_client: Minio, s3_server: S3Server, through_relay: bool
) -> None:
    from django.core.management import CommandError

    raw_client.put_object(static_bucket, "media/user/upload.pdf", BytesIO(b"precious"), 8)
    # A proxy or a published port reaches the bucket at an address the static storage does not use.
    relay = ByteRelay(int(s3_server.endpoint.rpartition(":")[2])) if through_relay else None
    endpoint = f"127.0.0.1:{relay.port}" if relay else None
    storages = shared_bucket(static_bucket, "media", media_endpoint=endpoint)
    try:
        for args in (("--clear",), ("--clear", "--dry-run")):
            with pytest.raises(
                CommandError, match=rf"--clear refused: STORAGES\['default'\].*{static_bucket}/media/"
            ):
                collect(OURS_FIRST, static_source, static_bucket, CountingPool(), *args, STORAGES=storages)
    finally:
        if relay:
            relay.close()
    assert keys(raw_client, static_bucket) == {"media/user/upload.pdf"}


def test_clear_refuses_when_a_model_field_stores_in_the_static_bucket(
    static_source: Path, static_bucket: str, raw_client: Minio, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.management import CommandError

    from django_minio_backend import MinioBackend
    from tests.orphanapp.models import Document

    monkeypatch.setattr(
        Document._meta.get_field("file"), "storage", MinioBackend(bucket_name=static_bucket, location="docs")
    )
    raw_client.put_object(static_bucket, "docs/contract.pdf", BytesIO(b"precious"), 8)

    with pytest.raises(CommandError, match=r"--clear refused: orphanapp.Document.file"):
        collect([*OURS_FIRST, "tests.orphanapp"], static_source, static_bucket, CountingPool(), "--clear")
    assert keys(raw_client, static_bucket) == {"docs/contract.pdf"}


def test_static_file_replacing_an_object_of_another_storage_is_refused(
    static_source: Path, static_bucket: str, raw_client: Minio
) -> None:
    from django.core.management import CommandError

    raw_client.put_object(static_bucket, "app1/file5.css", BytesIO(b"media"), 5)
    fast = shared_bucket(static_bucket, "")
    manifest = {
        **fast,
        "staticfiles": {"BACKEND": "django_minio_backend.manifest.MinioManifestStaticStorage"},
    }

    # The fast path, and Django's (a storage that post-processes what was uploaded), which then
    # also meets the files the first run uploaded before it stopped.
    for storages in (fast, manifest):
        with pytest.raises(CommandError, match=r"overwriting '[^']+\.css' refused: STORAGES\['default'\]"):
            collect(OURS_FIRST, static_source, static_bucket, CountingPool(), STORAGES=storages)
    assert raw_client.get_object(static_bucket, "app1/file5.css").read() == b"media"


def test_clear_refuses_when_the_media_location_holds_the_static_location(
    static_source: Path, static_bucket: str, raw_client: Minio
) -> None:
    """Media at the bucket root can hold names under static/: --clear would delete them."""
    from django.core.management import CommandError

    raw_client.put_object(static_bucket, "static/uploads/user.pdf", BytesIO(b"precious"), 8)
    storages = shared_bucket(static_bucket, "", static_location="static")

    with pytest.raises(
        CommandError, match=rf"--clear refused: STORAGES\['default'\].*'{static_bucket}/static/'"
    ):
        collect(OURS_FIRST, static_source, static_bucket, CountingPool(), "--clear", STORAGES=storages)
    assert keys(raw_client, static_bucket) == {"static/uploads/user.pdf"}
    output = collect(OURS_FIRST, static_source, static_bucket, CountingPool(), STORAGES=storages)
    assert "40 static files copied" in output
    assert raw_client.get_object(static_bucket, "static/uploads/user.pdf").read() == b"precious"


def test_clear_says_how_to_create_a_missing_bucket_as_a_run_without_it_does(
    static_source: Path, bucket_name: str, raw_client: Minio
) -> None:
    from django.core.management import CommandError

    with pytest.raises(CommandError, match=f"{bucket_name}.*initialize_buckets.*MINIO_BUCKET_CHECK_ON_SAVE"):
        collect(
            OURS_FIRST,
            static_source,
            bucket_name,
            CountingPool(),
            "--clear",
            MINIO_BUCKET_CHECK_ON_SAVE=False,
        )
    assert not raw_client.bucket_exists(bucket_name)
