"""System checks of direct uploads: the quarantine holds no real files, CORS origins are origins."""

from __future__ import annotations

from typing import Any

import pytest

from .test_checks import ids

STORAGES = {
    "default": {
        "BACKEND": "django_minio_backend.MinioBackend",
        "OPTIONS": {"bucket_name": "dmb-test-private"},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def test_default_quarantine_and_origins_give_no_message() -> None:
    assert ids(MINIO_CORS_ORIGINS=["https://www.example.com", "http://127.0.0.1:8000/"]) == {}


@pytest.mark.parametrize(
    ("quarantine", "words"),
    [
        ("direct/", "testapp.DirectAttachment.file: its files go under dmb-test-private/direct/"),
        ("direct", "overlaps the direct-upload quarantine dmb-test-private/direct/"),
        ("direct/incoming/", "quarantine dmb-test-private/direct/incoming/"),  # inside the upload_to folder
        (
            "public/",
            "testapp.PublicAttachment.file",
        ),  # a plain FileField: the lifecycle rule deletes all the same
        ("", "MINIO_DIRECT_UPLOAD_QUARANTINE_PREFIX is empty"),
    ],
)
def test_quarantine_overlapping_where_files_live_is_an_error(quarantine: str, words: str) -> None:
    found = ids(MINIO_DIRECT_UPLOAD_QUARANTINE_PREFIX=quarantine)
    assert words in found.get("django_minio_backend.E050", ""), found


def with_alias(location: str) -> dict[str, Any]:
    """STORAGES with an alias ``other`` on the bucket of DirectAttachment.file, at ``location``."""
    options = {"bucket_name": "dmb-test-private", "location": location}
    return {**STORAGES, "other": {"BACKEND": "django_minio_backend.MinioBackend", "OPTIONS": options}}


def test_storage_location_inside_the_quarantine_is_an_error() -> None:
    found = ids(STORAGES=with_alias("dmb-quarantine/files"))
    assert "STORAGES['other']: its files go under dmb-test-private/dmb-quarantine/files/" in found.get(
        "django_minio_backend.E050", ""
    ), found


@pytest.mark.parametrize("location", ["dmb-quarantine-old", "media"])
def test_storage_location_beside_the_quarantine_is_fine(location: str) -> None:
    assert "django_minio_backend.E050" not in ids(STORAGES=with_alias(location))


@pytest.mark.parametrize(
    ("origins", "words"),
    [
        ("https://www.example.com", "must be a list of origins, not str"),
        (["https://www.example.com/upload"], "has a path"),
        (["www.example.com"], "no http:// or https:// scheme"),
        (["ftp://www.example.com"], "no http:// or https:// scheme"),
        (["*"], "is a wildcard"),
        (["https://*.example.com"], "is a wildcard"),
        (["https://user@example.com"], "user name"),
        (["https://example.com:port"], "port that is not a number"),
        (["https://example.com:"], "has an empty port"),
        ([None], "is not a string"),
    ],
)
def test_cors_origin_that_is_not_an_origin_is_an_error_naming_the_setting(
    origins: object, words: str
) -> None:
    found = ids(MINIO_CORS_ORIGINS=origins).get("django_minio_backend.E051", "")
    assert "MINIO_CORS_ORIGINS" in found and words in found, found


def test_location_inside_the_quarantine_on_another_spelling_of_the_server_is_an_error() -> None:
    storages = with_alias("dmb-quarantine/archive")
    storages["other"]["OPTIONS"]["endpoint"] = (
        "http://LOCALHOST:9000"  # the checks' MINIO_ENDPOINT: 127.0.0.1:9000
    )
    found = ids(STORAGES=storages).get("django_minio_backend.E050", "")
    assert "STORAGES['other']: its files go under dmb-test-private/dmb-quarantine/archive/" in found, found
    storages["other"]["OPTIONS"]["endpoint"] = "localhost:9001"  # another server
    assert "django_minio_backend.E050" not in ids(STORAGES=storages)


def test_upload_to_spelled_with_dots_or_a_model_storage_location_inside_the_quarantine_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django_minio_backend import MinioBackend
    from tests.testapp.models import DirectAttachment

    field = DirectAttachment._meta.get_field("file")
    monkeypatch.setattr(field, "upload_to", "./dmb-quarantine")
    found = ids().get("django_minio_backend.E050", "")
    assert "testapp.DirectAttachment.file: its files go under dmb-test-private/dmb-quarantine/" in found, (
        found
    )
    monkeypatch.setattr(field, "upload_to", "")
    monkeypatch.setattr(
        field, "storage", MinioBackend(bucket_name="dmb-test-private", location="dmb-quarantine/x")
    )
    found = ids().get("django_minio_backend.E050", "")
    assert "testapp.DirectAttachment.file: its files go under dmb-test-private/dmb-quarantine/x/" in found, (
        found
    )


@pytest.mark.parametrize("quarantine", ["./", "../q/", "q/./x/", "q//x/"])
def test_quarantine_prefix_with_dot_or_empty_folders_is_an_error(quarantine: str) -> None:
    found = ids(MINIO_DIRECT_UPLOAD_QUARANTINE_PREFIX=quarantine).get("django_minio_backend.E050", "")
    assert "has an empty, '.' or '..' folder" in found, found


def test_dated_upload_to_folder_starting_like_the_quarantine_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.testapp.models import DirectAttachment

    monkeypatch.setattr(DirectAttachment._meta.get_field("file"), "upload_to", "dmb-quarantine%Y/")
    assert "django_minio_backend.E050" not in ids()
