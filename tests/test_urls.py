"""URLs: names, lifetimes, cache keys, endpoints (issue 13 items 2, 9, 11, 12; issue 18 items 8, 9)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.test import override_settings

from django_minio_backend import MinioBackend, links
from django_minio_backend import links as links_module
from django_minio_backend.testing.seaweedfs import S3Server

http = urllib3.PoolManager(retries=False, timeout=10)
LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "url-tests"}}
ROOT_OR_FOLDER = ["", "/", ".", "./", "./.", "//", "dir/", "dir/./", "./dir/", "dir\\", "\\"]


@pytest.mark.parametrize("name", ROOT_OR_FOLDER)
def test_url_of_the_bucket_root_or_a_folder_is_refused(storage: MinioBackend, name: str) -> None:
    storage.save("dir/file.txt", ContentFile(b"f"))
    with pytest.raises(SuspiciousFileOperation):
        storage.url(name)
    with pytest.raises(SuspiciousFileOperation):
        storage.url(name, expire=timedelta(minutes=1))


@pytest.mark.parametrize("name", ROOT_OR_FOLDER)
def test_public_url_of_the_bucket_root_or_a_folder_is_refused(
    public_storage: MinioBackend, name: str
) -> None:
    with pytest.raises(SuspiciousFileOperation):
        public_storage.url(name)


def test_url_names_the_key_that_exists_and_open_use(storage: MinioBackend) -> None:
    name = storage.save("dir/file.txt", ContentFile(b"dotted"))
    for spelling in ("./dir/file.txt", "dir/./file.txt", "dir//file.txt"):
        assert storage.exists(spelling)
        assert storage.open(spelling).read() == b"dotted"
        response = http.request("GET", storage.url(spelling))
        assert response.status == 200, spelling
        assert response.data == b"dotted"
    assert urlsplit(storage.url("./dir/file.txt")).path == urlsplit(storage.url(name)).path


@pytest.mark.parametrize(
    "expire", [timedelta(0), timedelta(seconds=0.5), timedelta(microseconds=1), timedelta(seconds=-5)]
)
def test_expiry_under_one_second_is_refused(storage: MinioBackend, expire: timedelta) -> None:
    with pytest.raises(ValueError, match="at least one second"):
        storage.url("a.txt", expire=expire)


def _valid_until(url: str) -> datetime:
    query = parse_qs(urlsplit(url).query)
    signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    return signed + timedelta(seconds=int(query["X-Amz-Expires"][0]))


def _signed_by(url: str) -> tuple[str, ...]:
    """Scheme, host, path and credential of a presigned URL."""
    parts = urlsplit(url)
    return (parts.scheme, parts.netloc, parts.path, parse_qs(parts.query)["X-Amz-Credential"][0])


class _Clock:
    """Freezes ``datetime.now`` in the storage module (pure signing arithmetic, no network)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, now: datetime) -> None:
        clock = self
        self.now = now

        class Frozen(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
                return clock.now

        monkeypatch.setattr(links_module, "datetime", Frozen)


@pytest.mark.parametrize(
    ("window", "expire"),
    [
        (None, timedelta(seconds=1.5)),
        (None, timedelta(minutes=5)),
        (timedelta(hours=1), timedelta(seconds=30)),
        (timedelta(hours=1), timedelta(days=6, hours=23)),
        (timedelta(hours=2), timedelta(days=6, hours=23)),  # expiry + window over 7 days
        (timedelta(days=6), timedelta(days=2)),
        (timedelta(seconds=7.5), timedelta(seconds=10)),
    ],
)
@pytest.mark.parametrize(
    "offset", [timedelta(0), timedelta(microseconds=1), timedelta(minutes=59, seconds=59.9)]
)
def test_url_stays_valid_at_least_the_requested_expiry(
    bucket: str,
    make_storage: Callable[..., MinioBackend],
    monkeypatch: pytest.MonkeyPatch,
    window: timedelta | None,
    expire: timedelta,
    offset: timedelta,
) -> None:
    storage = make_storage(bucket, url_signing_window=window)
    clock = _Clock(monkeypatch, datetime(2026, 11, 30, 15, 0, tzinfo=timezone.utc) + offset)
    url = storage.url("a.txt", expire=expire)
    assert _valid_until(url) >= clock.now + expire
    signed_at = _valid_until(url) - timedelta(seconds=int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0]))
    assert signed_at <= clock.now
    assert int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0]) <= 7 * 24 * 3600


