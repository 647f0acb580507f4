"""User uploads of active types are served as downloads (issue 13 item 13)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import urllib3
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from minio import Minio

from django_minio_backend import MinioBackend, MinioBackendStatic
from django_minio_backend.plugins.active_content import is_active

http = urllib3.PoolManager(retries=False, timeout=10)
PLUGIN = "django_minio_backend.plugins.active_content"
SCRIPT = b"<script>alert(document.domain)</script>"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("evil.html", "text/html"),
        ("x.svg", "image/svg+xml"),
        ("feed.xml", ("text/xml", "application/xml")),
        ("app.js", ("text/javascript", "application/javascript")),
        ("page.xhtml", "application/xhtml+xml"),
    ],
)
def test_public_upload_of_an_active_type_is_served_as_a_download(
    public_storage: MinioBackend, name: str, content_type: str | tuple[str, ...]
) -> None:
    saved = public_storage.save(name, ContentFile(SCRIPT))
    response = http.request("GET", public_storage.url(saved))
    assert response.status == 200
    assert response.headers["Content-Disposition"] == "attachment"
    expected = content_type if isinstance(content_type, tuple) else (content_type,)
    assert response.headers["Content-Type"] in expected  # the type stays true


def test_upload_declaring_an_active_type_under_a_harmless_name_is_a_download(
    public_storage: MinioBackend,
) -> None:
    saved = public_storage.save("cat.png", SimpleUploadedFile("cat.png", SCRIPT, content_type="text/html"))
    assert http.request("GET", public_storage.url(saved)).headers["Content-Disposition"] == "attachment"


def test_passive_types_stay_inline(public_storage: MinioBackend) -> None:
    for name in ("photo.png", "notes.txt", "report.pdf", "data.bin"):
        saved = public_storage.save(name, ContentFile(b"x"))
        assert "Content-Disposition" not in http.request("GET", public_storage.url(saved)).headers


def test_static_files_keep_their_active_types_inline(bucket: str, raw_client: Minio) -> None:
    static = MinioBackendStatic(bucket_name=bucket, private_buckets=[bucket])
    static.save("js/app.js", ContentFile(b"console.log(1)"))
    static.save("img/logo.svg", ContentFile(b"<svg/>"))
    assert "Content-Disposition" not in raw_client.stat_object(bucket, "js/app.js").metadata
    assert "Content-Disposition" not in raw_client.stat_object(bucket, "img/logo.svg").metadata


def test_storage_content_disposition_option_is_kept(
    bucket: str, make_storage: Callable[..., MinioBackend], raw_client: Minio
) -> None:
    storage = make_storage(bucket, content_disposition="inline")
    storage.save("page.html", ContentFile(SCRIPT))
    assert raw_client.stat_object(bucket, "page.html").metadata["Content-Disposition"] == "inline"


def test_the_plugin_can_be_disabled(
    bucket: str, make_storage: Callable[..., MinioBackend], raw_client: Minio
) -> None:
    from django.conf import settings

    with override_settings(MINIO_DISABLED_PLUGINS=[*settings.MINIO_DISABLED_PLUGINS, PLUGIN]):
        make_storage(bucket).save("page.html", ContentFile(SCRIPT))
    stat = raw_client.stat_object(bucket, "page.html")
    assert "Content-Disposition" not in stat.metadata
    assert stat.content_type == "text/html"


@pytest.mark.parametrize(
    ("content_type", "active"),
    [
        ("text/html; charset=utf-8", True),
        ("TEXT/HTML", True),
        ("application/rss+xml", True),
        ("text/plain", False),
        ("image/png", False),
        ("application/octet-stream", False),
        (None, True),
        ("", True),
        ("unknown/unknown", True),
        ("application/unknown", True),
        ("*/*", True),
        ("text/plain;,text/html", True),
        ("image/png, text/html", True),
    ],
)
def test_active_types_are_recognised_with_parameters_and_any_case(
    content_type: str | None, active: bool
) -> None:
    assert is_active(content_type) is active


@pytest.mark.parametrize("declared", ["text/plain, text/html", "image/png;,text/html", "*/*", "text/ht ml"])
def test_save_refuses_a_declared_type_that_is_not_one_plain_type(
    bucket: str, make_storage: Callable[..., MinioBackend], raw_client: Minio, declared: str
) -> None:
    with pytest.raises(ValueError, match="Content-Type"):
        make_storage(bucket).save("cat.png", SimpleUploadedFile("cat.png", SCRIPT, content_type=declared))
    assert not list(raw_client.list_objects(bucket))


@pytest.mark.parametrize("declared", ["unknown/unknown", "application/unknown"])
def test_upload_declaring_a_type_browsers_sniff_is_a_download(
    public_storage: MinioBackend, declared: str
) -> None:
    saved = public_storage.save("cat.png", SimpleUploadedFile("cat.png", SCRIPT, content_type=declared))
    assert http.request("GET", public_storage.url(saved)).headers["Content-Disposition"] == "attachment"
