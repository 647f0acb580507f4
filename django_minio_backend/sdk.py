"""The only module that calls the minio SDK's private API.

The public ``put_object`` turns unknown headers (``If-None-Match``) into user
metadata and reads sizes up front; multipart uploads have no public API at all.
Everything we need from ``Minio``'s underscore methods goes through here, and
``tests/test_sdk.py`` pins their behaviour, so an SDK release that changes them
fails a test instead of a user's save.
"""

from __future__ import annotations

import base64
import hashlib
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote
from xml.etree.ElementTree import Element, ParseError, SubElement, fromstring, tostring

import urllib3
from minio import Minio
from minio.credentials.providers import Provider
from minio.error import InvalidResponseError, S3Error, ServerError

from .client import _quote_path, sign_request


def put_object(
    client: Minio, bucket: str, key: str, data: memoryview | bytes, headers: Mapping[str, str]
) -> str:
    """One PUT of ``data`` with exactly ``headers``; returns the ETag.

    The request is the SDK's ``_put_object`` request (same headers, signature,
    ``urlopen`` call, retries and exceptions), built and signed here where the
    client allows it (see :class:`_PutRoute`): the SDK derives a signing key and
    rebuilds the URL on every call, a third of a small save's client CPU.
    """
    route = _put_route(client, bucket)
    if route is not None and client._trace_stream is None:
        etag = route.put(key, data, headers)
        if etag is not None:
            return etag
    # The SDK types data as bytes; it only takes len(), hashes it and hands it to urllib3, which all
    # accept a memoryview (saves a copy of each part).
    result = client._put_object(bucket, key, data, dict(headers))  # type: ignore[arg-type]
    return str(result.etag or "")


# Set by the SDK on every request, and left out of the signature: a caller's own value is dropped.
_SDK_OWNED = ("authorization", "user-agent")


@dataclass(frozen=True)
class _PutRoute:
    """How the SDK sends a PUT of an object of one bucket, kept to send it without the SDK.

    Only for clients whose requests ``Minio._url_open`` builds the same way every
    time: a plain ``urllib3.PoolManager`` (a subclass or a proxy manager goes
    through the SDK), a credentials provider, a configured region and path-style
    URLs; while a trace stream is on, the SDK sends (and traces) every request.
    """

    http: urllib3.PoolManager = field(repr=False)
    base: str
    netloc: str
    https: bool
    prefix: str
    region: str
    provider: Provider = field(repr=False)
    user_agent: str

    def put(self, key: str, data: memoryview | bytes, headers: Mapping[str, str]) -> str | None:
        """PUT ``data`` at ``key``: the ETag, or None when the SDK must send this one."""
        sent = {name.lower(): value for name, value in headers.items()}
        if len(sent) != len(headers) or not all(isinstance(value, str) for value in sent.values()):
            return None  # repeated or multi-valued headers: the SDK's rules for them apply
        credentials = self.provider.retrieve()
        if credentials is None:
            return None
        for name in _SDK_OWNED:
            sent.pop(name, None)
        path = self.prefix + _quote_path(key)
        sent["host"] = self.netloc
        if data:
            sent["content-length"] = str(len(data))
        if self.https:
            payload = "UNSIGNED-PAYLOAD"
            if "content-md5" not in sent:
                sent["content-md5"] = base64.b64encode(hashlib.md5(data).digest()).decode()
        else:
            payload = hashlib.sha256(data).hexdigest()
        sent["x-amz-content-sha256"] = payload
        if credentials.session_token:
            sent["x-amz-security-token"] = credentials.session_token
        sign_request("PUT", path, sent, payload, region=self.region, credentials=credentials)
        sent["user-agent"] = self.user_agent
        # The manager picks the pool now (a pool replaced after a fork is never reused), with its
        # retries. A redirect is an error, not a PUT of the body and the token to another host.
        response = self.http.urlopen("PUT", self.base + path, body=data, headers=sent, redirect=False)
        if response.status in (200, 204, 206):
            return str(response.headers.get("etag", "").replace('"', ""))
        raise _response_error(response)


def _response_error(response: Any) -> Exception:
    """The exception ``Minio._url_open`` raises for an unsuccessful answer to a PUT."""
    content_type = response.headers.get("content-type")
    body = response.data.decode(errors="replace") if response.data else None
    if "application/xml" not in (content_type or "").split(";"):
        if response.status == 304 and not response.data:
            return ServerError(f"server failed with HTTP status code {response.status}", response.status)
        return InvalidResponseError(response.status, content_type, body)
    if not response.data:
        return InvalidResponseError(response.status, content_type, None)
    try:
        return S3Error.fromxml(response)
    except ParseError:  # where the SDK lets the parser's error out
        return InvalidResponseError(response.status, content_type, body)


_ROUTES: weakref.WeakKeyDictionary[Minio, dict[str, _PutRoute | None]] = weakref.WeakKeyDictionary()


def _put_route(client: Minio, bucket: str) -> _PutRoute | None:
    routes = _ROUTES.get(client)
    if routes is None:
        routes = _ROUTES.setdefault(client, {})
    try:
        return routes[bucket]
    except KeyError:
        route = routes[bucket] = _new_put_route(client, bucket)
        return route


