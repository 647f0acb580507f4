"""Reads return the bytes stored, exactly, or fail saying why (issue 13 items 5, 6, 10)."""

from __future__ import annotations

import gzip
import io
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.db.models.fields.files import FieldFile
from django.http import FileResponse
from hypothesis import given, settings
from hypothesis import strategies as st
from minio import Minio

from django_minio_backend import MinioBackend
from django_minio_backend.exceptions import ObjectChangedError, StorageError
from django_minio_backend.files import BUFFER_SIZE, READ_SIZE, MinioFile, ObjectReader


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


class _CountingResponse(_Response):
    """Serves ``data`` from ``offset`` (206 when ranged) and records every read's size."""

    def __init__(self, data: bytes, offset: int, reads: list[int]) -> None:
        headers = {"Content-Range": f"bytes {offset}-{len(data) - 1}/{len(data)}"} if offset else {}
        super().__init__(data[offset:], 206 if offset else 200, headers)
        self._reads = reads

    def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        self._reads.append(-1 if amt is None else amt)
        return super().read(amt, decode_content)


def _file_over(data: bytes, reads: list[int], opens: list[int] | None = None, mode: str = "rb") -> MinioFile:
    def opener(offset: int) -> Any:
        if opens is not None:
            opens.append(offset)
        return _CountingResponse(data, offset, reads)

    return MinioFile(ObjectReader(opener, len(data)), "blob.bin", mode, len(data))


def test_large_read_hands_on_urllib3_bytes_without_copying() -> None:
    data = bytes(range(256)) * 8192  # 2 MiB
    handed: list[bytes] = []

    class Response(_Response):
        def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
            handed.append(super().read(amt, decode_content))
            return handed[-1]

    reader = ObjectReader(lambda offset: Response(data[offset:], 200, {}), len(data))
    with MinioFile(reader, "blob.bin", "rb", len(data)) as f:
        chunk = f.read(READ_SIZE)
    assert chunk == data[:READ_SIZE]
    assert chunk is handed[0]  # the very object urllib3 returned: no buffer to copy through


def test_small_read_asks_for_no_more_than_the_read_ahead() -> None:
    data = b"x" * (3 * READ_SIZE)
    reads: list[int] = []
    with _file_over(data, reads) as f:
        assert f.read(10) == b"x" * 10
    assert reads == [64 * 1024]  # one read-ahead, not a buffer of READ_SIZE allocated and filled per open


def test_chunks_make_few_large_reads_from_urllib3() -> None:
    data = b"x" * (8 * READ_SIZE)
    reads: list[int] = []
    with _file_over(data, reads) as f:
        assert sum(len(chunk) for chunk in f.chunks()) == len(data)  # 64 KiB at a time
    # The read-ahead grows from 64 KiB to READ_SIZE: a dozen calls, not one per chunk (128).
    assert len(reads) <= 12 and max(reads) == READ_SIZE


def test_seek_within_the_read_ahead_makes_no_new_request() -> None:
    data = bytes(range(256)) * 1024
    reads: list[int] = []
    opens: list[int] = []
    with _file_over(data, reads, opens) as f:
        assert f.read(100) == data[:100]
        f.seek(10)
        assert f.read(20) == data[10:30]
        f.seek(BUFFER_SIZE - 5)
        assert f.read(5) == data[BUFFER_SIZE - 5 : BUFFER_SIZE]
        assert opens == [0]
        f.seek(BUFFER_SIZE + 1000)
        assert f.read(3) == data[BUFFER_SIZE + 1000 : BUFFER_SIZE + 1003]
    assert opens == [0, BUFFER_SIZE + 1000]


def test_chunks_lines_and_text_mode_read_the_stored_bytes() -> None:
    data = b"".join(b"line %d\n" % i for i in range(40000))
    with _file_over(data, []) as f:
        assert b"".join(f.chunks()) == data
        f.seek(0)
        assert f.readline() == b"line 0\n"
        assert list(f)[:2] == [b"line 0\n", b"line 1\n"]  # File iterates over chunks(), from 0
    with _file_over(data, [], mode="r") as text:
        assert text.readline() == "line 0\n"
        assert text.read() == data.decode()[len("line 0\n") :]


READ_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["read", "read1", "readinto", "peek", "readline", "seek"]),
        st.one_of(st.just(-1), st.integers(0, 3 * READ_SIZE)),
        st.sampled_from([io.SEEK_SET, io.SEEK_CUR, io.SEEK_END]),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 3 * READ_SIZE), steps=READ_STEPS)
