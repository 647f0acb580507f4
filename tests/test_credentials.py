"""Credentials the way deployments provide them: session tokens and minio credential providers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3
from django.core.files.base import ContentFile
from minio import Minio
from minio.credentials import Credentials, StaticProvider
from minio.credentials.providers import Provider

from django_minio_backend import MinioBackend
from django_minio_backend.client import UrlSigner
from django_minio_backend.testing.seaweedfs import S3Server

NOW = datetime(2026, 1, 5, 3, 4, 5, tzinfo=timezone.utc)
TOKEN = "FwoGZXIvYXdzE+token/with=odd+chars"


class RotatingProvider(Provider):
    """Hands out the next key pair on every retrieve(), as a provider does when keys expire."""

    def __init__(self, pairs: list[tuple[str, str, str | None]]) -> None:
        self.pairs = pairs
        self.calls = 0

    def retrieve(self) -> Credentials:
        access, secret, token = self.pairs[min(self.calls, len(self.pairs) - 1)]
        self.calls += 1
        return Credentials(access, secret, token)


def signer(**kwargs: object) -> UrlSigner:
    base: dict[str, object] = {
        "scheme": "http",
        "host": "127.0.0.1:9000",
        "bucket": "media",
        "region": "us-east-1",
        "access_key": "AK/1",
        "secret_key": "s+k",
    }
    return UrlSigner(**{**base, **kwargs})  # type: ignore[arg-type]


def sdk_url(access: str, secret: str, token: str | None, now: datetime = NOW) -> str:
    sdk = Minio("127.0.0.1:9000", access, secret, session_token=token, secure=False, region="us-east-1")
    return sdk.get_presigned_url("GET", "media", "a b.txt", expires=timedelta(hours=1), request_date=now)


def split(url: str) -> tuple[str, dict[str, list[str]]]:
    """Path and parameters: the SDK puts X-Amz-Security-Token first in the URL, we sort it in."""
    parts = urlsplit(url)
    return parts.path, parse_qs(parts.query)


def test_presigned_url_with_a_session_token_carries_it_and_matches_the_sdk() -> None:
    url = signer(session_token=TOKEN).presigned_url("a b.txt", timedelta(hours=1), now=NOW)
    assert split(url)[1]["X-Amz-Security-Token"] == [TOKEN]
    assert split(url) == split(sdk_url("AK/1", "s+k", TOKEN))


def test_presigned_url_is_signed_with_the_keys_the_provider_returns_now() -> None:
    provider = RotatingProvider([("OLD", "old-secret", "t1"), ("NEW", "new-secret", "t2")])
    s = signer(access_key="", secret_key="", provider=provider)
    first = s.presigned_url("a b.txt", timedelta(hours=1), now=NOW)
    second = s.presigned_url("a b.txt", timedelta(hours=1), now=NOW)
    assert split(first) == split(sdk_url("OLD", "old-secret", "t1"))
    assert split(second) == split(sdk_url("NEW", "new-secret", "t2"))  # new keys: not the cached day key


@pytest.fixture
def http() -> urllib3.PoolManager:
    return urllib3.PoolManager(retries=False, timeout=10)


def save_and_fetch(storage: MinioBackend, http: urllib3.PoolManager) -> str:
    name = storage.save("creds.txt", ContentFile(b"via provider"))
    with storage.open(name) as f:
        assert f.read() == b"via provider"
    url = storage.url(name)
    response = http.request("GET", url)
    assert (response.status, response.data) == (200, b"via provider")
    return url


def test_env_provider_saves_reads_and_signs_urls_the_server_accepts(
    bucket: str,
    make_storage: Callable[..., MinioBackend],
    s3_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    http: urllib3.PoolManager,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    storage = make_storage(
        bucket, access_key="", secret_key="", credentials_provider="minio.credentials.EnvAWSProvider"
    )
    url = save_and_fetch(storage, http)
    assert f"X-Amz-Credential={s3_server.access_key}" in url


def test_wrong_static_keys_are_ignored_when_a_provider_is_set(
    bucket: str, make_storage: Callable[..., MinioBackend], s3_server: S3Server, http: urllib3.PoolManager
) -> None:
    provider = StaticProvider(s3_server.access_key, s3_server.secret_key)
    storage = make_storage(bucket, access_key="wrong", secret_key="wrong", credentials_provider=provider)
    save_and_fetch(storage, http)


class HeaderRecorder(urllib3.PoolManager):
    """A MINIO_HTTP_CLIENT that remembers the headers of every request."""

    def __init__(self) -> None:
        super().__init__(retries=False, timeout=10)
        self.sent: list[dict[str, str]] = []

    def urlopen(self, method: str, url: str, *args, **kwargs):  # type: ignore[override]
        self.sent.append(dict(kwargs.get("headers") or {}))
        return super().urlopen(method, url, *args, **kwargs)


@pytest.mark.parametrize("how", ["setting", "provider"])
def test_session_token_goes_with_every_request_and_into_the_signature(
    bucket: str, make_storage: Callable[..., MinioBackend], s3_server: S3Server, how: str
) -> None:
    # SeaweedFS treats any token as one of its own STS tokens and refuses it, so
    # this proves the token is sent and signed (the refusal), not that it is accepted.
    pool = HeaderRecorder()
    if how == "setting":
        storage = make_storage(bucket, session_token=TOKEN, http_client=pool)
    else:
        provider = StaticProvider(s3_server.access_key, s3_server.secret_key, TOKEN)
        storage = make_storage(bucket, credentials_provider=provider, http_client=pool)
    with pytest.raises(PermissionError):
        storage.save("creds.txt", ContentFile(b"x"))
    assert pool.sent and all(h.get("X-Amz-Security-Token") == TOKEN for h in pool.sent)
    assert all("x-amz-security-token" in h["Authorization"] for h in pool.sent)
    assert split(storage.url("creds.txt"))[1]["X-Amz-Security-Token"] == [TOKEN]


def test_secrets_of_every_kind_stay_out_of_reprs_and_migrations(
    make_storage: Callable[..., MinioBackend],
) -> None:
    storage = make_storage(
        "b",
        access_key="AKSECRET",
        secret_key="SKSECRET",
        session_token="TOKSECRET",
        credentials_provider=StaticProvider("PAK", "PSKSECRET", "PTOKSECRET"),
    )
    shown = " ".join([repr(storage), repr(storage.config), repr(storage.signer), repr(storage.deconstruct())])
    for secret in ("SKSECRET", "TOKSECRET", "PSKSECRET", "PTOKSECRET", "AKSECRET"):
        assert secret not in shown


def test_a_credentials_provider_needs_no_static_keys_in_the_checks() -> None:
    from .test_checks import ids

    provider = {"MINIO_CREDENTIALS_PROVIDER": "minio.credentials.EnvAWSProvider"}
    assert "django_minio_backend.E003" not in ids(MINIO_ACCESS_KEY="", MINIO_SECRET_KEY="", **provider)
    assert "django_minio_backend.E003" in ids(MINIO_ACCESS_KEY="", MINIO_SECRET_KEY="")
