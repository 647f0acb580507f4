"""Switching packages changes nothing: settings and code written for 3.x, 4.x or django-storages.

Each test is written as the migrating user's project would be: top-level ``MINIO_*``
settings (3.x / -five), everything in ``STORAGES[...]["OPTIONS"]`` with upper-case
keys (upstream 4.x), or a django-storages subclass and ``AWS_*`` habits.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from io import StringIO
from typing import Any

import pytest
import urllib3
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import call_command
from django.test import override_settings
from minio import Minio

from django_minio_backend import MinioBackend, MinioBackendStatic, iso_date_prefix, manager, plugin_prefix
from django_minio_backend.conf import resolve
from django_minio_backend.exceptions import ConfigurationError
from django_minio_backend.policies import private_remainder, public_read_policy

from .conftest import ROOT, remove_bucket, run_python, subprocess_env

anonymous = urllib3.PoolManager(retries=False, timeout=10)
MEDIA = "django_minio_backend.models.MinioBackend"
STATIC = "django_minio_backend.models.MinioBackendStatic"


def anon_get(server: Any, bucket: str, key: str) -> int:
    return anonymous.request("GET", f"http://{server.endpoint}/{bucket}/{key}").status


def initialize() -> str:
    out = StringIO()
    call_command("initialize_buckets", stdout=out)
    return out.getvalue()


def line_for(output: str, bucket: str) -> str:
    return next(line for line in output.splitlines() if f"/{bucket} " in line)


def upstream4_options(server: Any, **extra: Any) -> dict[str, Any]:
    """Connection OPTIONS the way upstream 4.x's README writes them."""
    return {
        "MINIO_ENDPOINT": server.endpoint,
        "MINIO_ACCESS_KEY": server.access_key,
        "MINIO_SECRET_KEY": server.secret_key,
        "MINIO_USE_HTTPS": False,
        "MINIO_REGION": server.region,
        **extra,
    }


# No top-level MINIO_* connection settings: a 4.x project keeps them all in OPTIONS.
NO_TOP_LEVEL = {"MINIO_ENDPOINT": "", "MINIO_ACCESS_KEY": "", "MINIO_SECRET_KEY": ""}


@pytest.fixture
def other_bucket(s3_settings: dict[str, Any], raw_client: Minio, bucket_name: str) -> Iterator[str]:
    name = bucket_name + "-b"
    yield name
    remove_bucket(raw_client, name)


# -- 1. upstream 4.x: the static bucket is public unless declared private ----------------


def test_upstream4_static_bucket_keeps_its_public_policy_without_a_public_buckets_entry(
    s3_server, raw_client: Minio, bucket: str
) -> None:
    # What 4.x's initialize_buckets left behind: the static bucket with a public policy.
    raw_client.set_bucket_policy(bucket, json.dumps(public_read_policy(bucket)))
    raw_client._put_object(bucket, "css/site.css", b"body{}", {})
    storages_setting = {
        "default": {"BACKEND": MEDIA, "OPTIONS": upstream4_options(s3_server)},
        "staticfiles": {
            "BACKEND": STATIC,
            "OPTIONS": upstream4_options(s3_server, MINIO_STATIC_FILES_BUCKET=bucket),
        },
    }
    with override_settings(STORAGES=storages_setting, **NO_TOP_LEVEL):
        line = line_for(initialize(), bucket)
        url = storages["staticfiles"].url("css/site.css")
        warnings_ = [m for m in run_checks() if m.id == "django_minio_backend.W002"]
    assert line.endswith("(public): exists, policy unchanged")
    assert "X-Amz-Signature" not in url
    assert anonymous.request("GET", url).status == 200
    assert anon_get(s3_server, bucket, "css/site.css") == 200
    assert not warnings_


def test_3x_static_bucket_listed_private_stays_private(s3_server, raw_client: Minio, bucket: str) -> None:
    raw_client.set_bucket_policy(bucket, json.dumps(public_read_policy(bucket)))
    with override_settings(MINIO_STATIC_FILES_BUCKET=bucket, MINIO_PRIVATE_BUCKETS=[bucket]):
        assert "(private): exists, policy removed" in line_for(initialize(), bucket)
        assert "X-Amz-Signature" in MinioBackendStatic().url("a.css")
    assert anon_get(s3_server, bucket, "a.css") == 403


