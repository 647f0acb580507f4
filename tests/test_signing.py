"""Local URL signing equals the minio SDK's for the same request (unit tests, no network)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from minio import Minio

from django_minio_backend.client import UrlSigner

NOW = datetime(2026, 1, 5, 3, 4, 5, tzinfo=timezone.utc)


def signer(host: str = "127.0.0.1:9000", scheme: str = "http") -> UrlSigner:
    return UrlSigner(
        scheme=scheme, host=host, bucket="media", region="us-east-1", access_key="AK/1", secret_key="s+k"
    )


@pytest.mark.parametrize("name", ["a.txt", "dir/with space+plus%#?.txt", "üñí/日本語.png", "x~y_z-1.2"])
@pytest.mark.parametrize(
    "headers", [None, {"response-content-disposition": 'attachment; filename="a b.pdf"'}]
)
def test_presigned_url_matches_sdk(name: str, headers: dict[str, str] | None) -> None:
    sdk = Minio("127.0.0.1:9000", "AK/1", "s+k", secure=False, region="us-east-1")
    expected = sdk.get_presigned_url(
        "GET", "media", name, expires=timedelta(hours=5), response_headers=headers, request_date=NOW
    )
    ours = signer().presigned_url(name, timedelta(hours=5), now=NOW, response_headers=headers)
    # Same signature and parameters; the SDK lists response-* parameters first in the URL.
    assert split(ours) == split(expected)
    if not headers:
        assert ours == expected


@pytest.mark.parametrize("name", ["a.txt", "üñí/日本語 +.bin"])
def test_presigned_put_with_query_parameters_matches_sdk(name: str) -> None:
    sdk = Minio("127.0.0.1:9000", "AK/1", "s+k", secure=False, region="us-east-1")
    params = {"partNumber": "3", "uploadId": "a/b+c=="}
    expected = sdk.get_presigned_url(
        "PUT", "media", name, expires=timedelta(hours=2), extra_query_params=params, request_date=NOW
    )
    ours = signer().presigned("PUT", name, timedelta(hours=2), params=params, now=NOW)
    assert split(ours) == split(expected)


def test_signed_header_changes_the_signature_and_is_listed() -> None:
    plain = signer().presigned("PUT", "a.bin", timedelta(hours=1), now=NOW)
    sized = signer().presigned("PUT", "a.bin", timedelta(hours=1), headers={"Content-Length": "5"}, now=NOW)
    other = signer().presigned("PUT", "a.bin", timedelta(hours=1), headers={"Content-Length": "6"}, now=NOW)
    assert split(sized)[1]["X-Amz-SignedHeaders"] == ["content-length;host"]
    signatures = {split(url)[1]["X-Amz-Signature"][0] for url in (plain, sized, other)}
    assert len(signatures) == 3


def split(url: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(url)
    return parts.path, parse_qs(parts.query)


def test_https_default_port_is_dropped_from_host() -> None:
    sdk = Minio("files.example.com", "AK/1", "s+k", secure=True, region="us-east-1")
    expected = sdk.get_presigned_url("GET", "media", "a.txt", expires=timedelta(days=7), request_date=NOW)
    assert signer("files.example.com", "https").presigned_url("a.txt", timedelta(days=7), now=NOW) == expected


def test_signing_key_is_recomputed_when_the_day_changes() -> None:
    s = signer()
    first = s.presigned_url("a.txt", timedelta(hours=1), now=NOW)
    later = s.presigned_url("a.txt", timedelta(hours=1), now=NOW + timedelta(days=1))
    sdk = Minio("127.0.0.1:9000", "AK/1", "s+k", secure=False, region="us-east-1")
    assert later == sdk.get_presigned_url(
        "GET", "media", "a.txt", expires=timedelta(hours=1), request_date=NOW + timedelta(days=1)
    )
    assert first != later
