"""Through Django: models, STORAGES, collectstatic, migrations, settings changes."""

from __future__ import annotations

import os
import re
from io import StringIO
from pathlib import Path

import django
import pytest
import urllib3
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages
from django.core.management import call_command
from django.test import override_settings

from django_minio_backend import (
    MinioBackend,
    MinioBackendStatic,
    MinioServerStatus,
    get_iso_date,
    iso_date_prefix,
)
from django_minio_backend import models as legacy_models
from tests.testapp.models import DefaultStorageAttachment, PrivateAttachment, PublicAttachment

from .conftest import run_python, subprocess_env

http = urllib3.PoolManager(retries=False, timeout=10)


def test_old_import_paths_keep_working() -> None:
    assert legacy_models.MinioBackend is MinioBackend
    assert legacy_models.MinioBackendStatic is MinioBackendStatic
    assert MinioServerStatus(True, "x")


def test_iso_date_prefix_is_zero_padded_utc_date() -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", get_iso_date())
    assert iso_date_prefix(None, "a.txt") == f"{get_iso_date()}/a.txt"


@pytest.mark.django_db
def test_model_file_field_saves_to_private_bucket_with_presigned_url(s3_settings) -> None:
    obj = PrivateAttachment.objects.create(file=ContentFile(b"private bytes", name="p.txt"))
    assert obj.file.name == f"{get_iso_date()}/p.txt" or obj.file.name.startswith(f"{get_iso_date()}/p_")
    assert obj.file.storage.bucket == "dmb-test-private"
    assert http.request("GET", obj.file.url).data == b"private bytes"
    assert "X-Amz-Signature" in obj.file.url
    obj.file.delete(save=False)
    assert not obj.file.storage.exists(obj.file.name or "p.txt")


@pytest.mark.django_db
def test_model_file_field_in_public_bucket_gives_plain_url(s3_settings) -> None:
    from django_minio_backend.buckets import sync_bucket

    sync_bucket(PublicAttachment._meta.get_field("file").storage)
    obj = PublicAttachment.objects.create(file=ContentFile(b"public bytes", name="pub.txt"))
    assert obj.file.name.startswith("public/pub")
    assert "X-Amz-Signature" not in obj.file.url
    assert http.request("GET", obj.file.url).data == b"public bytes"


@pytest.mark.django_db
def test_default_storage_from_storages_setting_is_minio(s3_settings) -> None:
    assert isinstance(
        default_storage._wrapped if hasattr(default_storage, "_wrapped") else default_storage, MinioBackend
    ) or isinstance(storages["default"], MinioBackend)
    obj = DefaultStorageAttachment.objects.create(file=ContentFile(b"d", name="d.txt"))
    assert storages["default"].exists(obj.file.name)
    assert obj.file.read() == b"d"


def test_storages_options_win_over_settings(s3_settings) -> None:
    with override_settings(
        STORAGES={
            "default": {
                "BACKEND": "django_minio_backend.models.MinioBackend",
                "OPTIONS": {
                    "bucket_name": "dmb-test-public",
                    "url_expiry_hours": __import__("datetime").timedelta(hours=2),
                },
            },
            "staticfiles": {"BACKEND": "django_minio_backend.models.MinioBackendStatic"},
        }
    ):
        storage = storages.create_storage(django.conf.settings.STORAGES["default"])
        assert storage.bucket == "dmb-test-public"
        assert storage.config.url_expiry_hours.total_seconds() == 7200
        assert storage.config.endpoint == s3_settings["MINIO_ENDPOINT"]


def test_unknown_option_is_improperly_configured_naming_the_key() -> None:
    with pytest.raises(ImproperlyConfigured, match="bucket_nme"):
        MinioBackend(bucket_nme="x")


def test_upper_case_upstream_option_keys_are_accepted(s3_settings) -> None:
    storage = MinioBackend(MINIO_DEFAULT_BUCKET="up-bucket", MINIO_USE_HTTPS=True)
    assert storage.bucket == "up-bucket" and storage.config.use_https is True


def test_override_settings_reaches_existing_storage(s3_settings) -> None:
    storage = MinioBackend()
    assert storage.bucket == "dmb-test-private"
    with override_settings(MINIO_MEDIA_FILES_BUCKET="other-bucket"):
        assert storage.bucket == "other-bucket"
    assert storage.bucket == "dmb-test-private"


