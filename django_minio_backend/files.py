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
import threading
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

# The first read-ahead after an open or a seek: a small read of a large object costs no more.
# Each further read-ahead doubles, up to READ_SIZE, so sequential small reads (chunks() asks
# 64 KiB at a time) make one urllib3 call per READ_SIZE, as io.BufferedReader did.
BUFFER_SIZE = 64 * 1024
# Largest single read from a response; reads of at least this many bytes go straight from urllib3
# to the caller (its bytes, uncopied). urllib3 keeps nothing of a read that breaks midway, so once
# a stream has broken, reads shrink to BUFFER_SIZE: each new connection then makes progress before
# it may break again.
READ_SIZE = 1024 * 1024
Opener = Callable[[int], Any]  # offset -> urllib3 response streaming from there
Errors = Callable[[], AbstractContextManager[None]]  # translates transport errors
Reopener = Callable[[str], "MinioFile"]  # mode -> a fresh file of the same object
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _position(offset: int, whence: int, current: int, size: int) -> int:
    if whence == io.SEEK_SET:
        position = offset
    elif whence == io.SEEK_CUR:
        position = current + offset
    elif whence == io.SEEK_END:
        position = size + offset
    else:
        raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
    if position < 0:
        raise ValueError("negative seek position")
    return position