# -- 2. upstream 4.x: storage_name defaults to "default" / "staticfiles" -----------------


def test_upstream4_model_storage_without_storage_name_reads_the_default_alias(
    s3_server, raw_client: Minio, bucket: str, other_bucket: str
) -> None:
    storages_setting = {
        "default": {
            "BACKEND": MEDIA,
            "OPTIONS": upstream4_options(s3_server, MINIO_PRIVATE_BUCKETS=[bucket]),
        },
        "staticfiles": {
            "BACKEND": STATIC,
            "OPTIONS": upstream4_options(s3_server, MINIO_STATIC_FILES_BUCKET=other_bucket),
        },
    }
    with override_settings(STORAGES=storages_setting, **NO_TOP_LEVEL):
        storage = MinioBackend(bucket_name=bucket)  # as in a 4.x model's FileField
        name = storage.save("a.txt", ContentFile(b"4.x"))
        assert storage.url(name).startswith(f"http://{s3_server.endpoint}/{bucket}/")
        assert MinioBackend().is_minio_available()  # upstream's health-check example
        assert MinioBackendStatic().bucket == other_bucket
    assert raw_client.get_object(bucket, name).read() == b"4.x"


def test_default_alias_of_another_backend_is_not_read(s3_settings) -> None:
    storages_setting = {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": "/tmp"},
        },
        "staticfiles": {"BACKEND": STATIC},
    }
    with override_settings(STORAGES=storages_setting):
        assert MinioBackend(bucket_name="plain").config.location == ""


# -- 3. upstream 4.x: every OPTIONS key upstream accepts -------------------------------

# Every key upstream 4.x's MinioBackend reads from its kwargs / OPTIONS.
UPSTREAM4_KEYS = {
    "MINIO_ENDPOINT": "127.0.0.1:9000",
    "MINIO_EXTERNAL_ENDPOINT": "cdn.example.com",
    "MINIO_EXTERNAL_ENDPOINT_USE_HTTPS": True,
    "MINIO_ACCESS_KEY": "a",
    "MINIO_SECRET_KEY": "b",
    "MINIO_USE_HTTPS": False,
    "MINIO_REGION": "us-east-1",
    "MINIO_BUCKET_CHECK_ON_SAVE": False,
    "MINIO_URL_EXPIRY_HOURS": timedelta(hours=2),
    "MINIO_PRIVATE_BUCKETS": ["up-media"],
    "MINIO_PUBLIC_BUCKETS": [],
    "MINIO_DEFAULT_BUCKET": "up-media",
    "MINIO_STATIC_FILES_BUCKET": "up-static",
    "MINIO_CONSISTENCY_CHECK_ON_START": False,
    "MINIO_POLICY_HOOKS": [],
    "MINIO_HTTP_CLIENT": None,
    "MINIO_MULTIPART_UPLOAD": True,
    "MINIO_MULTIPART_THRESHOLD": 10 * 1024 * 1024,
    "MINIO_MULTIPART_PART_SIZE": 10 * 1024 * 1024,
    "MINIO_URL_CACHING_ENABLED": False,
    "MINIO_URL_CACHE_TIMEOUT": 3600,
    "MINIO_URL_CACHE_PREFIX": "minio_url_",
    "replace_existing": False,
    "http_client": None,
    "headers": {"Cache-Control": "max-age=60"},
    "user_metadata": {"owner": "ann"},
    "sse": None,
    "progress": None,
    "tags": {"a": "b"},
    "retention": None,
    "legal_hold": False,
    "region": "us-east-1",
    "extra_headers": {"Content-Language": "de"},
}


def test_upstream4_option_keys_are_all_accepted() -> None:
    config = resolve(UPSTREAM4_KEYS)
    assert config.bucket_name == "up-media" and config.external_endpoint == "cdn.example.com"


