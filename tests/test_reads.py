"""Reads return the bytes stored, exactly, or fail saying why (issue 13 items 5, 6, 10)."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.db.models.fields.files import FieldFile
from minio import Minio

from django_minio_backend import MinioBackend
from django_minio_backend.exceptions import ObjectChangedError, StorageError
from django_minio_backend.files import ObjectReader


def test_gzip_encoded_object_reads_back_its_stored_bytes(
    bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    storage = make_storage(bucket, content_encoding="gzip")
    stored = gzip.compress(b"compressible text " * 5000)
    name = storage.save("page.txt", ContentFile(stored))
    with storage.open(name) as f:
        read = f.read()
        f.seek(10)
        tail = f.read()
    assert read == stored
    assert tail == stored[10:]
    assert storage.size(name) == len(read)


def test_object_replaced_while_open_fails_instead_of_mixing_versions(
    bucket: str, make_storage: Callable[..., MinioBackend], raw_client: Minio
) -> None:
    storage = make_storage(bucket, replace_existing=True)
    size = 3 * 1024 * 1024  # over the file's read buffer: the seek needs a new GET
    old, new = b"A" * size, b"B" * size
    name = storage.save("doc.bin", ContentFile(old))
    with storage.open(name) as f:
        assert f.read(10) == old[:10]
        raw_client.put_object(bucket, name, io.BytesIO(new), len(new))
        f.seek(size - 100)
        with pytest.raises(ObjectChangedError, match="changed while it was open"):
            f.read(10)


def test_unchanged_object_is_read_by_ranged_gets_after_seeks(storage: MinioBackend) -> None:
    data = bytes(range(256)) * 64
    name = storage.save("same.bin", ContentFile(data))
    with storage.open(name) as f:
        f.seek(1000)
        assert f.read(24) == data[1000:1024]
        f.seek(-3, io.SEEK_END)
        assert f.read() == data[-3:]


class _Response:
    """A urllib3-like response for reader unit tests."""

    def __init__(self, data: bytes, status: int, headers: dict[str, str]) -> None:
        self._stream = io.BytesIO(data)
        self.status = status
        self.headers = headers

    def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        return self._stream.read(amt)

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


def test_ranged_get_answered_with_whole_object_is_an_error() -> None:
    data = b"0123456789"

    def opener(offset: int) -> Any:
        return _Response(data, 200, {"Content-Length": str(len(data))})  # the Range header ignored

    reader = ObjectReader(opener, len(data))
    reader.seek(4)
    with pytest.raises(StorageError, match="206"):
        reader.read(3)


def test_ranged_get_with_wrong_content_range_is_an_error() -> None:
    data = b"0123456789"

    def opener(offset: int) -> Any:
        return _Response(data[2:], 206, {"Content-Range": f"bytes 2-9/{len(data)}"})

    reader = ObjectReader(opener, len(data))
    reader.seek(4)
    with pytest.raises(StorageError, match="Content-Range"):
        reader.read(3)


def test_ranged_get_with_matching_content_range_is_read() -> None:
    data = b"0123456789"

    def opener(offset: int) -> Any:
        return _Response(data[offset:], 206, {"Content-Range": f"bytes {offset}-9/{len(data)}"})

    reader = ObjectReader(opener, len(data))
    reader.seek(4)
    assert reader.read(3) == b"456"


def test_response_without_content_length_is_not_read_as_empty(
    storage: MinioBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = storage.save("chunked.txt", ContentFile(b"streamed without a length"))
    real_get = storage.client.get_object

    def get_without_length(*args: Any, **kwargs: Any) -> Any:
        response = real_get(*args, **kwargs)
        del response.headers["Content-Length"]  # as a chunked answer from a proxy would be
        return response

    monkeypatch.setattr(storage.client, "get_object", get_without_length)
    with storage.open(name) as f:
        assert f.read() == b"streamed without a length"
        assert f.size == len(b"streamed without a length")


def test_field_file_opens_again_after_close(storage: MinioBackend) -> None:
    name = storage.save("field.txt", ContentFile(b"field content"))
    field = FieldFile(None, type("F", (), {"storage": storage, "name": "file"})(), name)
    field.open("rb")
    assert field.read() == b"field content"
    field.close()
    field.open("rb")
    assert field.read() == b"field content"
    field.close()
    with field.open("rb") as again:
        assert again.read(5) == b"field"


def test_closed_file_opens_again_in_another_mode(storage: MinioBackend) -> None:
    name = storage.save("modes.txt", ContentFile("grüße".encode()))
    f = storage.open(name, "rb")
    f.close()
    f.open("r")
    assert f.read() == "grüße"
    f.close()
