"""System checks report configuration mistakes with ids, naming setting and fix."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.test import override_settings

GOOD = {
    "MINIO_ENDPOINT": "127.0.0.1:9000",
    "MINIO_ACCESS_KEY": "a",
    "MINIO_SECRET_KEY": "b",
    "MINIO_PRIVATE_BUCKETS": ["dmb-test-private", "dmb-test-static"],
    "MINIO_PUBLIC_BUCKETS": ["dmb-test-public"],
    "MINIO_URL_EXPIRY_HOURS": timedelta(hours=1),
    "MINIO_POLICY_HOOKS": [],
}


def ids(**overrides: object) -> dict[str, str]:
    with override_settings(**{**GOOD, **overrides}):
        found: dict[str, str] = {}
        for m in run_checks():
            if m.id and m.id.startswith("django_minio_backend."):
                found[m.id] = f"{found.get(m.id, '')}\n{m.msg} {m.hint}".strip()
        return found


def test_good_configuration_has_no_messages() -> None:
    assert ids() == {}


@pytest.mark.parametrize(
    ("overrides", "check_id", "words"),
    [
        (
            {"MINIO_PUBLIC_BUCKETS": ["dmb-test-private"]},
            "E001",
            "MINIO_PRIVATE_BUCKETS and MINIO_PUBLIC_BUCKETS",
        ),
        ({"MINIO_ENDPOINT": ""}, "E002", "MINIO_ENDPOINT"),
        ({"MINIO_SECRET_KEY": ""}, "E003", "MINIO_SECRET_KEY"),
        ({"MINIO_URL_EXPIRY_HOURS": 24}, "E004", "timedelta"),
        ({"MINIO_URL_EXPIRY_HOURS": timedelta(days=8)}, "E005", "7 days"),
        ({"MINIO_POLICY_HOOKS": ["dmb-test-private"]}, "E006", "MINIO_POLICY_HOOKS"),
        (
            {"MINIO_PRIVATE_BUCKETS": ["Bad_Bucket", "dmb-test-private", "dmb-test-static"]},
            "E007",
            "Bad_Bucket",
        ),
        ({"MINIO_MULTIPART_PART_SIZE": 1024}, "E008", "MINIO_MULTIPART_PART_SIZE"),
        ({"MINIO_PRIVATE_BUCKETS": "dmb-test-private"}, "E008", "MINIO_PRIVATE_BUCKETS must be a list"),
        ({"MINIO_PUBLIC_BUCKETS": "dmb-test-public"}, "E008", "write ['dmb-test-public']"),
        ({"MINIO_EXTERNAL_ENDPOINT_USE_HTTPS": True}, "W001", "MINIO_EXTERNAL_ENDPOINT"),
        ({"MINIO_PRIVATE_BUCKETS": ["dmb-test-static"]}, "W002", "dmb-test-private"),
        ({"MINIO_MULTIPART_UPLOAD": False}, "W003", "MINIO_MULTIPART_UPLOAD"),
        ({"MINIO_URL_SIGNING_WINDOW": 3600}, "E010", "MINIO_URL_SIGNING_WINDOW"),
    ],
)
def test_mistake_is_reported_with_id_and_setting(overrides: dict, check_id: str, words: str) -> None:
    messages = ids(**overrides)
    assert f"django_minio_backend.{check_id}" in messages, messages
    assert words in messages[f"django_minio_backend.{check_id}"]


def test_unknown_storages_option_is_reported_not_raised() -> None:
    storages = {
        "default": {"BACKEND": "django_minio_backend.models.MinioBackend", "OPTIONS": {"bucket": "x"}},
        "staticfiles": {"BACKEND": "django_minio_backend.models.MinioBackendStatic"},
    }
    messages = ids(STORAGES=storages)
    assert "'bucket'" in messages["django_minio_backend.E008"]


def test_sse_c_over_plain_http_warns() -> None:
    from minio.sse import SseCustomerKey

    storages = {
        "default": {
            "BACKEND": "django_minio_backend.models.MinioBackend",
            "OPTIONS": {"sse": SseCustomerKey(b"k" * 32)},
        },
        "staticfiles": {"BACKEND": "django_minio_backend.models.MinioBackendStatic"},
    }
    assert "SSE-C" in ids(STORAGES=storages)["django_minio_backend.W004"]


def test_model_field_bucket_in_neither_list_warns() -> None:
    messages = ids(MINIO_PRIVATE_BUCKETS=["dmb-test-static"])
    assert "testapp.PrivateAttachment.file" in messages["django_minio_backend.W002"]


@pytest.mark.parametrize(
    ("argv", "run_main", "parent"),
    [
        (["manage.py", "runserver"], None, True),
        (["manage.py", "runserver", "0:8000"], "true", False),
        (["manage.py", "runserver", "--noreload"], None, False),
        (["manage.py", "migrate"], None, False),
        (["gunicorn", "app.wsgi"], None, False),
    ],
)
def test_on_start_check_skips_only_runservers_watcher_process(
    argv: list[str], run_main: str | None, parent: bool
) -> None:
    from django_minio_backend.apps import is_autoreload_parent

    environ = {"RUN_MAIN": run_main} if run_main else {}
    assert is_autoreload_parent(argv, environ) is parent


def test_ca_bundle_that_is_missing_or_holds_no_certificate_is_an_error_naming_it(tmp_path) -> None:
    import certifi

    missing, empty = tmp_path / "missing.pem", tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    assert "cannot be read" in ids(MINIO_CA_BUNDLE=str(missing))["django_minio_backend.E021"]
    assert "holds no PEM certificate" in ids(MINIO_CA_BUNDLE=str(empty))["django_minio_backend.E021"]
    garbled = tmp_path / "garbled.pem"
    garbled.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    assert "cannot be parsed" in ids(MINIO_CA_BUNDLE=str(garbled))["django_minio_backend.E021"]
    assert "django_minio_backend.E021" not in ids(MINIO_CA_BUNDLE=certifi.where())