def _new_put_route(client: Minio, bucket: str) -> _PutRoute | None:
    http, provider, region = client._http, client._provider, client._base_url.region
    if type(http) is not urllib3.PoolManager or not provider or not region:
        return None
    url = client._base_url.build(method="PUT", region=region, bucket_name=bucket, object_name="k")
    if url.path != f"/{bucket}/k" or url.query:
        return None  # virtual-host style (AWS): the SDK builds those URLs
    return _PutRoute(
        http=http,
        base=f"{url.scheme}://{url.netloc}",
        netloc=url.netloc,
        https=url.scheme == "https",
        prefix=f"/{bucket}/",
        region=region,
        provider=provider,
        user_agent=client._user_agent,
    )


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
    # data: a memoryview, as in put_object.
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
            if upload.upload_id is None:  # the SDK types it optional; without one nothing can abort it
                continue
            yield IncompleteUpload(upload.object_name, upload.upload_id, upload.initiated_time)
        if not result.is_truncated:
            return
        key_marker, upload_id_marker = result.next_key_marker, result.next_upload_id_marker


@dataclass(frozen=True)
class UploadedPart:
    """One part of an incomplete multipart upload, as the server lists it."""

    number: int
    etag: str
    size: int
    # When the part was stored (seconds at best): SeaweedFS keeps every upload of a part number.
    last_modified: datetime | None = None


def list_parts(client: Minio, bucket: str, key: str, upload_id: str) -> list[UploadedPart]:
    """Every part the server holds for ``upload_id``, in part-number order, page by page."""
    parts: list[UploadedPart] = []
    marker: str | None = None
    while True:
        result = client._list_parts(bucket, key, upload_id, max_parts=1000, part_number_marker=marker)
        for p in result.parts:
            if p.size is None:  # S3 always lists a part's Size; the SDK types it optional
                raise ValueError(f"the server listed part {p.part_number} of {key!r} without its size")
            parts.append(
                UploadedPart(int(p.part_number), str(p.etag).strip('"'), int(p.size), p.last_modified)
            )
        if not result.is_truncated:
            return parts
        marker = str(result.next_part_number_marker)


def copy_object(client: Minio, bucket: str, key: str, source_key: str, headers: Mapping[str, str]) -> str:
    """Server-side copy of ``source_key`` to ``key`` in one bucket, sending ``headers`` as given.

    The public ``copy_object`` drops conditional headers (``If-None-Match``,
    ``If-Match`` on the destination). Returns the new object's ETag. S3 may answer
    200 with an ``<Error>`` body to a copy; that is raised as an S3Error.
    """
    response = client._execute(
        "PUT",
        bucket,
        key,
        headers={"x-amz-copy-source": quote(f"/{bucket}/{source_key}"), **headers},
    )
    root = fromstring(response.data)
    tag = root.tag.rsplit("}", 1)[-1]
    if tag == "Error":
        code = root.findtext("Code") or "InternalError"
        # By keyword: minio 7.2.19 moved ``response`` from the sixth argument to the first.
        raise S3Error(
            code=code,
            message=root.findtext("Message") or "",
            resource=key,
            request_id="",
            host_id="",
            response=response,
        )
    etag = next((el.text for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "ETag"), "")
    return str(etag or "").strip('"')


def get_bucket_lifecycle(client: Minio, bucket: str) -> bytes | None:
    """The bucket's lifecycle configuration as the server wrote it (XML), or None."""
    try:
        return bytes(client._execute("GET", bucket, query_params={"lifecycle": ""}).data)
    except S3Error as exc:
        if exc.code == "NoSuchLifecycleConfiguration":
            return None
        raise


def put_bucket_lifecycle(client: Minio, bucket: str, xml: bytes) -> None:
    """Replace the bucket's lifecycle configuration with ``xml`` as given."""
    _put_config(client, bucket, "lifecycle", xml)


def get_bucket_cors(client: Minio, bucket: str) -> bytes | None:
    """The bucket's CORS configuration (XML), or None when it has none."""
    try:
        return bytes(client._execute("GET", bucket, query_params={"cors": ""}).data)
    except S3Error as exc:
        if exc.code == "NoSuchCORSConfiguration":
            return None
        raise


def put_bucket_cors(client: Minio, bucket: str, xml: bytes) -> None:
    """Replace the bucket's CORS configuration (minio-py has no CORS API)."""
    _put_config(client, bucket, "cors", xml)


def _put_config(client: Minio, bucket: str, subresource: str, xml: bytes) -> None:
    digest = base64.b64encode(hashlib.md5(xml).digest()).decode()  # S3 requires it for these
    client._execute(
        "PUT",
        bucket,
        body=xml,
        headers={"Content-MD5": digest, "Content-Type": "application/xml"},
        query_params={subresource: ""},
    )


def delete_bucket_cors(client: Minio, bucket: str) -> None:
    client._execute("DELETE", bucket, query_params={"cors": ""})
