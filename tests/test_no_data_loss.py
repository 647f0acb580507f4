"""No data loss: create-only saves (threads, processes, multipart), bad names, secrets kept secret."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
import urllib3
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.test import override_settings
from minio import Minio

from django_minio_backend import MinioBackend

from .conftest import not_on_ceph, subprocess_env

ROOT = Path(__file__).resolve().parent.parent
PART = 5 * 1024 * 1024


class CountingPool(urllib3.PoolManager):
    """Records (method, query, body bytes) of every request."""

    def __init__(self) -> None:
        super().__init__(timeout=urllib3.Timeout(connect=5, read=30), retries=False)
        self.requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()

    def urlopen(self, method: str, url: str, *args, **kwargs):  # type: ignore[override]
        body = kwargs.get("body")
        with self._lock:
            self.requests.append((method, url.partition("?")[2], len(body) if body else 0))
        return super().urlopen(method, url, *args, **kwargs)

    def methods(self) -> list[str]:
        return [m for m, _, _ in self.requests]


def test_fresh_name_costs_one_request_and_taken_name_two(bucket: str, make_storage) -> None:
    pool = CountingPool()
    storage = make_storage(bucket, http_client=pool, bucket_check_on_save=False)
    storage.save("warm-up.txt", ContentFile(b"0"))  # the process's one probe of this bucket
    pool.requests.clear()
    storage.save("one.txt", ContentFile(b"1"))
    assert pool.methods() == ["PUT"]
    pool.requests.clear()
    name = storage.save("one.txt", ContentFile(b"2"))
    assert pool.methods() == ["PUT", "PUT"] and name != "one.txt"


def test_if_none_match_is_a_real_header_not_user_metadata(storage: MinioBackend, raw_client: Minio) -> None:
    storage.save("h.txt", ContentFile(b"h"))
    metadata = {k.lower() for k in raw_client.stat_object(storage.bucket, "h.txt").metadata}
    assert not any("if-none-match" in k for k in metadata)


def test_taken_name_never_resends_a_large_body(bucket: str, make_storage, raw_client: Minio) -> None:
    pool = CountingPool()
    storage = make_storage(
        bucket,
        http_client=pool,
        multipart_threshold=PART,
        multipart_part_size=PART,
        bucket_check_on_save=False,
    )
    data = b"L" * (2 * PART + 100)
    storage.save("large.bin", ContentFile(data))
    pool.requests.clear()
    name = storage.save("large.bin", ContentFile(b"M" * (2 * PART + 100)))
    assert name != "large.bin"
    sent = sum(size for method, _, size in pool.requests if method == "PUT")
    assert sent == 2 * PART + 100  # the body went over the wire exactly once
    # Empty create-only claims find the taken name and take the free one before any part is sent;
    # one HEAD verifies the completed object as ours.
    claims = [size for method, query, size in pool.requests if method == "PUT" and "uploadId" not in query]
    assert claims == [0, 0]
    assert pool.methods().count("HEAD") == 1
    assert raw_client.get_object(bucket, "large.bin").read(1) == b"L"


def test_concurrent_multipart_saves_of_one_name_keep_every_body(
    bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    storage = make_storage(bucket, multipart_threshold=PART, multipart_part_size=PART)
    barrier = threading.Barrier(3)
    results: dict[int, str] = {}

    def work(i: int) -> None:
        barrier.wait()
        results[i] = storage.save("big-race.bin", ContentFile(bytes([65 + i]) * (PART + 10)))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results.values())) == 3
    for i, name in results.items():
        with storage.open(name) as f:
            assert f.read(3) == bytes([65 + i]) * 3 and f.size == PART + 10


SAVE_IN_PROCESS = """
import sys, django
django.setup()
from django.core.files.base import ContentFile
from django_minio_backend import MinioBackend
storage = MinioBackend(bucket_name=sys.argv[1], private_buckets=[sys.argv[1]])
print(storage.save("race.txt", ContentFile(("process-" + sys.argv[2]).encode())))
"""


def test_separate_processes_saving_one_name_end_with_distinct_objects(
    s3_server, bucket: str, raw_client: Minio
) -> None:
    env = subprocess_env(s3_server)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SAVE_IN_PROCESS, bucket, str(i)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    names = {}
    for i, process in enumerate(processes):
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        names[i] = out.strip()
    assert len(set(names.values())) == 6
    for i, name in names.items():
        assert raw_client.get_object(bucket, name).read() == f"process-{i}".encode()


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("../up.txt", SuspiciousFileOperation, "'..' component"),
        ("a/../../up.txt", SuspiciousFileOperation, "'..' component"),
        ("/abs/path.txt", SuspiciousFileOperation, "absolute path"),
        ("nul\x00byte.txt", ValueError, "NUL or control character"),
        ("line\nbreak.txt", ValueError, "NUL or control character"),
        ("", ValueError, "empty"),
        ("folder/", ValueError, "ends with a slash"),
        ("x" * 1021 + ".txt", ValueError, "over 1024 bytes"),
        ("é" * 511 + ".txt", ValueError, "over 1024 bytes"),
    ],
)
def test_bad_names_are_refused_and_nothing_is_written(
    storage: MinioBackend, raw_client: Minio, name: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        storage.save(name, ContentFile(b"x"))
    assert list(raw_client.list_objects(storage.bucket, recursive=True)) == []


def test_longest_valid_name_is_accepted(storage: MinioBackend) -> None:
    # S3's limit is 1024 bytes for the whole key (SeaweedFS also limits one path segment to 255).
    name = "/".join(["x" * 200] * 5) + "/" + "y" * 15 + ".txt"
    assert len(name.encode()) == 1024
    assert storage.save(name, ContentFile(b"ok")) == name


SECRET = "Very-Secret-Key-123"


def test_secret_never_appears_in_repr_errors_logs_or_command_output(
    bucket: str, make_storage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    storage = make_storage(bucket, secret_key=SECRET, access_key="wrong-access-key")
    texts = [repr(storage), repr(storage.config), str(storage.deconstruct())]
    for call in (lambda: storage.exists("a.txt"), lambda: storage.save("a.txt", ContentFile(b"x"))):
        with pytest.raises(PermissionError) as excinfo:
            call()
        texts.append(str(excinfo.value))
        texts.append(repr(excinfo.value.__cause__))
    texts.append(repr(storage.is_minio_available()) + storage.is_minio_available().details)
    with override_settings(
        MINIO_SECRET_KEY=SECRET, MINIO_ACCESS_KEY="wrong-access-key", MINIO_PRIVATE_BUCKETS=[bucket]
    ):
        for command in ("initialize_buckets", "is_minio_available"):
            out, err = StringIO(), StringIO()
            with pytest.raises(CommandError) as excinfo:
                call_command(command, stdout=out, stderr=err)
            texts += [out.getvalue(), err.getvalue(), str(excinfo.value)]
    texts.append(caplog.text)
    assert all(SECRET not in text for text in texts)
    assert "refused the credentials" in texts[3]


def test_system_check_output_does_not_echo_secrets() -> None:
    with override_settings(MINIO_SECRET_KEY=SECRET, MINIO_ENDPOINT=""):
        out, err = StringIO(), StringIO()
        with pytest.raises(CommandError) as excinfo:
            call_command("check", stdout=out, stderr=err)
    assert "MINIO_ENDPOINT" in str(excinfo.value)
    assert SECRET not in out.getvalue() + err.getvalue() + str(excinfo.value)


def test_serialized_file_fields_of_every_model_hold_no_secret(s3_settings) -> None:
    from django.apps import apps
    from django.db.migrations.writer import MigrationWriter
    from django.db.models import FileField

    fields = [f for m in apps.get_models() for f in m._meta.get_fields() if isinstance(f, FileField)]
    written = "\n".join(MigrationWriter.serialize(f)[0] for f in fields)
    assert "django_minio_backend.models.MinioBackend(" in written
    assert s3_settings["MINIO_SECRET_KEY"] not in written and s3_settings["MINIO_ACCESS_KEY"] not in written


@not_on_ceph("CompleteMultipartUpload ignores If-Match, so a writer that does not claim names loses")
def test_rival_complete_landing_over_ours_is_detected_and_ours_saved_elsewhere(
    bucket: str, make_storage: Callable[..., MinioBackend], raw_client: Minio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server whose conditional CompleteMultipartUpload is not atomic lets a rival overwrite us."""
    storage = make_storage(bucket, multipart_threshold=PART, multipart_part_size=PART)
    execute = storage.client._execute
    rivals: list[str] = []

    def complete_then_rival_overwrites(method: str, bucket_name: str, key: str, **kwargs):  # type: ignore[no-untyped-def]
        response = execute(method, bucket_name, key, **kwargs)
        if method == "POST" and not rivals:
            rivals.append(key)
            raw_client._put_object(bucket_name, key, b"rival", {})  # lands after our complete
        return response

    monkeypatch.setattr(storage.client, "_execute", complete_then_rival_overwrites)
    data = b"O" * (PART + 7)
    name = storage.save("contested.bin", ContentFile(data))
    monkeypatch.undo()
    assert rivals == ["contested.bin"] and name != "contested.bin"
    assert raw_client.get_object(bucket, "contested.bin").read() == b"rival"
    assert raw_client.get_object(bucket, name).read() == data
