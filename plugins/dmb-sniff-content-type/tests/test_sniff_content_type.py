"""Unit tests of the sniff_content_type plugin: the hook function is called directly, no server."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from importlib import metadata
from types import ModuleType
from typing import Any

import pytest
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

import dmb_sniff_content_type
from dmb_sniff_content_type import SNIFF_BYTES, content_type_guess, sniff


def png_bytes() -> bytes:
    """A valid 1x1 PNG, built here."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
TEXT = b"Hello, world!\nThis is a plain text file, nothing magic about it.\n" * 10


def zip_bytes(member: str = "hello.txt") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, "hello")
    return buffer.getvalue()


class NonSeekable(io.RawIOBase):
    """A pipe-like stream: readable, not seekable; counts reads."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.reads = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: Any) -> int:
        self.reads += 1
        return self._data.readinto(buffer)


def test_png_named_txt_is_image_png() -> None:
    assert content_type_guess(name="x.txt", content=ContentFile(png_bytes(), name="x.txt")) == "image/png"


def test_pdf_named_jpg_is_application_pdf() -> None:
    assert (
        content_type_guess(name="photo.jpg", content=ContentFile(PDF, name="photo.jpg")) == "application/pdf"
    )


def test_jpeg_is_detected() -> None:
    assert content_type_guess(name="upload.bin", content=ContentFile(JPEG)) == "image/jpeg"


def test_plain_text_gives_none() -> None:
    assert content_type_guess(name="notes.txt", content=ContentFile(TEXT, name="notes.txt")) is None


def test_empty_file_gives_none() -> None:
    assert content_type_guess(name="empty.png", content=ContentFile(b"", name="empty.png")) is None


def test_text_mode_file_is_sniffed_as_bytes() -> None:
    content = ContentFile("%PDF-1.7\nnot really text\n", name="x.txt")
    assert content_type_guess(name="x.txt", content=content) == "application/pdf"
    assert content_type_guess(name="y.txt", content=ContentFile("just words\n")) is None


def test_uploaded_file_own_content_type_is_overridden() -> None:
    upload = SimpleUploadedFile("cat.jpg", png_bytes(), content_type="image/jpeg")
    assert content_type_guess(name="cat.jpg", content=upload) == "image/png"


@pytest.mark.parametrize("start", [0, 1, 7, 100, None])
def test_position_is_restored(start: int | None) -> None:
    data = png_bytes() + b"\x00" * 200
    content = File(io.BytesIO(data), name="x.txt")
    if start is None:  # at the end, as after a write or a full read
        content.read()
        start = len(data)
    content.seek(start)
    assert content_type_guess(name="x.txt", content=content) == "image/png"
    assert content.tell() == start
    assert content.read() == data[start:]


def test_position_is_restored_when_nothing_is_detected() -> None:
    content = File(io.BytesIO(TEXT), name="notes.txt")
    content.seek(5)
    assert content_type_guess(name="notes.txt", content=content) is None
    assert content.tell() == 5


def test_signature_is_read_from_the_start_whatever_the_position() -> None:
    content = File(io.BytesIO(PDF), name="doc.jpg")
    content.seek(len(PDF) // 2)
    assert content_type_guess(name="doc.jpg", content=content) == "application/pdf"


def test_reads_at_most_sniff_bytes() -> None:
    reads: list[int] = []

    class Recording(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            reads.append(-1 if size is None else size)
            return super().read(size)

    content = File(Recording(PDF + b"\x00" * (4 * SNIFF_BYTES)), name="big.pdf")
    assert content_type_guess(name="big.pdf", content=content) == "application/pdf"
    assert reads and all(0 <= size <= SNIFF_BYTES for size in reads)


def test_non_seekable_stream_gives_none_without_reading() -> None:
    stream = NonSeekable(png_bytes())
    assert content_type_guess(name="x.txt", content=File(stream, name="x.txt")) is None
    assert content_type_guess(name="x.txt", content=stream) is None
    assert stream.reads == 0


def test_stream_without_tell_gives_none() -> None:
    class NoTell:
        def read(self, size: int = -1) -> bytes:
            raise AssertionError("must not be read")

    assert content_type_guess(name="x.png", content=NoTell()) is None  # type: ignore[arg-type]


def test_closed_file_gives_none() -> None:
    content = File(io.BytesIO(png_bytes()), name="x.png")
    content.close()
    assert content_type_guess(name="x.png", content=content) is None


def test_generic_zip_defers_to_zip_based_names() -> None:
    data = zip_bytes()
    for name in ("app.jar", "app.apk", "book.epub", "addon.xpi"):
        assert content_type_guess(name=name, content=ContentFile(data)) is None, name
    assert content_type_guess(name="archive.zip", content=ContentFile(data)) == "application/zip"
    assert content_type_guess(name="archive", content=ContentFile(data)) == "application/zip"
    assert content_type_guess(name="photo.jpg", content=ContentFile(data)) == "application/zip"
    assert content_type_guess(name="page.html", content=ContentFile(data)) == "application/zip"


def test_specific_zip_based_type_is_kept() -> None:
    data = zip_bytes("word/document.xml")
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert content_type_guess(name="report.bin", content=ContentFile(data)) == docx


def test_sniff_helper() -> None:
    assert sniff(png_bytes()) == "image/png"
    assert sniff(bytearray(PDF)) == "application/pdf"
    assert sniff(b"") is None
    assert sniff(TEXT) is None


def test_called_through_the_core_manager_first(core_manager: ModuleType) -> None:
    """Among the core's built-ins (which guess text/plain from the name), the sniffer (tryfirst) wins."""
    from django_minio_backend import MinioBackend

    storage = MinioBackend("uploads")  # touches no server: the hook only receives it
    guess = core_manager.content_type_guess
    assert guess(name="x.txt", content=ContentFile(png_bytes()), storage=storage) == "image/png"
    assert guess(name="x.txt", content=ContentFile(TEXT), storage=storage) == "text/plain"


def test_implements_only_hooks_of_the_core_specs(core_manager: ModuleType) -> None:
    """Registered by the core's manager, which refuses an unknown hook or an argument no spec has."""
    assert dict(core_manager.active_plugins())["dmb_sniff_content_type"] == ["content_type_guess"]


def test_hookimpl_is_tryfirst() -> None:
    opts = content_type_guess.django_minio_backend_impl  # type: ignore[attr-defined]
    assert opts["tryfirst"] is True


def test_entry_point_is_registered() -> None:
    try:
        dist = metadata.distribution("django-minio-backend-sniff-content-type")
    except metadata.PackageNotFoundError:
        pytest.skip("distribution not installed (pip install ./plugins/dmb-sniff-content-type)")
    eps = [ep for ep in dist.entry_points if ep.group == "django_minio_backend"]
    assert [(ep.name, ep.value) for ep in eps] == [("sniff_content_type", "dmb_sniff_content_type")]
    assert eps[0].load() is dmb_sniff_content_type
