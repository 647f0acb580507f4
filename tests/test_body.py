"""How a save reads its content: bounded buffers, exact bytes (unit tests, no server)."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile, File

from django_minio_backend.upload import Body


class OneWay(io.RawIOBase):
    """Not seekable, returns at most 7 bytes per read."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._data.read(min(n, 7) if n > 0 else 7)


@pytest.mark.parametrize("length", [0, 1, 9, 10, 11, 25, 40, 41])
@pytest.mark.parametrize("part", [5, 10, 16])
def test_parts_reassemble_the_content_exactly(length: int, part: int) -> None:
    data = bytes(range(256)) * 1
    data = (data * (length // 256 + 1))[:length]
    body = Body(File(OneWay(data)), threshold=10)
    assert body.multipart == (length > 10)
    if not body.multipart:
        assert bytes(body.single()) == data
        return
    sizes, out = [], bytearray()
    for view in body.parts(part):
        sizes.append(len(view))
        out += view
    assert bytes(out) == data
    assert all(size == part for size in sizes[:-1]) and 0 < sizes[-1] <= part


def test_head_buffer_is_released_once_sent() -> None:
    body = Body(ContentFile(b"x" * 100), threshold=20)
    parts = body.parts(30)
    next(parts)
    next(parts)
    next(parts)  # 90 bytes in: the 21-byte head was carried into the part buffer
    assert len(body._head) == 0


def test_text_content_is_utf8_and_never_overflows_a_part() -> None:
    text = "é" * 25  # 50 bytes once encoded, read as 2-byte characters
    body = Body(ContentFile(text), threshold=9)
    assert b"".join(bytes(v) for v in body.parts(7)) == text.encode()


def test_restart_rereads_a_seekable_content_and_refuses_a_stream() -> None:
    body = Body(ContentFile(b"a" * 50), threshold=10)
    assert b"".join(bytes(v) for v in body.parts(16)) == b"a" * 50
    assert body.restart() and b"".join(bytes(v) for v in body.parts(16)) == b"a" * 50
    one_way = Body(File(OneWay(b"b" * 50)), threshold=10)
    assert not one_way.restart()
