"""Streaming, read-only files over S3 objects.

Reads stream the response body; ``seek`` drops the response and the next read
issues a ranged GET from the new position. Nothing buffers the whole object.
Bytes are returned as stored: a ``Content-Encoding: gzip`` object is not
decompressed, so ``size`` and ``len(read())`` agree. Every ranged GET must
answer 206 with the range asked for; the opener pins it to the first
response's object (see ``MinioBackend._open``).
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import urllib3
from django.core.files.base import File

from .exceptions import StorageError

# Bytes or str by mode, as Storage.open() is typed; File is generic only in django-stubs, not at runtime.
if TYPE_CHECKING:
    _File = File[Any]
else:
    _File = File

BUFFER_SIZE = 1024 * 1024
# Largest single read from a response: what a broken connection can cost before the resume.
READ_SIZE = BUFFER_SIZE
Opener = Callable[[int], Any]  # offset -> urllib3 response streaming from there
Errors = Callable[[], AbstractContextManager[None]]  # translates transport errors
Reopener = Callable[[str], "MinioFile"]  # mode -> a fresh file of the same object
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


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
        except StorageError:
            raise  # an answer, not a broken stream: asking again gives the same
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
            response = self._open_at(self._pos)
            if self._pos:
                self._check_range(response)
            self._response = response
        view = memoryview(buffer).cast("B")
        # urllib3 would gunzip a Content-Encoding: gzip body: the stored bytes are wanted.
        data = self._response.read(min(len(view), READ_SIZE), decode_content=False)
        view[: len(data)] = data
        return len(data)

    def _check_range(self, response: Any) -> None:
        """A ranged GET must answer 206 with exactly the range asked for (else: wrong bytes)."""
        status = getattr(response, "status", 206)
        content_range = response.headers.get("Content-Range", "")
        match = CONTENT_RANGE.fullmatch(content_range)
        expected = (self._pos, self._size - 1, self._size)
        found = match and (int(match[1]), int(match[2]), int(match[3]) if match[3] != "*" else self._size)
        if status != 206 or found != expected:
            response.close()
            response.release_conn()
            raise StorageError(
                f"a ranged GET from byte {self._pos} answered {status} with Content-Range "
                f"{content_range!r}; expected 206 with 'bytes {self._pos}-{self._size - 1}/{self._size}'"
            )

    def _drop(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.close()
            response.release_conn()

    def close(self) -> None:
        if not self.closed:
            self._drop()
        super().close()


class MinioFile(_File):
    """The read-only file ``MinioBackend.open()`` returns."""

    def __init__(
        self, reader: ObjectReader, name: str, mode: str, size: int, reopen: Reopener | None = None
    ) -> None:
        stream: Any = io.BufferedReader(reader, buffer_size=BUFFER_SIZE)
        if "b" not in mode:
            stream = io.TextIOWrapper(stream, encoding="utf-8")
        super().__init__(stream, name)
        self.mode = mode
        self._size = size
        self._reopen = reopen

    @property
    def size(self) -> int:
        return self._size

    # Like ContentFile.open: an object has no buffering, encoding or opener to choose.
    def open(self, mode: str | None = None) -> MinioFile:  # type: ignore[override]
        """Rewind, or once closed (or for another mode) read the object afresh, as Django's File does."""
        if not self.closed and (mode is None or mode == self.mode):
            self.seek(0)
            return self
        if self._reopen is None:
            raise ValueError("the file is closed and cannot be reopened")
        if not self.closed:
            self.close()
        fresh = self._reopen(mode or self.mode)
        self.file, self.mode, self._size = fresh.file, fresh.mode, fresh._size
        return self

    def write(self, *args: Any) -> Any:
        raise io.UnsupportedOperation("files opened from MinioBackend are read-only")
