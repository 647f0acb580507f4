"""A project written for upstream django-minio-backend 4.x runs unchanged; aliases on two servers."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
import urllib3
from django.core.management import CommandError, call_command
from django.test import override_settings
from minio import Minio

from django_minio_backend import MinioBackend
from django_minio_backend.testing.seaweedfs import SeaweedFS

from .conftest import remove_bucket, run_python

http = urllib3.PoolManager(retries=False, timeout=10)
UP4_BUCKETS = ("up4-static", "up4-private", "up4-media", "up4-public")


def upstream_env(server, tmp_path: Path) -> dict[str, str]:
    import os

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.upstream4.settings",
        "UPSTREAM4_DB": str(tmp_path / "db.sqlite3"),
        "UPSTREAM4_ENDPOINT": server.endpoint,
        "UPSTREAM4_ACCESS_KEY": server.access_key,
        "UPSTREAM4_SECRET_KEY": server.secret_key,
    }


def test_upstream4_settings_project_runs_unchanged(s3_server, raw_client: Minio, tmp_path: Path) -> None:
    for bucket in UP4_BUCKETS:
        remove_bucket(raw_client, bucket)
    env = upstream_env(s3_server, tmp_path)
    try:
        check = run_python(["-m", "django", "check"], env)
        assert check.returncode == 0, check.stderr
        # The staticfiles alias asks for the on-start check: `check` alone created its bucket.
        assert raw_client.bucket_exists("up4-static")
        assert not raw_client.bucket_exists("up4-media")
        result = run_python(["-m", "tests.upstream4.scenario"], env)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.strip().splitlines()
        report = json.loads(lines[-1])
        assert any("up4-public (public): created, policy set" in line for line in lines)
        name, url, cached = report["private"]
        assert url == cached  # MINIO_URL_CACHING_ENABLED
        assert "X-Amz-Signature" in url and http.request("GET", url).data == b"private"
        assert raw_client.stat_object("up4-private", name).size == 7
        name, url = report["public"]
        assert "X-Amz-Signature" not in url and http.request("GET", url).data == b"public"
        name, url, bucket = report["default"]
        assert bucket == "up4-media" and http.request("GET", url).data == b"default"
        migrations = run_python(["-m", "django", "makemigrations", "upstream4", "--dry-run", "-v", "3"], env)
        assert migrations.returncode == 0, migrations.stderr
        assert "tests.upstream4.storages.get_private_storage" in migrations.stdout
        assert s3_server.secret_key not in migrations.stdout
    finally:
        for bucket in UP4_BUCKETS:
            remove_bucket(raw_client, bucket)


def test_precedence_kwargs_then_alias_options_then_settings(s3_settings) -> None:
    storages = {
        "default": {"BACKEND": "django_minio_backend.models.MinioBackend"},
        "staticfiles": {"BACKEND": "django_minio_backend.models.MinioBackendStatic"},
        "archive": {
            "BACKEND": "django_minio_backend.models.MinioBackend",
            "OPTIONS": {
                "MINIO_DEFAULT_BUCKET": "archive",
                "url_expiry_hours": __import__("datetime").timedelta(hours=2),
                "MINIO_REGION": "eu-west-1",
            },
        },
    }
    with override_settings(STORAGES=storages, MINIO_REGION="us-east-1", MINIO_USE_HTTPS=True):
        storage = MinioBackend(storage_name="archive", MINIO_REGION="ap-south-1")
        assert storage.bucket == "archive"  # alias OPTIONS (upper-case key)
        assert storage.config.region == "ap-south-1"  # keyword argument wins
        assert storage.config.url_expiry_hours.total_seconds() == 7200  # alias OPTIONS
        assert storage.config.use_https is True  # top-level setting
        assert MinioBackend(storage_name="archive", bucket_name="other").bucket == "other"
        with pytest.raises(Exception, match="storage_name='missing'"):
            MinioBackend(storage_name="missing").config  # noqa: B018


@pytest.fixture(scope="module")
def second_server(tmp_path_factory: pytest.TempPathFactory):
    with SeaweedFS(tmp_path_factory.mktemp("second")) as server:
        yield server


def test_commands_and_checks_cover_every_alias_on_its_own_endpoint(
    s3_settings, second_server, raw_client
) -> None:
    other = Minio(
        second_server.endpoint,
        second_server.access_key,
        second_server.secret_key,
        secure=False,
        region="us-east-1",
    )
    storages = {
        "default": {"BACKEND": "django_minio_backend.models.MinioBackend"},
        "staticfiles": {"BACKEND": "django_minio_backend.models.MinioBackendStatic"},
        "remote": {
            "BACKEND": "django_minio_backend.models.MinioBackend",
            "OPTIONS": {
                "endpoint": second_server.endpoint,
                "access_key": second_server.access_key,
                "secret_key": second_server.secret_key,
                "bucket_name": "remote-files",
                "public_buckets": ["remote-files"],
            },
        },
    }
    with override_settings(STORAGES=storages):
        out = StringIO()
        call_command("initialize_buckets", stdout=out)
        assert f"{second_server.endpoint}/remote-files (public): created, policy set" in out.getvalue()
        assert other.bucket_exists("remote-files") and not raw_client.bucket_exists("remote-files")
        out = StringIO()
        call_command("is_minio_available", stdout=out)
        assert second_server.endpoint in out.getvalue() and out.getvalue().count("OK: ") >= 2
        broken = {
            **storages,
            "remote": {
                **storages["remote"],
                "OPTIONS": {**storages["remote"]["OPTIONS"], "endpoint": "127.0.0.1:9"},
            },
        }
        with override_settings(STORAGES=broken), pytest.raises(CommandError, match=r"127\.0\.0\.1:9"):
            call_command("is_minio_available", stdout=StringIO())
        from django.core.checks import run_checks

        with override_settings(
            STORAGES={
                **storages,
                "remote": {
                    **storages["remote"],
                    "OPTIONS": {**storages["remote"]["OPTIONS"], "secret_key": ""},
                },
            }
        ):
            messages = [m for m in run_checks() if m.id == "django_minio_backend.E003"]
        assert any("STORAGES['remote']" in m.msg for m in messages)