def test_upstream4_object_options_reach_the_server_as_headers(
    s3_server, raw_client: Minio, bucket: str
) -> None:
    options = upstream4_options(
        s3_server,
        MINIO_DEFAULT_BUCKET=bucket,
        MINIO_PRIVATE_BUCKETS=[bucket],
        headers={"Cache-Control": "max-age=60", "team": "web"},
        user_metadata={"owner": "ann"},
        extra_headers={"Content-Language": "de"},
        tags={"project": "alpha"},
    )
    with override_settings(STORAGES={"default": {"BACKEND": MEDIA, "OPTIONS": options}}):
        name = storages["default"].save("a.txt", ContentFile(b"x"))
    stat = raw_client.stat_object(bucket, name)
    assert stat.metadata["Cache-Control"] == "max-age=60"
    assert stat.metadata["X-Amz-Meta-Owner"] == "ann"
    assert stat.metadata["X-Amz-Meta-Team"] == "web"  # minio made other header keys user metadata
    assert stat.metadata["Content-Language"] == "de"
    assert dict(raw_client.get_object_tags(bucket, name)) == {"project": "alpha"}


def test_upstream4_retention_and_legal_hold_become_object_lock_headers() -> None:
    from minio.commonconfig import COMPLIANCE
    from minio.retention import Retention

    until = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    headers = MinioBackend(
        bucket_name="locked", retention=Retention(COMPLIANCE, until), legal_hold=True
    ).get_object_parameters("a.txt")
    assert headers["x-amz-object-lock-mode"] == "COMPLIANCE"
    assert headers["x-amz-object-lock-retain-until-date"] == "2030-01-02T03:04:05.000Z"
    assert headers["x-amz-object-lock-legal-hold"] == "ON"


@pytest.mark.parametrize(
    ("option", "value", "check_id", "words"),
    [
        ("checksum", object(), "E011", "SHA-256"),
        ("extra_query_params", {"x": "1"}, "E011", "'headers' option"),
        ("num_parallel_uploads", 8, "W005", "two at a time"),
    ],
)
def test_upstream4_options_without_equivalent_get_a_check_message_saying_what_instead(
    option: str, value: Any, check_id: str, words: str
) -> None:
    storages_setting = {
        "default": {"BACKEND": MEDIA, "OPTIONS": {"MINIO_DEFAULT_BUCKET": "up-media", option: value}},
        "staticfiles": {"BACKEND": STATIC},
    }
    with override_settings(STORAGES=storages_setting, MINIO_PRIVATE_BUCKETS=["up-media", "dmb-test-static"]):
        messages = [m for m in run_checks() if m.id == f"django_minio_backend.{check_id}"]
    assert len(messages) == 1 and option in messages[0].msg
    assert words in f"{messages[0].msg} {messages[0].hint}"


# -- 4. 3.x: MINIO_POLICY_HOOKS for buckets in neither list are applied -----------------


def test_3x_policy_hook_for_an_unlisted_bucket_creates_it_with_the_policy(
    s3_server, raw_client: Minio, bucket_name: str
) -> None:
    from .sample_plugins import shared_prefix_policy

    with override_settings(MINIO_POLICY_HOOKS=[(bucket_name, shared_prefix_policy(bucket_name))]):
        line = line_for(initialize(), bucket_name)
    assert line.endswith("(private): created, policy set")
    raw_client._put_object(bucket_name, "shared/ok.txt", b"x", {})
    assert anon_get(s3_server, bucket_name, "shared/ok.txt") == 200


# -- 5. 3.x: a private bucket keeps the grants operators made ---------------------------

OPERATOR_PRINCIPAL = "arn:aws:iam::123456789012:user/backup"


def operator_statement(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "BackupReads",
        "Effect": "Allow",
        "Principal": {"AWS": [OPERATOR_PRINCIPAL]},
        "Action": ["s3:GetObject"],
        "Resource": [f"arn:aws:s3:::{bucket}/*"],
    }


def three_x_public_statements(bucket: str) -> list[dict[str, Any]]:
    """What 3.x's set_bucket_to_public wrote (no Sid, anonymous)."""
    return [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{bucket}",
        },
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*",
        },
    ]


def test_private_bucket_loses_anonymous_grants_and_keeps_operator_grants(
    s3_server, raw_client: Minio, bucket: str
) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [*three_x_public_statements(bucket), operator_statement(bucket)],
    }
    raw_client.set_bucket_policy(bucket, json.dumps(policy))
    raw_client._put_object(bucket, "leak.txt", b"x", {})
    assert anon_get(s3_server, bucket, "leak.txt") == 200
    with override_settings(MINIO_PRIVATE_BUCKETS=[bucket]):
        line = line_for(initialize(), bucket)
        again = line_for(initialize(), bucket)
    assert "(private): exists, statements removed (" in line and "s3:ListBucket" in line
    assert line.endswith("other statements kept")
    assert again.endswith("(private): exists, policy unchanged")
    assert anon_get(s3_server, bucket, "leak.txt") == 403
    kept = json.loads(raw_client.get_bucket_policy(bucket))["Statement"]
    assert len(kept) == 1 and OPERATOR_PRINCIPAL in json.dumps(kept[0])


