"""The servers that differ: the no-conditional proxy and the Ceph RGW launcher behave as documented."""

from __future__ import annotations

import http.client
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import urllib3
from minio import Minio
from minio.credentials import Credentials
from minio.error import S3Error
from minio.signer import sign_v4_s3

from django_minio_backend.testing.cephrgw import CephRGW
from django_minio_backend.testing.seaweedfs import S3Server

from .noconditional_proxy import NoConditionalProxy, resign_v4
from .servers import ceph_server as ceph_server  # a fixture: pytest finds it by its name here
from .servers import client_for, multipart_put, requires_ceph

CREATE_ONLY = {"If-None-Match": "*"}
PART = b"p" * (5 * 1024 * 1024)  # the smallest part that may be followed by another


def read(client: Minio, bucket: str, key: str) -> bytes:
    response = client.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[NoConditionalProxy]:
    with NoConditionalProxy(s3_server.endpoint, s3_server.secret_key) as proxy:
        yield proxy


@pytest.fixture
def complete_proxy(s3_server: S3Server) -> Iterator[NoConditionalProxy]:
    with NoConditionalProxy(s3_server.endpoint, s3_server.secret_key, mode="complete") as proxy:
        yield proxy


# -- the proxy --------------------------------------------------------------------------------


def test_resigned_request_without_removals_has_the_clients_signature() -> None:
    url = urlsplit("http://127.0.0.1:9000/bucket/some%20dir/k%C3%A9y.txt?uploadId=a%2Bb&partNumber=2")
    headers = {
        "Host": "127.0.0.1:9000",
        "If-None-Match": "*",
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        "x-amz-date": "20260102T030405Z",
        "x-amz-meta-note": "two  spaces",
    }
    signed = sign_v4_s3(
        method="PUT",
        url=url,
        region="us-east-1",
        headers=dict(headers),
        credentials=Credentials("AK", "SK"),
        content_sha256="UNSIGNED-PAYLOAD",
        date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    )
    pairs = list(signed.items())
    target = f"{url.path}?{url.query}"
    assert resign_v4("PUT", target, pairs, "SK", removed=()) == pairs
    without = resign_v4("PUT", target, pairs, "SK", removed=["If-None-Match"])
    assert dict(without)["Authorization"] != signed["Authorization"]
    assert "if-none-match" not in dict(without)["Authorization"]


def test_bare_server_refuses_conditional_put_over_existing_key(raw_client: Minio, bucket: str) -> None:
    raw_client._put_object(bucket, "report.txt", b"first", {})
    with pytest.raises(S3Error) as caught:
        raw_client._put_object(bucket, "report.txt", b"second", dict(CREATE_ONLY))
    assert caught.value.code == "PreconditionFailed"
    assert read(raw_client, bucket, "report.txt") == b"first"


def test_conditional_put_over_existing_key_overwrites_through_proxy(
    s3_server: S3Server, raw_client: Minio, bucket: str, proxy: NoConditionalProxy
) -> None:
    client = client_for(s3_server, proxy.endpoint)
    client._put_object(bucket, "report.txt", b"first", dict(CREATE_ONLY))
    client._put_object(bucket, "report.txt", b"second", dict(CREATE_ONLY))
    assert read(raw_client, bucket, "report.txt") == b"second"
    assert proxy.stripped == 2


def test_proxy_passes_presigned_urls_multipart_and_reads_unchanged(
    s3_server: S3Server, raw_client: Minio, bucket: str, proxy: NoConditionalProxy
) -> None:
    client = client_for(s3_server, proxy.endpoint)
    raw_client._put_object(bucket, "small.txt", b"hello", {})
    url = client.presigned_get_object(bucket, "small.txt")
    assert urllib3.PoolManager().request("GET", url).data == b"hello"
    multipart_put(client, bucket, "big.bin", [PART, b"tail"])
    assert read(raw_client, bucket, "big.bin") == PART + b"tail"
    with pytest.raises(S3Error) as caught:  # a conditional read keeps its condition
        client.get_object(bucket, "small.txt", request_headers={"If-Match": '"not-the-etag"'})
    assert caught.value.code == "PreconditionFailed"
    assert read(client, bucket, "small.txt") == b"hello"
    assert proxy.stripped == 0
    assert proxy.requests >= 6


def test_proxy_refuses_streaming_signed_body_it_cannot_sign_again(proxy: NoConditionalProxy) -> None:
    host, port = proxy.endpoint.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {
            "If-None-Match": "*",
            "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "Authorization": "AWS4-HMAC-SHA256 Credential=AK/20260102/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;if-none-match, Signature=00",
        }
        conn.request("PUT", "/bucket/key", body=b"0\r\n\r\n", headers=headers)
        response = conn.getresponse()
        assert response.status == 501
        assert b"aws-chunked" in response.read()
    finally:
        conn.close()
    assert proxy.stripped == 0


