"""MinioBackend as a Django Storage, end to end against the S3 server."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from datetime import datetime, timezone

import pytest
import urllib3
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile, File
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from minio import Minio

from django_minio_backend import MinioBackend

http = urllib3.PoolManager(retries=False, timeout=10)


def test_save_then_open_reads_same_bytes(storage: MinioBackend) -> None:
    name = storage.save("docs/hello.txt", ContentFile(b"hello world"))
    assert name == "docs/hello.txt"
    with storage.open(name) as f:
        assert f.read() == b"hello world"
    assert storage.size(name) == 11
    assert storage.exists(name)


def test_same_name_gets_new_name_and_keeps_old_content(storage: MinioBackend) -> None:
    first = storage.save("same.txt", ContentFile(b"first"))
    second = storage.save("same.txt", ContentFile(b"second"))
    assert first == "same.txt"
    assert second != first and second.startswith("same_") and second.endswith(".txt")
    assert storage.open(first).read() == b"first"
    assert storage.open(second).read() == b"second"


def test_replace_existing_overwrites(bucket: str, make_storage: Callable[..., MinioBackend]) -> None:
    storage = make_storage(bucket, replace_existing=True)
    assert storage.save("x.txt", ContentFile(b"one")) == "x.txt"
    assert storage.save("x.txt", ContentFile(b"two")) == "x.txt"
    assert storage.open("x.txt").read() == b"two"


def test_taken_name_without_conditional_writes_still_gets_new_name(
    bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    storage = make_storage(bucket, conditional_writes=False)
    storage.save("a.txt", ContentFile(b"one"))
    other = storage.save("a.txt", ContentFile(b"two"))
    assert other != "a.txt"
    assert storage.open("a.txt").read() == b"one"


def test_max_length_is_respected_for_alternative_names(storage: MinioBackend) -> None:
    storage.save("abcdefghij.txt", ContentFile(b"1"))
    name = storage.save("abcdefghij.txt", ContentFile(b"2"), max_length=14)
    assert len(name) <= 14 and name != "abcdefghij.txt"


@pytest.mark.parametrize("name", ["../escape.txt", "a/../../b.txt", "/etc/passwd"])
def test_path_traversal_is_refused(storage: MinioBackend, name: str) -> None:
    with pytest.raises(SuspiciousFileOperation):
        storage.save(name, ContentFile(b"x"))
    with pytest.raises(SuspiciousFileOperation):
        storage.url(name) if ".." in name else storage.exists(name)


@pytest.mark.parametrize(
    "name",
    ["with space.txt", "plus+sign.txt", "per%cent.txt", "hash#tag.txt", "quest?ion.txt", "üñí/日本.txt"],
)
def test_special_names_round_trip_and_their_urls_work(storage: MinioBackend, name: str) -> None:
    saved = storage.save(name, ContentFile(name.encode()))
    assert saved == name
    assert storage.open(saved).read() == name.encode()
    response = http.request("GET", storage.url(saved))
    assert response.status == 200, response.data[:300]
    assert response.data == name.encode()


def test_public_special_names_have_working_unsigned_urls(public_storage: MinioBackend) -> None:
    name = public_storage.save("dir/a b+c%d#e?f ü.txt", ContentFile(b"public"))
    url = public_storage.url(name)
    assert "X-Amz-Signature" not in url
    response = http.request("GET", url)
    assert response.status == 200 and response.data == b"public"


def test_private_url_is_presigned_and_unsigned_access_is_refused(storage: MinioBackend) -> None:
    name = storage.save("secret.txt", ContentFile(b"secret"))
    url = storage.url(name)
    # Signed to the second: the lifetime is rounded up so that it is never shorter than asked.
    assert "X-Amz-Signature=" in url and ("X-Amz-Expires=3600&" in url or "X-Amz-Expires=3601&" in url)
    assert http.request("GET", url).data == b"secret"
    assert http.request("GET", url.split("?")[0]).status == 403


def test_url_makes_no_network_call(bucket: str, make_storage: Callable[..., MinioBackend]) -> None:
    storage = make_storage(bucket, endpoint="127.0.0.1:9", external_endpoint="files.invalid:8443")
    url = storage.url("a.txt")
    assert url.startswith("http://files.invalid:8443/")


def test_external_endpoint_urls_use_that_host_and_scheme_and_are_valid_there(
    storage: MinioBackend, make_storage: Callable[..., MinioBackend], s3_server
) -> None:
    storage.save("ext.txt", ContentFile(b"external"))
    port = s3_server.endpoint.rsplit(":", 1)[1]
    external = make_storage(storage.bucket, external_endpoint=f"localhost:{port}")
    url = external.url("ext.txt")
    assert url.startswith(f"http://localhost:{port}/")
    assert http.request("GET", url).data == b"external"
    https = make_storage(
        storage.bucket, external_endpoint="cdn.example.com", external_endpoint_use_https=True
    )
    assert https.url("ext.txt").startswith("https://cdn.example.com/")


def test_open_streams_with_ranged_seek(storage: MinioBackend) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    name = storage.save("blob.bin", ContentFile(data))
    with storage.open(name) as f:
        assert f.read(10) == data[:10]
        f.seek(500_000)
        assert f.read(100) == data[500_000:500_100]
        f.seek(-5, io.SEEK_END)
        assert f.read() == data[-5:]
        f.seek(0)
        assert b"".join(f.chunks(chunk_size=65536)) == data
        assert f.size == len(data)


def test_open_text_mode_decodes(storage: MinioBackend) -> None:
    storage.save("t.txt", ContentFile("grüße\nzwei".encode()))
    with storage.open("t.txt", "r") as f:
        assert f.readline() == "grüße\n"


def test_open_for_writing_is_refused(storage: MinioBackend) -> None:
    with pytest.raises(ValueError, match="read-only"):
        storage.open("x.txt", "wb")


def test_missing_object_raises_file_not_found(storage: MinioBackend) -> None:
    with pytest.raises(FileNotFoundError):
        storage.open("nope.txt")
    with pytest.raises(FileNotFoundError):
        storage.size("nope.txt")
    with pytest.raises(FileNotFoundError):
        storage.get_modified_time("nope.txt")
    assert storage.exists("nope.txt") is False


def test_exists_propagates_errors_other_than_not_found(bucket: str, make_storage) -> None:
    wrong = make_storage(bucket, secret_key="wrong-secret")
    with pytest.raises(PermissionError, match="refused the credentials"):
        wrong.exists("a.txt")


def test_unreachable_server_fails_fast_naming_the_endpoint(bucket: str, make_storage) -> None:
    down = make_storage(bucket, endpoint="127.0.0.1:9")
    started = datetime.now()
    with pytest.raises(OSError, match=r"127\.0\.0\.1:9"):
        down.exists("a.txt")
    assert (datetime.now() - started).total_seconds() < 15


def test_delete_removes_object(storage: MinioBackend) -> None:
    storage.save("gone.txt", ContentFile(b"x"))
    storage.delete("gone.txt")
    assert not storage.exists("gone.txt")
    storage.delete("gone.txt")  # deleting a missing object is not an error


def test_listdir_returns_dirs_and_files(storage: MinioBackend) -> None:
    for name in ["top.txt", "a/one.txt", "a/two.txt", "a/deep/three.txt", "b/four.txt"]:
        storage.save(name, ContentFile(b"x"))
    dirs, files = storage.listdir("")
    assert sorted(dirs) == ["a", "b"] and files == ["top.txt"]
    dirs, files = storage.listdir("a/")
    assert dirs == ["deep"] and sorted(files) == ["one.txt", "two.txt"]


def test_modified_time_is_aware_with_use_tz_and_naive_without(storage: MinioBackend) -> None:
    storage.save("m.txt", ContentFile(b"x"))
    modified = storage.get_modified_time("m.txt")
    assert modified.tzinfo is not None
    assert abs((datetime.now(timezone.utc) - modified).total_seconds()) < 120
    assert storage.get_created_time("m.txt") == modified
    with override_settings(USE_TZ=False):
        assert storage.get_modified_time("m.txt").tzinfo is None


def test_path_is_not_implemented(storage: MinioBackend) -> None:
    with pytest.raises(NotImplementedError):
        storage.path("a.txt")


def test_content_type_from_upload_then_name_then_default(storage: MinioBackend, raw_client: Minio) -> None:
    storage.save("a.bin", SimpleUploadedFile("a.bin", b"x", content_type="image/png"))
    storage.save("b.pdf", ContentFile(b"x"))
    storage.save("c.unknownext", ContentFile(b"x"))
    types = {
        n: raw_client.stat_object(storage.bucket, n).content_type for n in ("a.bin", "b.pdf", "c.unknownext")
    }
    assert types == {
        "a.bin": "image/png",
        "b.pdf": "application/pdf",
        "c.unknownext": "application/octet-stream",
    }


def test_large_file_is_uploaded_in_parts_with_bounded_reads(
    bucket: str, make_storage: Callable[..., MinioBackend], raw_client: Minio
) -> None:
    part = 5 * 1024 * 1024
    storage = make_storage(bucket, multipart_threshold=part, multipart_part_size=part)
    reads: list[int] = []

    class Counting(io.RawIOBase):
        """A non-seekable stream of unknown size that records read sizes."""

        def __init__(self, total: int) -> None:
            self.left = total

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            reads.append(n)
            n = self.left if n < 0 else min(n, self.left)
            self.left -= n
            return b"z" * n

    total = 2 * part + 12345
    name = storage.save("big.bin", File(Counting(total), "big.bin"))
    assert storage.size(name) == total
    assert all(0 < n <= 1024 * 1024 for n in reads)
    stat = raw_client.stat_object(bucket, name)
    assert stat.etag.endswith("-3")  # three parts


def test_text_content_is_encoded_as_utf8(storage: MinioBackend) -> None:
    storage.save("text.txt", ContentFile("héllo"))
    assert storage.open("text.txt").read() == "héllo".encode()


def test_one_storage_is_safe_from_many_threads(storage: MinioBackend) -> None:
    errors: list[BaseException] = []
    names: list[str] = []

    def work(i: int) -> None:
        try:
            name = storage.save(f"thread/{i}.txt", ContentFile(str(i).encode()))
            assert storage.open(name).read() == str(i).encode()
            names.append(name)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(names)) == 16


def test_concurrent_saves_of_one_name_never_overwrite(storage: MinioBackend) -> None:
    barrier = threading.Barrier(8)
    results: dict[int, str] = {}

    def work(i: int) -> None:
        barrier.wait()
        results[i] = storage.save("race.txt", ContentFile(f"content-{i}".encode()))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results.values())) == 8
    for i, name in results.items():
        assert storage.open(name).read() == f"content-{i}".encode()


def test_is_minio_available_is_truthy_for_a_live_server(storage: MinioBackend) -> None:
    status = storage.is_minio_available()
    assert status and "available" in status.details


def test_is_minio_available_explains_a_dead_server_quickly(bucket: str, make_storage) -> None:
    started = datetime.now()
    status = make_storage(bucket, endpoint="127.0.0.1:9").is_minio_available()
    assert not status and "127.0.0.1:9" in status.details
    assert (datetime.now() - started).total_seconds() < 10


def test_is_minio_available_reports_refused_credentials(bucket: str, make_storage) -> None:
    status = make_storage(bucket, secret_key="nope").is_minio_available()
    assert not status and "access and secret key" in status.details
