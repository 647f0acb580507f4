"""Checks look at what is used, decide "static" by class, and catch settings that look fine but are not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from django_minio_backend import MinioBackend, MinioBackendStatic
from django_minio_backend.buckets import sync_bucket
from django_minio_backend.conf import SETTINGS, NotAFlagError
from django_minio_backend.policies import public_read_policy

from .test_checks import GOOD


class ProjectStatic(MinioBackendStatic):
    """A static storage whose dotted path does not end in "MinioBackendStatic"."""


def messages(**overrides: object) -> dict[str, str]:
    with override_settings(**{**GOOD, **overrides}):
        found: dict[str, str] = {}
        for m in run_checks():
            if m.id and m.id.startswith("django_minio_backend."):
                key = m.id.removeprefix("django_minio_backend.")
                found[key] = f"{found.get(key, '')}\n{m.msg} {m.hint}".strip()
        return found


def test_storages_options_project_with_top_level_plugin_settings_passes(settings: Any) -> None:
    """Upstream 4.x style: everything in OPTIONS; MINIO_PLUGINS can only be set at the top level."""
    for setting in SETTINGS:
        if setting.per_storage and hasattr(settings, setting.name):
            delattr(settings, setting.name)
    options = {
        "MINIO_ENDPOINT": "127.0.0.1:9000",
        "MINIO_ACCESS_KEY": "a",
        "MINIO_SECRET_KEY": "b",
        "MINIO_PRIVATE_BUCKETS": ["dmb-test-private", "dmb-test-static"],
    }
    settings.STORAGES = {
        "default": {
            "BACKEND": "django_minio_backend.models.MinioBackend",
            "OPTIONS": {**options, "MINIO_DEFAULT_BUCKET": "dmb-test-private"},
        },
        "staticfiles": {
            "BACKEND": "django_minio_backend.models.MinioBackendStatic",
            "OPTIONS": {**options, "MINIO_DEFAULT_BUCKET": "dmb-test-static"},
        },
    }
    settings.MINIO_PLUGINS = []
    found = [m for m in run_checks() if (m.id or "").startswith("django_minio_backend.") and m.is_serious()]
    assert [f"{m.id}: {m.msg}" for m in found] == []


def test_shared_top_level_defaults_do_not_make_a_configuration_of_their_own(settings: Any) -> None:
    for name in ("MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"):
        delattr(settings, name)
    settings.MINIO_URL_EXPIRY_HOURS = timedelta(hours=2)  # inherited by both aliases below
    options = {"endpoint": "127.0.0.1:9000", "access_key": "a", "secret_key": "b"}
    settings.STORAGES = {
        "default": {"BACKEND": "django_minio_backend.models.MinioBackend", "OPTIONS": options},
        "staticfiles": {"BACKEND": "django_minio_backend.models.MinioBackendStatic", "OPTIONS": options},
    }
    ids = {m.id for m in run_checks()}
    assert not ids & {"django_minio_backend.E002", "django_minio_backend.E003"}


def test_a_missing_endpoint_is_still_reported_for_the_storage_that_needs_it(settings: Any) -> None:
    delattr(settings, "MINIO_ENDPOINT")
    assert "E002" in messages(MINIO_ENDPOINT="")
    assert "STORAGES['default']" in messages(MINIO_ENDPOINT="")["E002"]


def test_static_storage_subclass_is_checked_against_the_static_bucket() -> None:
    storages = {
        "default": {"BACKEND": "django_minio_backend.models.MinioBackend"},
        "staticfiles": {"BACKEND": f"{__name__}.ProjectStatic"},
    }
    found = messages(STORAGES=storages, MINIO_STATIC_FILES_BUCKET="Bad_Static")
    assert "'Bad_Static' is not a valid S3 bucket name" in found.get("E007", "")
    assert "STORAGES['staticfiles']" in found["E007"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"MINIO_USE_HTTPS": "False"},
        {"MINIO_BUCKET_CHECK_ON_SAVE": "0"},
        {
            "STORAGES": {
                "default": {
                    "BACKEND": "django_minio_backend.models.MinioBackend",
                    "OPTIONS": {"use_https": "no"},
                }
            }
        },
    ],
    ids=["top-level", "another-flag", "alias-option"],
)
def test_a_string_where_true_or_false_belongs_is_an_error(overrides: dict[str, object]) -> None:
    found = messages(**overrides)
    assert "must be True or False" in found.get("E020", "")
    assert "E008" not in found


def test_a_string_flag_is_never_read_as_true() -> None:
    with override_settings(**GOOD, MINIO_USE_HTTPS="False"):
        with pytest.raises(NotAFlagError, match="MINIO_USE_HTTPS"):
            _ = MinioBackend(bucket_name="dmb-test-private").config


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("MINIO_EXTERNAL_ENDPOINT", "files.example.com/media"),
        ("MINIO_ENDPOINT", "127.0.0.1:9000/minio"),
    ],
)
def test_an_endpoint_with_a_path_is_an_error(setting: str, value: str) -> None:
    found = messages(**{setting: value})
    assert f"{setting} = {value!r} cannot be used" in found.get("E033", "")


def test_an_endpoint_with_a_scheme_is_accepted() -> None:
    found = messages(MINIO_EXTERNAL_ENDPOINT="https://files.example.com")
    assert "E033" not in found and "E032" not in found


def test_a_misspelt_disabled_plugin_is_reported_by_name() -> None:
    found = messages(MINIO_DISABLED_PLUGINS=["uuid_name", "sniff_content_type"])
    assert "'uuid_name'" in found.get("W020", "")
    assert "'sniff_content_type'" not in found["W020"]
    assert "W020" not in messages(MINIO_DISABLED_PLUGINS=["django_minio_backend.plugins.iso_date"])


def test_a_policy_hook_opening_a_private_bucket_is_an_error() -> None:
    hooks = [("dmb-test-private", public_read_policy("dmb-test-private"))]
    found = messages(MINIO_POLICY_HOOKS=hooks)
    assert "dmb-test-private" in found.get("E022", "")
    assert "MINIO_PRIVATE_BUCKETS" in found["E022"]
    assert "E022" not in messages(
        MINIO_POLICY_HOOKS=[("dmb-test-public", public_read_policy("dmb-test-public"))]
    )


def test_initialize_report_does_not_call_an_opened_bucket_private(
    bucket_name: str, make_storage: Callable[..., MinioBackend]
) -> None:
    storage = make_storage(bucket_name, policy_hooks=[(bucket_name, public_read_policy(bucket_name))])
    line = sync_bucket(storage).line()
    assert "(private)" not in line and "(public)" in line