class ObjectReader(io.RawIOBase):
    """Raw, seekable reader of one object, a GET per contiguous run of reads."""

    def __init__(self, opener: Opener, size: int, response: Any = None, errors: Errors | None = None) -> None:
        super().__init__()
        self._open_at = opener
        self._size = size
        self._pos = 0
        self._response = response
        self._at = 0  # where the response's next byte is in the object
        self._errors = errors or contextlib.nullcontext
        self._read_size = READ_SIZE

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        # The response is kept: a read back where it stands goes on with it (FileResponse seeks to
        # the end for the size and back), a read elsewhere drops it.
        self._pos = _position(offset, whence, self._pos, self._size)
        return self._pos

    @property
    def size(self) -> int:
        return self._size

    def read(self, size: int | None = -1) -> bytes:
        """At most ``min(size, READ_SIZE)`` bytes, as urllib3 returned them (no copy); all with -1."""
        if size is None or size < 0:
            return self.readall()
        return self._read(size)

    def readall(self) -> bytes:
        parts = []
        while data := self._read(READ_SIZE):
            parts.append(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._read(len(view))
        view[: len(data)] = data
        return len(data)

    def _read(self, size: int) -> bytes:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if self._pos >= self._size or size == 0:
            return b""
        size = min(size, self._read_size, self._size - self._pos)
        try:
            data = self._read_some(size)
        except StorageError:
            raise  # an answer, not a broken stream: asking again gives the same
        except (urllib3.exceptions.HTTPError, OSError):
            # A broken stream resumes once per read, with a ranged GET from where it broke;
            # reads are bounded so each connection makes progress before it may break.
            self._drop()
            self._read_size = size = min(size, BUFFER_SIZE)
            with self._errors():
                data = self._read_some(size)
        if not data:
            raise OSError(f"object ended at byte {self._pos}, expected {self._size} bytes")
        self._pos += len(data)
        if self._pos == self._size:
            self._check_ended()
        return data

    def _check_ended(self) -> None:
        """An answer without Content-Length (its size came from a HEAD) must end at the size."""
        response = self._response
        if response is None or getattr(response, "length_remaining", 0) is not None:
            return  # urllib3 holds the answer to its Content-Length
        with self._errors():
            extra = response.read(1, decode_content=False)
        if extra:
            self._drop()
            raise StorageError(
                f"the answer goes on past the object's {self._size} bytes (a proxy that changes "
                "the body, such as one that decompresses it?)"
            )

    def _read_some(self, size: int) -> bytes:
        if self._response is not None and self._at != self._pos:
            self._drop()
        if self._response is None:
            response = self._open_at(self._pos)
            if self._pos:
                self._check_range(response)
            self._response, self._at = response, self._pos
        # urllib3 would gunzip a Content-Encoding: gzip body: the stored bytes are wanted.
        data: bytes = self._response.read(size, decode_content=False)
        self._at += len(data)
        return data

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


class ObjectStream(io.BufferedIOBase):
    """Buffered binary stream over an ``ObjectReader``, without a buffer of its own to copy through.

    ``io.BufferedReader`` allocates its buffer on every open and copies every read
    through it. Here a read of ``READ_SIZE`` or more hands on urllib3's bytes as they
    came off the socket, and only smaller reads (and ``peek``/``readline``) are served
    from a read-ahead, which is the bytes object a single raw read returned.
    """

    def __init__(self, raw: ObjectReader) -> None:
        super().__init__()
        self.raw = raw
        self._ahead = b""  # bytes read from raw and not yet handed out, from self._used on
        self._used = 0
        self._window = BUFFER_SIZE  # the next read-ahead's size
        # Threads sharing one file get whole reads, as with io.BufferedReader (re-entrant: readline
        # and readinto call read and peek).
        self._lock = threading.RLock()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        with self._lock:
            return self._tell()

    def _tell(self) -> int:
        self._check_open()
        return self.raw.tell() - (len(self._ahead) - self._used)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with self._lock:
            return self._seek(offset, whence)

    def _seek(self, offset: int, whence: int) -> int:
        self._check_open()
        end = self.raw.tell()
        position = _position(offset, whence, self._tell(), self.raw.size)
        start = end - len(self._ahead)
        if start <= position <= end:
            self._used = position - start  # within the read-ahead: no new GET
        else:
            self._ahead, self._used, self._window = b"", 0, BUFFER_SIZE
            self.raw.seek(position)
        return position

    def read(self, size: int | None = -1) -> bytes:
        with self._lock:
            return self._read(size)

    def read1(self, size: int = -1) -> bytes:
        with self._lock:
            return self._read1(size)

    def peek(self, size: int = 0) -> bytes:
        with self._lock:
            return self._peek()

    def readline(self, size: int | None = -1) -> bytes:
        with self._lock:  # re-entered by the peek and read calls readline makes: one line per caller
            return super().readline(size)

    def readinto(self, buffer: Any) -> int:
        with self._lock:
            return super().readinto(buffer)

    def _read(self, size: int | None) -> bytes:
        self._check_open()
        head = self._take(size)
        if size is None or size < 0:
            rest = self.raw.readall()
            return head + rest if head else rest
        parts = [head] if head else []
        got = len(head)
        while got < size:
            want = size - got
            if want >= READ_SIZE:
                data = self.raw.read(want)
            elif self._fill(want):
                data = self._take(want)
            else:
                data = b""
            if not data:
                break
            parts.append(data)
            got += len(data)
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def _read1(self, size: int) -> bytes:
        self._check_open()
        if self._used < len(self._ahead) or size == 0:
            return self._take(size)
        if size < 0 or size >= READ_SIZE:
            return self.raw.read(size if size >= 0 else READ_SIZE)
        return self._take(size) if self._fill(size) else b""

    def _peek(self) -> bytes:
        self._check_open()
        if self._used >= len(self._ahead):
            self._fill()
        return self._ahead[self._used :] if self._used else self._ahead

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self._ahead, self._used = b"", 0
                self.raw.close()
            super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def _fill(self, want: int = 0) -> bool:
        self._ahead, self._used = self.raw.read(max(want, self._window)), 0
        self._window = min(2 * self._window, READ_SIZE)
        return bool(self._ahead)

    def _take(self, size: int | None) -> bytes:
        """Up to ``size`` bytes (all with -1) of the read-ahead."""
        ahead, used = self._ahead, self._used
        if used >= len(ahead):
            return b""
        if size is None or size < 0 or used + size >= len(ahead):
            self._ahead, self._used = b"", 0
            return ahead[used:] if used else ahead
        self._used = used + size
        return ahead[used : used + size]


class MinioFile(_File):
    """The read-only file ``MinioBackend.open()`` returns."""

    def __init__(
        self, reader: ObjectReader, name: str, mode: str, size: int, reopen: Reopener | None = None
    ) -> None:
        stream: Any = ObjectStream(reader)
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