def test_bare_server_refuses_conditional_complete_over_existing_key(raw_client: Minio, bucket: str) -> None:
    raw_client._put_object(bucket, "video.bin", b"first", {})
    with pytest.raises(S3Error) as caught:
        multipart_put(raw_client, bucket, "video.bin", [PART, b"second"], CREATE_ONLY)
    assert caught.value.code == "PreconditionFailed"
    assert read(raw_client, bucket, "video.bin") == b"first"


def test_complete_mode_keeps_conditional_put_but_complete_overwrites(
    s3_server: S3Server, raw_client: Minio, bucket: str, complete_proxy: NoConditionalProxy
) -> None:
    client = client_for(s3_server, complete_proxy.endpoint)
    client._put_object(bucket, "video.bin", b"first", dict(CREATE_ONLY))
    with pytest.raises(S3Error) as caught:
        client._put_object(bucket, "video.bin", b"second", dict(CREATE_ONLY))
    assert caught.value.code == "PreconditionFailed"
    multipart_put(client, bucket, "video.bin", [PART, b"third"], CREATE_ONLY)
    assert read(raw_client, bucket, "video.bin") == PART + b"third"
    assert complete_proxy.stripped == 1


def test_ceph_mode_keeps_conditional_put_but_copy_and_complete_overwrite(
    s3_server: S3Server, raw_client: Minio, bucket: str
) -> None:
    with NoConditionalProxy(s3_server.endpoint, s3_server.secret_key, mode="ceph") as proxy:
        client = client_for(s3_server, proxy.endpoint)
        client._put_object(bucket, "video.bin", b"first", dict(CREATE_ONLY))
        with pytest.raises(S3Error) as caught:
            client._put_object(bucket, "video.bin", b"second", dict(CREATE_ONLY))
        assert caught.value.code == "PreconditionFailed"
        client._put_object(bucket, "source.bin", b"copied", {})
        copy = {"x-amz-copy-source": f"/{bucket}/source.bin", **CREATE_ONLY}
        client._execute("PUT", bucket, "video.bin", headers=copy)
        assert read(raw_client, bucket, "video.bin") == b"copied"
        multipart_put(client, bucket, "video.bin", [PART, b"third"], CREATE_ONLY)
        assert read(raw_client, bucket, "video.bin") == PART + b"third"
        assert proxy.stripped == 2


# -- Ceph RGW ---------------------------------------------------------------------------------


def test_missing_ceph_binary_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"ceph-mon.*radosgw.*apt-get install"):
        CephRGW().start()


@requires_ceph
def test_ceph_launcher_serves_put_get_and_stops_every_daemon() -> None:
    launcher = CephRGW()
    with launcher as server:
        pids = launcher.pids
        data_dir = launcher.directory
        client = client_for(server)
        bucket = f"t-{uuid.uuid4().hex[:12]}"
        client.make_bucket(bucket)
        client._put_object(bucket, "hello.txt", b"hello ceph", {})
        assert read(client, bucket, "hello.txt") == b"hello ceph"
    assert len(pids) == 3
    assert data_dir is not None
    assert not data_dir.exists()
    still_running = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    assert still_running == []
    host, port = server.endpoint.split(":")
    with pytest.raises(OSError):
        http.client.HTTPConnection(host, int(port), timeout=2).connect()


@requires_ceph
def test_ceph_refuses_conditional_put_but_copy_and_complete_overwrite(ceph_server: S3Server) -> None:
    client = client_for(ceph_server)
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    client.make_bucket(bucket)
    client._put_object(bucket, "video.bin", b"first", dict(CREATE_ONLY))
    with pytest.raises(S3Error) as caught:
        client._put_object(bucket, "video.bin", b"second", dict(CREATE_ONLY))
    assert caught.value.code == "PreconditionFailed"
    # Ceph 16.2 ignores If-None-Match on CopyObject and CompleteMultipartUpload: documented differences.
    client._put_object(bucket, "source.bin", b"copied", {})
    copy = {"x-amz-copy-source": f"/{bucket}/source.bin", **CREATE_ONLY}
    client._execute("PUT", bucket, "video.bin", headers=copy)
    assert read(client, bucket, "video.bin") == b"copied"
    answer = multipart_put(client, bucket, "video.bin", [PART, b"third"], CREATE_ONLY)
    assert read(client, bucket, "video.bin") == PART + b"third"
    assert "<ETag></ETag>" in answer or "<ETag/>" in answer