def test_static_storage_uses_static_bucket_and_replaces(s3_settings) -> None:
    storage = MinioBackendStatic()
    assert storage.bucket == "dmb-test-static"
    storage.save("css/x.css", ContentFile(b"a{}"))
    assert storage.save("css/x.css", ContentFile(b"b{}")) == "css/x.css"
    assert storage.open("css/x.css").read() == b"b{}"


def test_collectstatic_uploads_into_static_bucket(s3_settings, tmp_path: Path, raw_client) -> None:
    source = tmp_path / "static"
    (source / "app").mkdir(parents=True)
    (source / "app" / "site.css").write_text("body{}")
    (source / "app" / "site.js").write_text("let a;")
    with override_settings(
        STATICFILES_DIRS=[str(source)], INSTALLED_APPS=["django.contrib.staticfiles", "django_minio_backend"]
    ):
        out = StringIO()
        call_command("collectstatic", interactive=False, stdout=out, verbosity=1)
        assert "4 static files copied" in out.getvalue()  # and the direct-upload widget's JS and CSS
        stat = raw_client.stat_object("dmb-test-static", "app/site.css")
        assert stat.content_type == "text/css"
        out = StringIO()
        call_command("collectstatic", interactive=False, stdout=out, verbosity=1)
        assert "4 unmodified" in out.getvalue()


def test_deconstruct_records_no_secret_and_stable_path() -> None:
    storage = MinioBackend(
        bucket_name="b", access_key="AKIA-LEAK", secret_key="SECRET-LEAK", MINIO_SECRET_KEY="X"
    )
    path, _args, kwargs = storage.deconstruct()
    assert path == "django_minio_backend.models.MinioBackend"
    assert kwargs == {"bucket_name": "b"}
    assert "LEAK" not in repr(storage)


@pytest.mark.django_db
def test_makemigrations_writes_storage_without_credentials(s3_settings) -> None:
    out = StringIO()
    call_command("makemigrations", "testapp", dry_run=True, verbosity=3, stdout=out)
    text = out.getvalue()
    assert "django_minio_backend.models.MinioBackend(bucket_name='dmb-test-private')" in text
    assert s3_settings["MINIO_SECRET_KEY"] not in text and s3_settings["MINIO_ACCESS_KEY"] not in text


def test_no_network_io_at_import_init_ready_or_url() -> None:
    code = """
import socket
def refuse(*a, **k):
    raise AssertionError("network I/O attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
import django
django.setup()
from django.core.files.storage import storages
from django_minio_backend import MinioBackend, MinioBackendStatic
s = MinioBackend(bucket_name="dmb-test-private")
print(s.url("a/b c.txt"))
print(MinioBackendStatic().url("x.css"))
print(storages["default"].url("y.txt"))
from django.core.management import call_command
call_command("check")
"""
    result = run_python(["-c", code], {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "X-Amz-Signature" in result.stdout


def test_consistency_check_on_start_creates_buckets(s3_server, raw_client) -> None:
    from .conftest import remove_bucket

    env = subprocess_env(s3_server) | {
        "DMB_SETTINGS_CHECK_ON_START": "1",
        "DMB_SETTINGS_EXTRA_BUCKET": "dmb-onstart",
    }
    remove_bucket(raw_client, "dmb-onstart")
    result = run_python(["-m", "django", "check"], env)
    assert result.returncode == 0, result.stderr
    assert raw_client.bucket_exists("dmb-onstart")
    remove_bucket(raw_client, "dmb-onstart")


LEGACY = """
import django
django.setup()
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.contrib.staticfiles.storage import staticfiles_storage
from django_minio_backend import MinioBackend, MinioBackendStatic
name = default_storage.save("legacy/a.txt", ContentFile(b"legacy"))
assert isinstance(default_storage._wrapped, MinioBackend)
print(default_storage.url(name))
staticfiles_storage.url("x.css")
assert isinstance(staticfiles_storage._wrapped, MinioBackendStatic)
"""


@pytest.mark.skipif(
    django.VERSION >= (5, 1),
    reason="DEFAULT_FILE_STORAGE was removed in Django 5.1; the tox/nox matrix runs this on Django 4.2",
)
def test_legacy_default_file_storage_settings_work_on_django_42(s3_server, s3_settings) -> None:
    env = subprocess_env(s3_server) | {"DJANGO_SETTINGS_MODULE": "tests.legacy_settings"}
    result = run_python(["-W", "ignore", "-c", LEGACY], env)
    assert result.returncode == 0, result.stderr
    assert http.request("GET", result.stdout.strip()).data == b"legacy"
