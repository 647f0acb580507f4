"""Per-object parameters: metadata, tags, headers, encryption, progress, URLs, location."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.test import override_settings
from minio import Minio
from minio.sse import SseCustomerKey, SseS3

from django_minio_backend import MinioBackend, hookimpl, manager

from .conftest import not_on_ceph

http = urllib3.PoolManager(retries=False, timeout=10)


def test_options_apply_headers_metadata_and_tags_to_every_upload(
    bucket: str, make_storage: Callable[..., MinioBackend], raw_client: Minio
) -> None:
    storage = make_storage(
        bucket,
        metadata={"owner": "42"},
        tags={"project": "alpha"},
        cache_control="max-age=600",
        content_disposition="inline",
        content_encoding="identity",
    )
    name = storage.save("a.txt", ContentFile(b"x"))
    stat = raw_client.stat_object(bucket, name)
    assert stat.metadata["Cache-Control"] == "max-age=600"
    assert stat.metadata["Content-Disposition"] == "inline"
    assert stat.metadata["Content-Encoding"] == "identity"
    assert stat.metadata["X-Amz-Meta-Owner"] == "42"
    assert dict(raw_client.get_object_tags(bucket, name)) == {"project": "alpha"}
    response = http.request("GET", storage.url(name))
    assert response.headers["Cache-Control"] == "max-age=600"


class PdfDownloads:
    @hookimpl
    def object_parameters(self, name: str) -> dict[str, str] | None:
        return {"Content-Disposition": "attachment"} if name.endswith(".pdf") else None


@pytest.mark.hook("object_parameters")
def test_object_parameters_hook_sets_headers_per_name(storage: MinioBackend, raw_client: Minio) -> None:
    pm = manager.get_plugin_manager()
    pm.register(PdfDownloads(), name="pdf-downloads")
    try:
        storage.save("r.pdf", ContentFile(b"%PDF"))
        storage.save("r.txt", ContentFile(b"t"))
    finally:
        pm.unregister(name="pdf-downloads")
    assert raw_client.stat_object(storage.bucket, "r.pdf").metadata["Content-Disposition"] == "attachment"
    assert "Content-Disposition" not in raw_client.stat_object(storage.bucket, "r.txt").metadata


def test_subclass_can_override_object_parameters(bucket: str, raw_client: Minio, s3_settings) -> None:
    class Immutable(MinioBackend):
        def get_object_parameters(self, name: str, content: Any) -> dict[str, str]:
            return {**super().get_object_parameters(name, content), "Cache-Control": "immutable"}

    storage = Immutable(bucket_name=bucket, private_buckets=[bucket])
    storage.save("i.css", ContentFile(b"a{}"))
    stat = raw_client.stat_object(bucket, "i.css")
    assert stat.metadata["Cache-Control"] == "immutable" and stat.content_type == "text/css"


@not_on_ceph("SSE-S3 needs a KMS the throwaway cluster does not have (InvalidRequest)")
def test_sse_s3_is_requested_on_upload(bucket: str, make_storage, raw_client: Minio) -> None:
    storage = make_storage(bucket, sse=SseS3())
    storage.save("enc.txt", ContentFile(b"x"))
    assert raw_client.stat_object(bucket, "enc.txt").metadata["X-Amz-Server-Side-Encryption"] == "AES256"


@not_on_ceph("SSE-C is refused over plain HTTP, as S3 itself does")
def test_sse_c_reads_pass_the_key_and_keyless_reads_fail(
    bucket: str, make_storage, raw_client: Minio
) -> None:
    key = SseCustomerKey(b"0123456789abcdef0123456789abcdef")
    storage = make_storage(
        bucket, sse=key, multipart_threshold=5 * 1024 * 1024, multipart_part_size=5 * 1024 * 1024
    )
    data = b"secret" * 1_000_000  # 6 MB: multipart, every part encrypted with the key
    storage.save("c.bin", ContentFile(data))
    storage.save("small.txt", ContentFile(b"tiny"))
    with storage.open("c.bin") as f:
        f.seek(3_000_000)
        assert f.read(12) == data[3_000_000:3_000_012]
    assert storage.open("small.txt").read() == b"tiny"
    assert storage.size("c.bin") == len(data)
    with pytest.raises(Exception, match=r"customer key|InvalidArgument|BadRequest"):
        raw_client.get_object(bucket, "small.txt").read()


def test_progress_receives_meta_and_all_bytes(bucket: str, make_storage) -> None:
    class Progress:
        def __init__(self) -> None:
            self.meta: dict[str, Any] = {}
            self.sent = 0

        def set_meta(self, object_name: str, total_length: int) -> None:
            self.meta = {"object_name": object_name, "total_length": total_length}

        def update(self, size: int) -> None:
            self.sent += size

    progress = Progress()
    storage = make_storage(
        bucket, progress=progress, multipart_threshold=5 * 1024 * 1024, multipart_part_size=5 * 1024 * 1024
    )
    storage.save("p.bin", ContentFile(b"p" * (11 * 1024 * 1024)))
    assert progress.meta == {"object_name": "p.bin", "total_length": 11 * 1024 * 1024}
    assert progress.sent == 11 * 1024 * 1024


def test_url_expire_per_call_is_capped_at_seven_days(storage: MinioBackend) -> None:
    name = storage.save("e.txt", ContentFile(b"e"))
    short = parse_qs(urlsplit(storage.url(name, expire=timedelta(minutes=5))).query)
    assert short["X-Amz-Expires"] in (["300"], ["301"])  # signed to the second, rounded up
    long = parse_qs(urlsplit(storage.url(name, expire=timedelta(days=30))).query)
    assert long["X-Amz-Expires"] == [str(7 * 24 * 3600)]


def test_expired_and_tampered_urls_are_refused(storage: MinioBackend) -> None:
    name = storage.save("x.txt", ContentFile(b"x"))
    url = storage.url(name, expire=timedelta(seconds=1))
    assert http.request("GET", url).status == 200
    signature = url.rsplit("=", 1)[1]
    tampered = url[: -len(signature)] + ("0" if signature[0] != "0" else "1") + signature[1:]
    assert http.request("GET", tampered).status == 403
    assert http.request("GET", storage.url(name).replace("x.txt", "y.txt")).status == 403
    time.sleep(2.2)
    assert http.request("GET", url).status == 403


def test_response_headers_make_a_download_link(storage: MinioBackend) -> None:
    name = storage.save("report.bin", ContentFile(b"r"))
    url = storage.url(name, response_headers={"content-disposition": 'attachment; filename="Q3 report.pdf"'})
    response = http.request("GET", url)
    assert response.status == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="Q3 report.pdf"'
    url = storage.url(name, response_headers={"response-content-type": "application/pdf"})
    assert http.request("GET", url).headers["Content-Type"] == "application/pdf"


def test_download_link_with_a_non_ascii_file_name_reaches_the_browser_as_rfc_6266_says(
    storage: MinioBackend,
) -> None:
    name = storage.save("report.bin", ContentFile(b"r"))
    url = storage.url(
        name, response_headers={"content-disposition": 'attachment; filename="Bericht Größe.pdf"'}
    )
    disposition = http.request("GET", url).headers["Content-Disposition"]
    assert disposition.isascii()
    assert "filename*=UTF-8''Bericht%20Gr%C3%B6%C3%9Fe.pdf" in disposition
    with pytest.raises(ValueError, match="response-content-type"):
        storage.url(name, response_headers={"content-type": "text/plain; name=é"})


@pytest.mark.parametrize("value", ["text/plain\r\nX-Injected: 1", "a\x00b", 3600])
def test_response_header_value_with_a_control_character_or_not_text_is_refused_naming_it(
    storage: MinioBackend, value: object
) -> None:
    with pytest.raises(ValueError, match="response-cache-control"):
        storage.url("a.txt", response_headers={"cache-control": value})  # type: ignore[dict-item]


def test_public_response_headers_are_signed_but_plain_url_stays_unsigned(
    public_storage: MinioBackend,
) -> None:
    name = public_storage.save("ü b.txt", ContentFile(b"p"))
    assert public_storage.url(name).endswith("/%C3%BC%20b.txt")
    url = public_storage.url(name, response_headers={"content-disposition": "attachment"})
    assert "X-Amz-Signature" in url
    assert http.request("GET", url).headers["Content-Disposition"] == "attachment"


def test_location_prefixes_every_name_and_cannot_be_escaped(
    bucket: str, make_storage, raw_client: Minio
) -> None:
    storage = make_storage(bucket, location="tenant-1/media")
    name = storage.save("docs/a.txt", ContentFile(b"a"))
    assert name == "docs/a.txt"
    assert raw_client.stat_object(bucket, "tenant-1/media/docs/a.txt").size == 1
    assert storage.exists("docs/a.txt") and storage.open(name).read() == b"a"
    assert storage.listdir("") == (["docs"], [])
    assert "/tenant-1/media/docs/a.txt?" in storage.url(name)
    assert http.request("GET", storage.url(name)).data == b"a"
    for bad in ("../escape.txt", "docs/../../x.txt"):
        with pytest.raises(SuspiciousFileOperation):
            storage.save(bad, ContentFile(b"x"))
        with pytest.raises(SuspiciousFileOperation):
            storage.url(bad)
    storage.delete(name)
    assert not storage.exists(name)


def test_url_cache_returns_same_url_and_never_outlives_signature(storage: MinioBackend) -> None:
    from django.core.cache import cache

    with override_settings(
        MINIO_URL_CACHING_ENABLED=True,
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "urls"}},
    ):
        cache.clear()
        first = storage.url("c.txt", expire=timedelta(seconds=90))
        time.sleep(1.1)
        assert storage.url("c.txt", expire=timedelta(seconds=90)) == first
        (key,) = list(cache._expire_info)
        assert cache._expire_info[key] - time.time() <= 90 - 60
        short = storage.url("c.txt", expire=timedelta(seconds=30))
        assert len(cache._expire_info) == 1 and short != first  # too short-lived to cache


def test_signing_window_gives_stable_urls_that_work(
    bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    storage = make_storage(bucket, url_signing_window=timedelta(hours=1))
    name = storage.save("w.txt", ContentFile(b"w"))
    first = storage.url(name)
    time.sleep(1.1)
    assert storage.url(name) == first
    assert http.request("GET", first).data == b"w"
    assert parse_qs(urlsplit(first).query)["X-Amz-Expires"] == [str(3600 + 3600)]


class CountingGuesser:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def content_type_guess(self, name: str) -> str | None:
        self.calls += 1
        return "text/plain" if name.endswith(".note") else None


@pytest.mark.hook("content_type_guess")
def test_a_save_asks_the_content_type_guess_once(storage: MinioBackend, raw_client: Minio) -> None:
    guesser = CountingGuesser()
    pm = manager.get_plugin_manager()
    pm.register(guesser, name="counting-guesser")
    try:
        name = storage.save("memo.note", ContentFile(b"hello"))
        assert guesser.calls == 1  # the active-content check and the Content-Type share one guess
        storage.save("memo2.note", ContentFile(b"hello"))
        assert guesser.calls == 2
    finally:
        pm.unregister(name="counting-guesser")
    assert raw_client.stat_object(storage.bucket, name).content_type == "text/plain"


@pytest.mark.parametrize("name", ["a/.", "a/..", "/etc/x", "\\abs", "a\\..\\b"])
def test_save_refuses_the_names_djangos_checks_refuse(storage: MinioBackend, name: str) -> None:
    with pytest.raises(SuspiciousFileOperation):
        storage.save(name, ContentFile(b"x"))


def test_one_header_from_two_sources_in_different_case_is_sent_once_the_later_winning(
    bucket: str, make_storage: Callable[..., MinioBackend], raw_client: Minio
) -> None:
    storage = make_storage(
        bucket,
        cache_control="max-age=1",
        metadata={"cache-control": "max-age=2", "Owner": "a"},
        user_metadata={"owner": "b"},
        tags={"k": "v"},
        extra_headers={"X-Amz-Tagging": "k=w"},
    )
    name = storage.save("h.txt", ContentFile(b"h"))
    stat = raw_client.stat_object(bucket, name)
    assert stat.metadata["Cache-Control"] == "max-age=2"
    assert stat.metadata["X-Amz-Meta-Owner"] == "b"
    assert raw_client.get_object_tags(bucket, name) == {"k": "v"}