def test_any_mix_of_reads_and_seeks_matches_an_in_memory_file(size: int, steps: list[Any]) -> None:
    data = random.Random(size).randbytes(size)
    model = io.BytesIO(data)
    with _file_over(data, []) as f:
        stream = f.file
        for op, amount, whence in steps:
            if op == "seek":
                target = min(max(amount, 0), size + 10)
                base = {io.SEEK_SET: 0, io.SEEK_CUR: model.tell(), io.SEEK_END: size}[whence]
                assert stream.seek(target - base, whence) == model.seek(target - base, whence)
            elif op == "readinto":
                buffer = bytearray(max(amount, 0))
                n = stream.readinto(buffer)
                assert bytes(buffer[:n]) == model.read(n) and (n == len(buffer) or model.tell() >= size)
            elif op == "read1":
                got = stream.read1(amount)
                assert got == model.read(len(got)) and (got or amount == 0 or model.tell() >= size)
            elif op == "peek":
                got = stream.peek(amount)
                assert got == data[model.tell() : model.tell() + len(got)]
            else:
                assert getattr(stream, op)(amount) == getattr(model, op)(amount)
            assert stream.tell() == model.tell()


def test_a_server_ignoring_if_match_still_cannot_mix_two_versions(
    bucket: str, make_storage: Callable[..., MinioBackend], raw_client: Minio, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = make_storage(bucket, replace_existing=True)
    size = 3 * 1024 * 1024
    name = storage.save("doc.bin", ContentFile(b"A" * size))
    real_get = storage.client.get_object

    def get_ignoring_if_match(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("request_headers", None)  # a gateway that drops conditional headers
        return real_get(*args, **kwargs)

    monkeypatch.setattr(storage.client, "get_object", get_ignoring_if_match)
    with storage.open(name) as f:
        assert f.read(10) == b"A" * 10
        raw_client.put_object(bucket, name, io.BytesIO(b"B" * size), size)
        f.seek(size - 100)
        with pytest.raises(ObjectChangedError, match="changed while it was open"):
            f.read(10)


def test_an_answer_without_etag_is_read_in_one_go_and_refuses_a_second_request(
    storage: MinioBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bytes(range(256)) * 1024
    name = storage.save("no-etag.bin", ContentFile(data))
    real_get = storage.client.get_object

    def get_without_etag(*args: Any, **kwargs: Any) -> Any:
        response = real_get(*args, **kwargs)
        response.headers.discard("ETag")  # a proxy that drops it
        return response

    monkeypatch.setattr(storage.client, "get_object", get_without_etag)
    with storage.open(name) as f:
        assert f.read() == data
    with storage.open(name) as f:  # FileResponse's way to the size: to the end and back, no read between
        assert f.seek(0, io.SEEK_END) == len(data)
        f.seek(0)
        assert f.read() == data
    response = FileResponse(storage.open(name))
    assert b"".join(response.streaming_content) == data  # type: ignore[arg-type]
    with storage.open(name) as f:
        f.read(10)
        f.seek(200_000)  # past the read-ahead: a second GET, which nothing could pin
        with pytest.raises(StorageError, match="no ETag"):
            f.read(10)


def _read_from_threads(f: Any, chunk: int, threads: int = 4) -> tuple[list[bytes], list[BaseException]]:
    pieces: list[bytes] = []
    errors: list[BaseException] = []

    def read_all() -> None:
        try:
            while piece := f.read(chunk):
                pieces.append(piece)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=read_all) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    if any(worker.is_alive() for worker in workers):
        errors.append(TimeoutError("a reader thread hung"))
    return pieces, errors


def test_threads_sharing_one_file_get_every_byte_once(storage: MinioBackend) -> None:
    size = 2 * 1024 * 1024
    data = b"".join(offset.to_bytes(8, "big") for offset in range(0, size, 8))  # each cell holds its offset
    name = storage.save("shared.bin", ContentFile(data))
    for chunk in (8, 4096, 65536):
        with storage.open(name) as f:
            pieces, errors = _read_from_threads(f, chunk)
        assert not errors
        cells = sorted(int.from_bytes(p[i : i + 8], "big") for p in pieces for i in range(0, len(p), 8))
        assert cells == list(range(0, size, 8)), f"chunk {chunk}: bytes lost or repeated"


def test_a_body_longer_than_the_object_is_an_error() -> None:
    class Chunked(_Response):
        length_remaining = None  # no Content-Length: the size came from a HEAD

    data = b"0123456789"
    reader = ObjectReader(lambda offset: Chunked(data + b"decompressed by a proxy", 200, {}), len(data))
    with pytest.raises(StorageError, match="past the object's 10 bytes"):
        reader.read(100)


def test_seek_with_an_unknown_whence_is_a_value_error() -> None:
    data = b"0123456789"
    with MinioFile(ObjectReader(lambda offset: _Response(data, 200, {}), len(data)), "b", "rb", 10) as f:
        with pytest.raises(ValueError, match="whence"):
            f.seek(0, 3)
