"""Streaming, read-only files over S3 objects.

Reads stream the response body; ``seek`` drops the response and the next read
issues a ranged GET from the new position. Nothing buffers the whole object.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import urllib3
from django.core.files.base import File

BUFFER_SIZE = 1024 * 1024
# Largest single read from a response: what a broken connection can cost before the resume.
READ_SIZE = BUFFER_SIZE
Opener = Callable[[int], Any]  # offset -> urllib3 response streaming from there
Errors = Callable[[], AbstractContextManager[None]]  # translates transport errors


class ObjectReader(io.RawIOBase):
    """Raw, seekable reader of one object, a GET per contiguous run of reads."""

    def __init__(self, opener: Opener, size: int, response: Any = None, errors: Errors | None = None) -> None:
        super().__init__()
        self._open_at = opener
        self._size = size
        self._pos = 0
        self._response = response
        self._errors = errors or contextlib.nullcontext

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        position = base + offset
        if position < 0:
            raise ValueError("negative seek position")
        if position != self._pos:
            self._drop()
            self._pos = position
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if self._pos >= self._size or len(buffer) == 0:
            return 0
        try:
            n = self._read_some(buffer)
        except (urllib3.exceptions.HTTPError, OSError):
            # A broken stream resumes once per read, with a ranged GET from where it broke;
            # reads are bounded so each connection makes progress before it may break.
            self._drop()
            with self._errors():
                n = self._read_some(buffer)
        if n == 0:
            raise OSError(f"object ended at byte {self._pos}, expected {self._size} bytes")
        self._pos += n
        return n

    def _read_some(self, buffer: Any) -> int:
        if self._response is None:
            self._response = self._open_at(self._pos)
        view = memoryview(buffer).cast("B")
        return int(self._response.readinto(view[:READ_SIZE]))

    def _drop(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.close()
            response.release_conn()

    def close(self) -> None:
        if not self.closed:
            self._drop()
        super().close()


class MinioFile(File):
    """The read-only file ``MinioBackend.open()`` returns."""

    def __init__(self, reader: ObjectReader, name: str, mode: str, size: int) -> None:
        stream: Any = io.BufferedReader(reader, buffer_size=BUFFER_SIZE)
        if "b" not in mode:
            stream = io.TextIOWrapper(stream, encoding="utf-8")
        super().__init__(stream, name)
        self.mode = mode
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def open(self, mode: str | None = None) -> MinioFile:
        self.seek(0)
        return self

    def write(self, *args: Any) -> Any:
        raise io.UnsupportedOperation("files opened from MinioBackend are read-only")
