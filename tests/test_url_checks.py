"""System checks E030-E033: bucket visibility, signing windows and endpoints (issues 13 and 18)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.test_checks import ids

MEDIA = "django_minio_backend.models.MinioBackend"
STATIC = {"BACKEND": "django_minio_backend.models.MinioBackendStatic"}


def test_aliases_disagreeing_on_a_buckets_visibility_are_an_error_naming_both() -> None:
    storages = {
        "default": {"BACKEND": MEDIA},
        "staticfiles": STATIC,
        "avatars": {
            "BACKEND": MEDIA,
            "OPTIONS": {"bucket_name": "shared-bucket", "public_buckets": ["shared-bucket"]},
        },
        "contracts": {
            "BACKEND": MEDIA,
            "OPTIONS": {"bucket_name": "shared-bucket", "private_buckets": ["shared-bucket"]},
        },
    }
    message = ids(STORAGES=storages)["django_minio_backend.E030"]
    assert "'shared-bucket'" in message
    assert "STORAGES['avatars']" in message and "STORAGES['contracts']" in message


def test_aliases_agreeing_on_a_bucket_are_not_an_error() -> None:
    options = {"bucket_name": "shared-bucket", "public_buckets": ["shared-bucket"]}
    storages = {
        "default": {"BACKEND": MEDIA},
        "staticfiles": STATIC,
        "a": {"BACKEND": MEDIA, "OPTIONS": options},
        "b": {"BACKEND": MEDIA, "OPTIONS": dict(options)},
    }
    assert "django_minio_backend.E030" not in ids(STORAGES=storages)


def test_alias_contradicting_the_top_level_lists_is_an_error() -> None:
    storages = {
        "default": {
            "BACKEND": MEDIA,
            "OPTIONS": {"public_buckets": ["dmb-test-private"], "private_buckets": []},
        },
        "staticfiles": STATIC,
    }
    message = ids(STORAGES=storages)["django_minio_backend.E030"]
    assert "settings" in message and "STORAGES['default']" in message


@pytest.mark.parametrize(
    ("expiry", "window", "reported"),
    [
        (timedelta(days=7), timedelta(hours=1), True),
        (timedelta(days=6, hours=23, minutes=1), timedelta(hours=1), True),
        (timedelta(days=6, hours=23), timedelta(hours=1), False),
        (timedelta(hours=1), timedelta(days=7), True),
        (timedelta(hours=1), timedelta(hours=1), False),
    ],
)
def test_signing_window_that_cannot_keep_the_lifetime_is_an_error(
    expiry: timedelta, window: timedelta, reported: bool
) -> None:
    messages = ids(MINIO_URL_EXPIRY_HOURS=expiry, MINIO_URL_SIGNING_WINDOW=window)
    assert ("django_minio_backend.E031" in messages) is reported, messages
    if reported:
        assert "MINIO_URL_SIGNING_WINDOW" in messages["django_minio_backend.E031"]


@pytest.mark.parametrize(
    ("overrides", "reported"),
    [
        ({"MINIO_ENDPOINT": "https://127.0.0.1:9000", "MINIO_USE_HTTPS": False}, True),
        ({"MINIO_ENDPOINT": "http://127.0.0.1:9000", "MINIO_USE_HTTPS": True}, True),
        ({"MINIO_ENDPOINT": "http://127.0.0.1:9000", "MINIO_USE_HTTPS": False}, False),
        ({"MINIO_ENDPOINT": "HTTPS://127.0.0.1:9000/", "MINIO_USE_HTTPS": True}, False),
        (
            {
                "MINIO_EXTERNAL_ENDPOINT": "https://files.example.com",
                "MINIO_EXTERNAL_ENDPOINT_USE_HTTPS": False,
            },
            True,
        ),
        ({"MINIO_EXTERNAL_ENDPOINT": "https://files.example.com"}, False),
    ],
)
def test_endpoint_scheme_contradicting_an_explicit_https_setting_is_an_error(
    overrides: dict[str, Any], reported: bool
) -> None:
    messages = ids(**overrides)
    assert ("django_minio_backend.E032" in messages) is reported, messages
    assert "django_minio_backend.E033" not in messages


def test_endpoint_scheme_in_storage_options_is_checked_against_its_https_option() -> None:
    storages = {
        "default": {"BACKEND": MEDIA, "OPTIONS": {"endpoint": "https://127.0.0.1:9000", "use_https": False}},
        "staticfiles": STATIC,
    }
    assert "STORAGES['default']" in ids(STORAGES=storages)["django_minio_backend.E032"]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("MINIO_ENDPOINT", "http://127.0.0.1:9000/s3"),
        ("MINIO_ENDPOINT", "ftp://127.0.0.1:9000"),
        ("MINIO_EXTERNAL_ENDPOINT", "https://files.example.com/media"),
        ("MINIO_ENDPOINT", "127.0.0.1:9000x"),
        ("MINIO_ENDPOINT", "127.0.0.1:"),
        ("MINIO_EXTERNAL_ENDPOINT", "files.example.com:70000"),
        ("MINIO_ENDPOINT", "::1"),
    ],
)
def test_unusable_endpoint_is_an_error_naming_the_setting(setting: str, value: str) -> None:
    message = ids(**{setting: value})["django_minio_backend.E033"]
    assert setting in message and value in message