def test_window_keeps_one_url_and_its_promised_lifetime_across_the_window(
    bucket: str, make_storage: Callable[..., MinioBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = make_storage(bucket, url_signing_window=timedelta(hours=1))
    start = datetime(2026, 11, 30, 15, 0, tzinfo=timezone.utc)
    clock = _Clock(monkeypatch, start)
    first = storage.url("a.txt", expire=timedelta(minutes=10))
    for later in (timedelta(minutes=30), timedelta(minutes=59, seconds=59)):
        clock.now = start + later
        assert storage.url("a.txt", expire=timedelta(minutes=10)) == first
        assert _valid_until(first) >= clock.now + timedelta(minutes=10)


def test_signed_url_with_fractional_expiry_works_on_the_server(storage: MinioBackend) -> None:
    name = storage.save("f.txt", ContentFile(b"f"))
    url = storage.url(name, expire=timedelta(seconds=1.5))
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"][0] in ("2", "3")
    assert http.request("GET", url).data == b"f"


def test_upper_case_external_endpoint_gives_urls_that_work(
    bucket: str, make_storage: Callable[..., MinioBackend], s3_server: S3Server
) -> None:
    port = s3_server.endpoint.rsplit(":", 1)[1]
    storage = make_storage(bucket, external_endpoint=f"LocalHost:{port}")
    name = storage.save("up.txt", ContentFile(b"up"))
    url = storage.url(name)
    assert urlsplit(url).netloc == f"localhost:{port}"
    response = http.request("GET", url)
    assert response.status == 200
    assert response.data == b"up"


@pytest.mark.parametrize(
    "other",
    [
        {"external_endpoint": "cdn.example.com"},
        {"external_endpoint": "cdn.example.com", "external_endpoint_use_https": True},
        {"access_key": "another-key"},
        {"secret_key": "a-rotated-secret"},
        {"session_token": "another-session"},
        {"url_signing_window": timedelta(hours=1)},
    ],
)
def test_url_cache_is_not_shared_by_storages_that_sign_differently(
    bucket: str, make_storage: Callable[..., MinioBackend], other: dict[str, Any]
) -> None:
    from django.core.cache import cache

    with override_settings(MINIO_URL_CACHING_ENABLED=True, CACHES=LOCMEM):
        cache.clear()
        plain = make_storage(bucket)
        different = make_storage(bucket, **other)
        first = plain.url("c.txt")
        got = different.url("c.txt")
        expected = links.sign(
            different.config, different.signer, different._key("c.txt"), different.config.url_expiry_hours, {}
        )[0]
        assert got != first
        assert _signed_by(got) == _signed_by(expected)
        assert plain.url("c.txt") == first


def test_endpoint_with_scheme_is_accepted_for_every_operation(
    bucket: str, make_storage: Callable[..., MinioBackend], s3_server: S3Server
) -> None:
    storage = make_storage(bucket, endpoint=f"http://{s3_server.endpoint}/")
    assert storage.is_minio_available()
    name = storage.save("s.txt", ContentFile(b"scheme"))
    assert storage.exists(name) and storage.open(name).read() == b"scheme"
    url = storage.url(name)
    assert url.startswith(f"http://{s3_server.endpoint}/")
    assert http.request("GET", url).data == b"scheme"


def test_external_endpoint_scheme_sets_the_url_scheme(
    bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    storage = make_storage(bucket, external_endpoint="https://files.example.com")
    assert storage.url("a.txt").startswith("https://files.example.com/")
    plain = make_storage(bucket, external_endpoint="http://files.example.com:8080", use_https=True)
    assert plain.url("a.txt").startswith("http://files.example.com:8080/")


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:9/some/path", "ftp://127.0.0.1:9", "http://", "user@127.0.0.1:9"]
)
def test_is_minio_available_reports_an_unusable_endpoint_instead_of_raising(
    bucket: str, make_storage: Callable[..., MinioBackend], endpoint: str
) -> None:
    status = make_storage(bucket, endpoint=endpoint).is_minio_available()
    assert not status
    assert endpoint in status.details


def test_is_minio_available_reports_an_unusable_configuration_instead_of_raising(
    bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    status = make_storage(bucket, multipart_part_size=1024).is_minio_available()
    assert not status
    assert "MINIO_MULTIPART_PART_SIZE" in status.details


def test_cached_url_still_lives_the_requested_expiry_when_served(storage: MinioBackend) -> None:
    """Red-team finding: a cached URL used to be served with less than ``expire`` left."""
    from urllib.parse import parse_qs, urlsplit

    from django.core.cache import cache
    from django.test import override_settings

    with override_settings(
        MINIO_URL_CACHING_ENABLED=True,
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "life"}},
    ):
        cache.clear()
        url = storage.url("life.txt", expire=timedelta(seconds=300))
        query = parse_qs(urlsplit(url).query)
        assert int(query["X-Amz-Expires"][0]) >= 300 + 240  # signed for the cache's time on top
        (key,) = list(cache._expire_info)
        # Served until its entry expires, it still has at least the 300 s asked for.
        assert int(query["X-Amz-Expires"][0]) - (cache._expire_info[key] - time.time()) >= 300


def test_urls_signed_with_provider_keys_are_never_cached(bucket: str, make_storage) -> None:
    from django.core.cache import cache
    from django.test import override_settings
    from minio.credentials import StaticProvider

    storage = make_storage(bucket, credentials_provider=StaticProvider("k", "s", "t"))
    with override_settings(
        MINIO_URL_CACHING_ENABLED=True,
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "prov"}},
    ):
        cache.clear()
        storage.url("p.txt")
        assert list(cache._expire_info) == []
