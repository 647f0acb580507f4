"""Pins what django_minio_backend.sdk relies on in minio's private API (issue 11).

An SDK release that renames or reshapes these calls fails here, not in a user's save.
"""

from __future__ import annotations

import inspect

import pytest
from minio import Minio
from minio.error import S3Error

from django_minio_backend import sdk

# The private methods sdk.py calls, with the parameters it passes (by position or name).
PINNED = {
    "_put_object": ["bucket_name", "object_name", "data", "headers"],
    "_create_multipart_upload": ["bucket_name", "object_name", "headers"],
    "_upload_part": ["bucket_name", "object_name", "data", "headers", "upload_id", "part_number"],
    "_abort_multipart_upload": ["bucket_name", "object_name", "upload_id"],
    "_list_multipart_uploads": ["bucket_name", "prefix", "key_marker", "upload_id_marker", "max_uploads"],
    "_execute": ["method", "bucket_name", "object_name", "body", "headers", "query_params"],
}


@pytest.mark.parametrize("method", sorted(PINNED))
def test_private_sdk_method_keeps_the_parameters_sdk_passes(method: str) -> None:
    parameters = list(inspect.signature(getattr(Minio, method)).parameters)[1:]
    missing = [name for name in PINNED[method] if name not in parameters]
    assert not missing, f"Minio.{method} lost {missing}: update django_minio_backend/sdk.py"
    positional = [name for name in PINNED[method] if name in parameters][: len(PINNED[method])]
    if method in ("_put_object", "_create_multipart_upload", "_upload_part", "_abort_multipart_upload"):
        assert parameters[: len(positional)] == PINNED[method], f"Minio.{method} reordered its parameters"


def test_put_sends_if_none_match_as_a_header_and_returns_the_etag(raw_client: Minio, bucket: str) -> None:
    etag = sdk.put_object(raw_client, bucket, "k", b"one", {"If-None-Match": "*"})
    assert etag and raw_client.stat_object(bucket, "k").etag == etag
    with pytest.raises(S3Error) as info:
        sdk.put_object(raw_client, bucket, "k", b"two", {"If-None-Match": "*"})
    assert info.value.code == "PreconditionFailed"


def test_multipart_round_trip_and_listing_of_incomplete_uploads(raw_client: Minio, bucket: str) -> None:
    part = b"p" * (5 * 1024 * 1024)
    upload_id = sdk.create_multipart_upload(raw_client, bucket, "big", {"Content-Type": "text/plain"})
    etags = [sdk.upload_part(raw_client, bucket, "big", upload_id, n, part, {}) for n in (1, 2)]
    assert [(u.key, u.upload_id) for u in sdk.list_incomplete_uploads(raw_client, bucket)] == [
        ("big", upload_id)
    ]
    sdk.complete_multipart_upload(raw_client, bucket, "big", upload_id, etags, {})
    assert raw_client.stat_object(bucket, "big").size == 2 * len(part)
    left = sdk.create_multipart_upload(raw_client, bucket, "left", {})
    sdk.abort_multipart_upload(raw_client, bucket, "left", left)
    assert list(sdk.list_incomplete_uploads(raw_client, bucket)) == []


def test_raw_lifecycle_round_trip(raw_client: Minio, bucket: str) -> None:
    assert sdk.get_bucket_lifecycle(raw_client, bucket) is None
    xml = (
        b"<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix>tmp/</Prefix></Filter>"
        b"<Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule></LifecycleConfiguration>"
    )
    sdk.put_bucket_lifecycle(raw_client, bucket, xml)
    assert b"<ID>r</ID>" in (sdk.get_bucket_lifecycle(raw_client, bucket) or b"")
