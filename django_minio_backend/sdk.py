"""The only module that calls the minio SDK's private API.

The public ``put_object`` turns unknown headers (``If-None-Match``) into user
metadata and reads sizes up front; multipart uploads have no public API at all.
Everything we need from ``Minio``'s underscore methods goes through here, and
``tests/test_sdk.py`` pins their behaviour, so an SDK release that changes them
fails a test instead of a user's save.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from xml.etree.ElementTree import Element, SubElement, tostring

from minio import Minio


def put_object(
    client: Minio, bucket: str, key: str, data: memoryview | bytes, headers: Mapping[str, str]
) -> str:
    """One PUT of ``data`` with exactly ``headers``; returns the ETag."""
    result = client._put_object(bucket, key, data, dict(headers))  # type: ignore[arg-type]
    return str(result.etag or "")


def create_multipart_upload(client: Minio, bucket: str, key: str, headers: Mapping[str, str]) -> str:
    """Start a multipart upload; returns its upload id."""
    return str(client._create_multipart_upload(bucket, key, dict(headers)))


def upload_part(
    client: Minio,
    bucket: str,
    key: str,
    upload_id: str,
    number: int,
    data: memoryview | bytes,
    headers: Mapping[str, str],
) -> str:
    """Upload part ``number``; returns its ETag (unquoted)."""
    return str(client._upload_part(bucket, key, data, dict(headers), upload_id, number))  # type: ignore[arg-type]


def complete_multipart_upload(
    client: Minio,
    bucket: str,
    key: str,
    upload_id: str,
    etags: list[str],
    headers: Mapping[str, str],
) -> None:
    """Complete an upload from its parts' ETags, in order, sending ``headers`` as given."""
    root = Element("CompleteMultipartUpload")
    for number, etag in enumerate(etags, start=1):
        part = SubElement(root, "Part")
        SubElement(part, "PartNumber").text = str(number)
        SubElement(part, "ETag").text = f'"{etag}"'
    client._execute(
        "POST",
        bucket,
        key,
        body=tostring(root),
        headers={"Content-Type": "application/xml", **headers},
        query_params={"uploadId": upload_id},
    )


def abort_multipart_upload(client: Minio, bucket: str, key: str, upload_id: str) -> None:
    client._abort_multipart_upload(bucket, key, upload_id)


@dataclass(frozen=True)
class IncompleteUpload:
    """A multipart upload that was started and neither completed nor aborted."""

    key: str
    upload_id: str
    initiated: datetime | None


def list_incomplete_uploads(client: Minio, bucket: str, prefix: str = "") -> Iterator[IncompleteUpload]:
    """Every incomplete multipart upload in ``bucket`` under ``prefix``, page by page."""
    key_marker: str | None = None
    upload_id_marker: str | None = None
    while True:
        result = client._list_multipart_uploads(
            bucket,
            prefix=prefix or None,
            key_marker=key_marker,
            upload_id_marker=upload_id_marker,
            max_uploads=1000,
        )
        for upload in result.uploads:
            yield IncompleteUpload(upload.object_name, upload.upload_id, upload.initiated_time)
        if not result.is_truncated:
            return
        key_marker, upload_id_marker = result.next_key_marker, result.next_upload_id_marker