def test_private_remainder_removes_our_statements_and_anonymous_grants_only() -> None:
    ours = {**public_read_policy("b")["Statement"][0], "Principal": {"AWS": [OPERATOR_PRINCIPAL]}}
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/*"}
    writers = {"Effect": "Allow", "NotPrincipal": {"AWS": [OPERATOR_PRINCIPAL]}, "Action": "s3:PutObject"}
    policy = {"Version": "2012-10-17", "Statement": [ours, deny, writers, operator_statement("b")]}
    kept, removed = private_remainder(policy)
    assert kept == {"Version": "2012-10-17", "Statement": [deny, operator_statement("b")]}
    assert removed == [ours, writers]
    assert private_remainder({"Statement": three_x_public_statements("b")}) == (
        None,
        three_x_public_statements("b"),
    )


# -- 6. 3.x: metadata keeps minio's meaning --------------------------------------------


def test_3x_metadata_sends_standard_headers_as_headers_and_other_keys_as_user_metadata(
    bucket: str, raw_client: Minio
) -> None:
    storage = MinioBackend(
        bucket_name=bucket,
        private_buckets=[bucket],
        metadata={
            "Cache-Control": "max-age=31536000",
            "Content-Disposition": "attachment",
            "Content-Language": "fr",
            "Expires": "Thu, 01 Dec 2044 16:00:00 GMT",
            "x-amz-meta-origin": "scanner",
            "owner": "ann",
        },
    )
    name = storage.save("a.txt", ContentFile(b"x"))
    meta = raw_client.stat_object(bucket, name).metadata
    assert meta["Cache-Control"] == "max-age=31536000"
    assert meta["Content-Disposition"] == "attachment"
    assert meta["Content-Language"] == "fr"
    assert meta["Expires"] == "Thu, 01 Dec 2044 16:00:00 GMT"
    assert meta["X-Amz-Meta-Origin"] == "scanner"
    assert meta["X-Amz-Meta-Owner"] == "ann"
    assert not any("x-amz-meta-x-amz-meta" in key.lower() for key in meta)
    assert not any(key.lower().startswith("x-amz-meta-cache-control") for key in meta)


# -- 7. is_minio_available as health checks call it ------------------------------------


def test_is_minio_available_silenced_flag_prints_nothing_when_up(s3_settings) -> None:
    out = StringIO()
    call_command("is_minio_available", "--silenced", stdout=out)
    assert out.getvalue() == ""


def test_is_minio_available_without_endpoint_returns_a_false_status(s3_settings) -> None:
    with override_settings(MINIO_ENDPOINT=""):
        status = MinioBackend().is_minio_available()
    assert not status and "MINIO_ENDPOINT is not set" in status.details


# -- 8. the 3.x / 4.x public methods ---------------------------------------------------


def test_3x_public_methods_work_and_warn_where_a_better_api_exists(
    s3_server, raw_client: Minio, bucket_name: str, other_bucket: str
) -> None:
    storage = MinioBackend(
        bucket_name=bucket_name, private_buckets=[bucket_name, other_bucket], public_buckets=[]
    )
    with pytest.warns(DeprecationWarning, match="initialize_buckets"):
        storage.check_bucket_existence()
    assert raw_client.bucket_exists(bucket_name)
    with pytest.warns(DeprecationWarning, match="initialize_buckets"):
        storage.check_bucket_existences()
    assert raw_client.bucket_exists(other_bucket)
    name = storage.save("a.txt", ContentFile(b"abc"))
    assert storage.stat(name).size == 3
    with pytest.raises(FileNotFoundError):
        storage.stat("missing.txt")
    with pytest.warns(DeprecationWarning, match="is_public"):
        assert storage.is_bucket_public is False
    with pytest.warns(DeprecationWarning, match="MINIO_PUBLIC_BUCKETS"):
        storage.set_bucket_to_public()
    assert anon_get(s3_server, bucket_name, name) == 200
    with pytest.warns(DeprecationWarning, match="MINIO_POLICY_HOOKS"):
        storage.set_bucket_policy(other_bucket, public_read_policy(other_bucket))
    raw_client._put_object(other_bucket, "b.txt", b"b", {})
    assert anon_get(s3_server, other_bucket, "b.txt") == 200
    assert [bucket_name, other_bucket] == storage.PRIVATE_BUCKETS and storage.PUBLIC_BUCKETS == []


def test_4x_endpoint_helpers_describe_internal_and_external_endpoints(s3_server, s3_settings) -> None:
    storage = MinioBackend(
        bucket_name="x", external_endpoint="cdn.example.com", external_endpoint_use_https=True
    )
    assert storage.base_url == f"http://{s3_server.endpoint}"
    assert storage.base_url_external == "https://cdn.example.com"
    assert storage.same_endpoints is False
    with pytest.warns(DeprecationWarning, match="url"):
        client = storage.client_external
    assert client._base_url.host == "cdn.example.com"
    plain = MinioBackend(bucket_name="x")
    assert plain.same_endpoints and plain.base_url_external == plain.base_url
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert plain.client_external is plain.client


def test_4x_endpoint_helpers_take_a_scheme_written_in_the_endpoint(s3_server, s3_settings) -> None:
    storage = MinioBackend(
        bucket_name="x", endpoint=f"http://{s3_server.endpoint}/", external_endpoint="https://CDN.example.com"
    )
    assert storage.base_url == f"http://{s3_server.endpoint}"
    assert storage.base_url_external == "https://cdn.example.com"
    with pytest.warns(DeprecationWarning, match="url"):
        client = storage.client_external
    assert client._base_url.host == "cdn.example.com" and client._base_url.is_https


def test_validate_settings_raises_configuration_error_naming_the_mistake(s3_settings) -> None:
    with pytest.warns(DeprecationWarning, match="manage.py check"):
        MinioBackend(bucket_name="dmb-test-private").validate_settings()
    with (
        override_settings(MINIO_ENDPOINT=""),
        pytest.warns(DeprecationWarning),
        pytest.raises(ConfigurationError, match="MINIO_ENDPOINT"),
    ):
        MinioBackend(bucket_name="dmb-test-private").validate_settings()


def test_utils_get_setting_and_get_storages_setting(s3_settings) -> None:
    from django_minio_backend.utils import get_setting, get_storages_setting

    assert get_setting("MINIO_ENDPOINT") == s3_settings["MINIO_ENDPOINT"]
    assert get_setting("MINIO_NOT_A_SETTING", "fallback") == "fallback"
    storages_setting = {"default": {"BACKEND": MEDIA, "OPTIONS": {"MINIO_DEFAULT_BUCKET": "up-media"}}}
    with override_settings(STORAGES=storages_setting):
        assert get_storages_setting("MINIO_DEFAULT_BUCKET") == "up-media"
        assert get_storages_setting("MINIO_REGION", default="eu") == "eu"


# -- 9. Django 5.1+: DEFAULT_FILE_STORAGE is ignored by Django --------------------------


@pytest.mark.skipif(sys.version_info < (3, 10), reason="Django 5.1+ needs Python 3.10")
def test_legacy_default_file_storage_on_django_51_is_a_check_error_showing_storages(s3_server) -> None:
    import django

    env = subprocess_env(s3_server) | {"DJANGO_SETTINGS_MODULE": "tests.legacy_settings"}
    result = run_python(["-m", "django", "check"], env)
    if django.VERSION < (5, 1):
        assert result.returncode == 0, result.stderr  # Django itself still reads it
        return
    assert result.returncode != 0
    assert "django_minio_backend.E012" in result.stderr
    assert '"default": {"BACKEND": "django_minio_backend.models.MinioBackend"}' in result.stderr
    assert "STATICFILES_STORAGE" in result.stderr


# -- 10. MINIO_PLUGINS takes module paths ----------------------------------------------


def test_minio_plugins_accepts_a_module_path_not_imported_before(s3_settings) -> None:
    import tests

    sys.modules.pop("tests.migration_plugin_module", None)
    tests.__dict__.pop("migration_plugin_module", None)
    with override_settings(MINIO_PLUGINS=["tests.migration_plugin_module"]):
        assert not [m for m in run_checks() if m.id == "django_minio_backend.E009"]
        assert plugin_prefix(None, "a.txt") == "from-module/a.txt"


def test_minio_plugins_reports_a_missing_module_by_its_path(s3_settings) -> None:
    with override_settings(MINIO_PLUGINS=["tests.no_such_plugin_module"]):
        messages = [m for m in run_checks() if m.id == "django_minio_backend.E009"]
    assert len(messages) == 1 and "tests.no_such_plugin_module" in messages[0].msg


# -- 11. iso_date_prefix and name-strategy plugins -------------------------------------


def test_iso_date_prefix_keeps_dates_while_a_name_plugin_takes_over_plugin_prefix(s3_settings) -> None:
    with override_settings(MINIO_DISABLED_PLUGINS=[]):  # dmb-uuid-names is installed in the test venv
        assert any(name == "uuid_names" for name, _ in manager.active_plugins())
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}/a\.txt", iso_date_prefix(None, "a.txt"))
        assert re.fullmatch(r"[0-9a-f]{32}/a\.txt", plugin_prefix(None, "a.txt"))


def test_both_readmes_say_a_name_plugin_does_not_take_over_iso_date_prefix() -> None:
    plugin_readme = (ROOT / "plugins" / "dmb-uuid-names" / "README.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for text in (plugin_readme, readme):
        assert "upload_to=plugin_prefix" in text
        assert "iso_date_prefix" in text and "keeps" in text


# -- 12. the on-start check with the server down ---------------------------------------


def test_server_down_gives_one_line_and_blocks_no_command(s3_server) -> None:
    env = subprocess_env(s3_server) | {
        "DMB_SETTINGS_ENDPOINT": "127.0.0.1:9",
        "DMB_SETTINGS_CHECK_ON_START": "1",
    }
    for command in (["help"], ["makemigrations", "--check", "--dry-run"]):
        result = run_python(["-m", "django", *command], env)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""  # not even asked: these commands never touch storage
    result = run_python(["-m", "django", "check"], env)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:9" in lines[0] and "on-start bucket check skipped" in lines[0]


# -- 13. one mistake, one message -------------------------------------------------------


def test_integer_url_expiry_with_two_aliases_is_one_message(s3_settings) -> None:
    storages_setting = {"default": {"BACKEND": MEDIA}, "staticfiles": {"BACKEND": STATIC}}
    with override_settings(STORAGES=storages_setting, MINIO_URL_EXPIRY_HOURS=24):
        messages = [m for m in run_checks() if m.id == "django_minio_backend.E004"]
    assert len(messages) == 1
    assert messages[0].msg.startswith("settings: MINIO_URL_EXPIRY_HOURS")
    assert "STORAGES['default']" in messages[0].msg and "STORAGES['staticfiles']" in messages[0].msg


# -- 14. the fast collectstatic needs our app first ------------------------------------

APPS_README_ORDER = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "django_minio_backend",
    "tests.testapp",
]


def test_app_listed_after_staticfiles_warns_that_collectstatic_is_django_s(s3_settings) -> None:
    with override_settings(INSTALLED_APPS=APPS_README_ORDER):
        late = [m for m in run_checks() if m.id == "django_minio_backend.W006"]
    first = [m for m in run_checks() if m.id == "django_minio_backend.W006"]
    assert len(late) == 1 and '"django_minio_backend" before "django.contrib.staticfiles"' in late[0].hint
    assert first == []


def test_readme_and_example_project_list_the_app_before_staticfiles() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "examples" / "exampleproject" / "settings.py").read_text()
    for text in (readme, example):
        assert text.index('"django_minio_backend"') < text.index('"django.contrib.staticfiles"')


# -- 15. django-storages users ---------------------------------------------------------


class DjangoStoragesStyle(MinioBackend):
    """A subclass as django-storages documents it: one argument, boto3 parameter names."""

    def get_object_parameters(self, name):  # type: ignore[no-untyped-def,override]
        params = super().get_object_parameters(name)
        if name.endswith(".pdf"):
            params["ContentDisposition"] = "attachment"
        params["CacheControl"] = "max-age=86400"
        params["Metadata"] = {"origin": "s3"}
        return params


def test_django_storages_get_object_parameters_with_one_argument_keeps_working(
    bucket: str, raw_client: Minio
) -> None:
    storage = DjangoStoragesStyle(bucket_name=bucket, private_buckets=[bucket])
    name = storage.save("report.pdf", ContentFile(b"%PDF"))
    meta = raw_client.stat_object(bucket, name).metadata
    assert meta["Cache-Control"] == "max-age=86400"
    assert meta["Content-Disposition"] == "attachment"
    assert meta["X-Amz-Meta-Origin"] == "s3"
    assert meta["Content-Type"] == "application/pdf"  # still guessed


def test_aws_s3_object_parameters_move_to_the_headers_option(bucket: str, raw_client: Minio) -> None:
    storage = MinioBackend(
        bucket_name=bucket,
        private_buckets=[bucket],
        headers={"CacheControl": "max-age=86400", "ContentLanguage": "en"},  # AWS_S3_OBJECT_PARAMETERS
    )
    meta = raw_client.stat_object(bucket, storage.save("a.txt", ContentFile(b"x"))).metadata
    assert meta["Cache-Control"] == "max-age=86400" and meta["Content-Language"] == "en"


def test_django_storages_options_in_storages_name_what_to_write_instead() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"'file_overwrite' .*'replace_existing'"):
        MinioBackend(bucket_name="x", file_overwrite=False)


def test_aws_settings_left_in_place_are_reported(s3_settings) -> None:
    with override_settings(AWS_S3_FILE_OVERWRITE=False, AWS_QUERYSTRING_EXPIRE=600):
        messages = [m for m in run_checks() if m.id == "django_minio_backend.W007"]
    assert len(messages) == 1
    assert "AWS_QUERYSTRING_EXPIRE" in messages[0].msg and "docs/migrating.md" in messages[0].hint


def test_migration_guide_maps_every_aws_setting_the_issue_names() -> None:
    guide = (ROOT / "docs" / "migrating.md").read_text()
    for name in (
        "AWS_S3_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_STORAGE_BUCKET_NAME",
        "AWS_QUERYSTRING_EXPIRE",
        "AWS_S3_FILE_OVERWRITE",
        "AWS_LOCATION",
        "AWS_S3_CUSTOM_DOMAIN",
        "AWS_QUERYSTRING_AUTH",
        "AWS_DEFAULT_ACL",
        "AWS_S3_OBJECT_PARAMETERS",
        "AWS_S3_REGION_NAME",
    ):
        assert f"| `{name}" in guide or f"/ `{name}`" in guide, name
    readme = (ROOT / "README.md").read_text()
    assert "docs/migrating.md" in readme


def test_public_bucket_keeps_grants_operators_made_outside_django(
    s3_settings, bucket: str, raw_client, settings
) -> None:
    """Red-team finding: a public bucket's whole policy used to be replaced."""
    import json

    from django_minio_backend.buckets import sync_bucket
    from django_minio_backend.storage import MinioBackend

    operator = {
        "Sid": "CiDeployer",
        "Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::123456789012:user/ci"]},
        "Action": ["s3:PutObject"],
        "Resource": [f"arn:aws:s3:::{bucket}/*"],
    }
    raw_client.set_bucket_policy(bucket, json.dumps({"Version": "2012-10-17", "Statement": [operator]}))
    storage = MinioBackend(bucket_name=bucket, public_buckets=[bucket], private_buckets=[])
    assert sync_bucket(storage).policy == "set"
    sids = [s.get("Sid") for s in json.loads(raw_client.get_bucket_policy(bucket))["Statement"]]
    assert "CiDeployer" in sids and "DjangoMinioBackendPublicRead" in sids
    assert sync_bucket(storage).policy == "unchanged"


def test_on_start_check_does_not_hang_on_a_server_that_never_answers(s3_server) -> None:
    """Red-team finding: a silent server held every process start for minutes."""
    import socket

    from .conftest import run_python, subprocess_env

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        endpoint = f"127.0.0.1:{silent.getsockname()[1]}"
        env = {
            **subprocess_env(s3_server),
            "DMB_SETTINGS_ENDPOINT": endpoint,
            "DMB_SETTINGS_CHECK_ON_START": "1",
        }
        # Before the fix this start took minutes (30 s read timeout, retries, per bucket).
        result = run_python(["-c", "import django; django.setup(); print('up')"], env, timeout=45)
    assert result.returncode == 0 and result.stdout.strip() == "up", result.stderr
    assert "on-start bucket check skipped" in result.stderr
