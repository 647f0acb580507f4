"""Non-ASCII upload headers are encoded (RFC 5987, RFC 2047) or refused naming the header."""

from __future__ import annotations

import io
from collections.abc import Callable
from email.header import decode_header, make_header
from urllib.parse import unquote

import pytest
from django.core.files.base import ContentFile
from minio import Minio

from django_minio_backend import MinioBackend
from django_minio_backend.header_encoding import HeaderValueError, content_disposition, encode_headers


def test_non_ascii_file_name_gets_ascii_fallback_and_rfc5987_form() -> None:
    assert content_disposition('attachment; filename="résumé.pdf"') == (
        "attachment; filename=\"resume.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
    )
    assert content_disposition("inline; filename=報告 1.pdf") == (
        "inline; filename=\"__ 1.pdf\"; filename*=UTF-8''%E5%A0%B1%E5%91%8A%201.pdf"
    )
    assert content_disposition('attachment; filename="a.txt"') == 'attachment; filename="a.txt"'


def test_caller_given_filename_star_is_kept() -> None:
    value = "attachment; filename=\"é.txt\"; filename*=UTF-8''%C3%A9.txt"
    assert content_disposition(value) == "attachment; filename=\"e.txt\"; filename*=UTF-8''%C3%A9.txt"


def test_metadata_values_become_rfc2047_encoded_words() -> None:
    encoded = encode_headers({"x-amz-meta-owner": "José", "X-Amz-Meta-City": "東京"})
    assert all(v.isascii() and v.startswith("=?UTF-8?B?") for v in encoded.values())
    assert str(make_header(decode_header(encoded["x-amz-meta-owner"]))) == "José"
    assert encode_headers({"x-amz-meta-n": "42"}) == {"x-amz-meta-n": "42"}


def test_tabs_are_encoded_in_metadata_and_sent_as_spaces_elsewhere() -> None:
    encoded = encode_headers({"x-amz-meta-note": "a\tb", "Cache-Control": "max-age=1,\tpublic"})
    assert str(make_header(decode_header(encoded["x-amz-meta-note"]))) == "a\tb"
    assert encoded["Cache-Control"] == "max-age=1, public"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Length": "5"},
        {"Host": "elsewhere.example"},
        {"Transfer-Encoding": "chunked"},
        {"x-amz-meta-a": "1", "X-Amz-Meta-A": "2"},
    ],
)
def test_transport_headers_and_names_given_twice_are_refused_naming_them(headers: dict[str, str]) -> None:
    with pytest.raises(HeaderValueError, match=repr(list(headers)[-1])):
        encode_headers(headers)


def test_metadata_with_a_tab_reaches_the_server_intact(
    bucket: str, make_storage: Callable[..., MinioBackend], raw_client: Minio
) -> None:
    # SeaweedFS refused the signature of a raw tab ("refused the credentials").
    storage = make_storage(bucket, metadata={"note": "a\tb"}, cache_control="max-age=1,\tpublic")
    name = storage.save("t.txt", ContentFile(b"t"))
    meta = raw_client.stat_object(bucket, name).metadata
    assert str(make_header(decode_header(meta["X-Amz-Meta-Note"]))) == "a\tb"
    assert meta["Cache-Control"] == "max-age=1, public"


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Cache-Control": "max-âge=1"}, "Cache-Control"),
        ({"x-amz-meta-josé": "1"}, "x-amz-meta-josé"),
        ({"x-amz-meta-a": "1\r\nX-Evil: 1"}, "x-amz-meta-a"),
        ({"Content-Disposition": "pièce-jointe"}, "Content-Disposition"),
        ({"Content-Disposition": "attachment; titre=été"}, "Content-Disposition"),
        ({"Content-Type": 5}, "Content-Type"),
    ],
)
def test_unencodable_header_is_refused_naming_it(headers: dict, named: str) -> None:
    with pytest.raises(HeaderValueError, match=named):
        encode_headers(headers)


def test_non_ascii_metadata_and_file_name_reach_the_server_intact(
    bucket: str, make_storage: Callable[..., MinioBackend], raw_client: Minio
) -> None:
    storage = make_storage(
        bucket,
        metadata={"owner": "José", "city": "東京"},
        content_disposition='attachment; filename="résumé 報告.pdf"',
    )
    name = storage.save("r.pdf", ContentFile(b"%PDF"))
    meta = raw_client.stat_object(bucket, name).metadata
    assert str(make_header(decode_header(meta["X-Amz-Meta-Owner"]))) == "José"
    assert str(make_header(decode_header(meta["X-Amz-Meta-City"]))) == "東京"
    star = meta["Content-Disposition"].split("filename*=UTF-8''")[1]
    assert unquote(star) == "résumé 報告.pdf"


def test_unsendable_header_fails_naming_it_not_the_credentials(
    bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    storage = make_storage(bucket, cache_control="max-âge=60")
    with pytest.raises(HeaderValueError, match="Cache-Control"):
        storage.save("a.txt", ContentFile(b"x"))


@pytest.mark.parametrize(
    "name",
    [
        "x-amz-copy-source",
        "X-Amz-Copy-Source-Range",
        "x-amz-copy-source-if-match",
        "x-amz-metadata-directive",
    ],
)
def test_copy_headers_are_refused_naming_them(name: str) -> None:
    with pytest.raises(HeaderValueError, match=name):
        encode_headers({name: "/other-bucket/secret.txt"})


@pytest.mark.parametrize("option", ["extra_headers", "headers", "metadata"])
def test_storage_option_asking_for_a_copy_is_refused_and_copies_nothing(
    bucket: str, make_storage: Callable[..., MinioBackend], raw_client: Minio, option: str
) -> None:
    raw_client.put_object(bucket, "secret.txt", io.BytesIO(b"secret"), 6)
    storage = make_storage(bucket, **{option: {"x-amz-copy-source": f"/{bucket}/secret.txt"}})
    with pytest.raises(HeaderValueError, match=r"(?i)x-amz-copy-source"):
        storage.save("mine.txt", ContentFile(b"x"))
    assert [o.object_name for o in raw_client.list_objects(bucket)] == ["secret.txt"]
