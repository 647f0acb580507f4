"""S3 servers beside the suite's SeaweedFS: Ceph RADOS Gateway, and helpers to talk to any of them.

A test module imports ``requires_ceph`` (a mark) and the session fixture as
``from .servers import ceph_server as ceph_server`` (the explicit alias tells linters it is used).
Ceph tests run when ``radosgw`` is on PATH; with ``DMB_REQUIRE_CEPH=1`` they run regardless, so a
missing install fails the run instead of skipping (CI sets it after ``.ci/install-ceph``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Mapping
from xml.etree.ElementTree import Element, SubElement, tostring

import pytest
from minio import Minio

from django_minio_backend.testing.cephrgw import CephRGW
from django_minio_backend.testing.seaweedfs import S3Server

__all__ = ["CEPH_REQUIRED", "ceph_server", "client_for", "multipart_put", "requires_ceph"]

CEPH_REQUIRED = os.environ.get("DMB_REQUIRE_CEPH") == "1"
requires_ceph = pytest.mark.skipif(
    shutil.which("radosgw") is None and not CEPH_REQUIRED,
    reason="Ceph RGW is not installed (.ci/install-ceph); DMB_REQUIRE_CEPH=1 turns this into a failure",
)


@pytest.fixture(scope="session")
def ceph_server() -> Iterator[S3Server]:
    """A throwaway single-host Ceph RGW on loopback for the whole session."""
    with CephRGW() as server:
        yield server


def client_for(server: S3Server, endpoint: str | None = None) -> Minio:
    """A minio client with ``server``'s credentials, at ``endpoint`` (a proxy) or the server's own."""
    return Minio(
        endpoint or server.endpoint,
        server.access_key,
        server.secret_key,
        secure=server.use_https,
        region=server.region,
    )


def multipart_put(
    client: Minio,
    bucket: str,
    key: str,
    parts: list[bytes],
    complete_headers: Mapping[str, str] | None = None,
) -> str:
    """Upload ``parts`` as one multipart object, sending ``complete_headers`` on the complete only.

    Returns the body of the CompleteMultipartUpload answer. The upload is aborted on failure.
    """
    upload_id = client._create_multipart_upload(bucket, key, {})
    try:
        root = Element("CompleteMultipartUpload")
        for number, data in enumerate(parts, start=1):
            etag = client._upload_part(bucket, key, data, None, upload_id, number)
            part = SubElement(root, "Part")
            SubElement(part, "PartNumber").text = str(number)
            SubElement(part, "ETag").text = f'"{etag}"'
        headers = {"Content-Type": "application/xml", **(complete_headers or {})}
        response = client._execute(
            "POST", bucket, key, body=tostring(root), headers=headers, query_params={"uploadId": upload_id}
        )
        return response.data.decode()
    except BaseException:
        with contextlib.suppress(Exception):
            client._abort_multipart_upload(bucket, key, upload_id)
        raise
