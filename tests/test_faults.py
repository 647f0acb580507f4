"""Fault injection: the storage talks to the S3 server through a ``FaultProxy``.

Every test builds its storage with ``endpoint=proxy.endpoint`` and a fresh
urllib3 pool (pooled keep-alive connections would otherwise dodge the faults
that only act on new connections), and checks the outcome directly on the
server with ``raw_client``, which does not go through the proxy.

Operations that could hang run in a watchdog thread (``bounded``), so that a
hang fails the test instead of blocking the suite; timing assertions are
generous upper bounds only.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3
from django.core.files.base import ContentFile
from minio import Minio
from minio.error import S3Error

from django_minio_backend import MinioBackend
from django_minio_backend.client import default_http_client
from django_minio_backend.files import MinioFile, ObjectReader
from django_minio_backend.testing.seaweedfs import S3Server, free_port

try:  # tests/ as a package or as a plain rootdir-inserted directory
    from .faultproxy import FaultProxy
except ImportError:
    from faultproxy import FaultProxy

KiB = 1024
MiB = 1024 * KiB
# Upper bound for anything that must fail "within the configured timeouts":
# generous on purpose, the point is "an error, not a hang".
DEADLINE = 20.0
# Watchdog: past this, the operation is reported as hung.
HANG = 60.0
# Timeouts of the pool used by the stall tests.
STALL_CONNECT = 2.0
STALL_READ = 2.0

Storage = Callable[..., MinioBackend]


# -- helpers -------------------------------------------------------------------------


def payload(size: int, seed: str = "") -> bytes:
    """``size`` reproducible bytes, different for each seed (a 32-byte pattern)."""
    block = hashlib.sha256(f"{seed}{size}".encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def fast_pool(retries: int = 1) -> urllib3.PoolManager:
    """Short timeouts and at most ``retries`` retries: stalls fail in seconds."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=STALL_CONNECT, read=STALL_READ),
        retries=urllib3.Retry(total=retries, backoff_factor=0, raise_on_status=False),
    )


def no_retry_pool() -> urllib3.PoolManager:
    """The default timeouts, retries disabled: every fault reaches the backend."""
    return urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=30), retries=False)


def through(
    proxy: FaultProxy,
    make_storage: Storage,
    bucket: str,
    http_client: Any = None,
    **options: Any,
) -> MinioBackend:
    """A storage on ``bucket`` whose every request goes through ``proxy``.

    The bucket exists already, so the once-per-process bucket check is turned
    off: each fault then hits the operation under test, not that HEAD.
    """
    options.setdefault("bucket_check_on_save", False)
    return make_storage(
        bucket,
        endpoint=proxy.endpoint,
        http_client=http_client if http_client is not None else default_http_client(),
        **options,
    )


def bounded(operation: Callable[[], Any], limit: float = HANG) -> tuple[Any, BaseException | None, float]:
    """Run ``operation`` in a watchdog thread: (result, exception, seconds taken).

    Fails the test if it has not returned after ``limit`` seconds (a hang);
    the proxy's teardown then closes its sockets, which frees the thread.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = operation()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="test-faults-operation", daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(limit)
    elapsed = time.monotonic() - started
    if thread.is_alive():
        pytest.fail(f"operation still running after {limit:.0f} s: it hangs")
    return outcome.get("result"), outcome.get("error"), elapsed


def fails_naming(operation: Callable[[], Any], endpoint: str, within: float = DEADLINE) -> OSError:
    """Assert ``operation`` raises, within ``within`` s, an OSError naming ``endpoint``."""
    result, error, elapsed = bounded(operation)
    assert error is not None, f"expected an error, got {result!r} after {elapsed:.1f} s"
    assert isinstance(error, OSError), (
        f"expected an OSError subclass, got {type(error).__module__}.{type(error).__qualname__}: {error}"
    )
    assert endpoint in str(error), f"the error does not name {endpoint}: {error}"
    assert elapsed < within, f"failed only after {elapsed:.1f} s: {error}"
    return error


def names_in(raw_client: Minio, bucket: str) -> list[str]:
    return sorted(obj.object_name for obj in raw_client.list_objects(bucket, recursive=True))


def assert_absent(raw_client: Minio, bucket: str, name: str) -> None:
    """Nothing, not even a partial object, is visible under ``name``."""
    with pytest.raises(S3Error) as info:
        raw_client.stat_object(bucket, name)
    assert info.value.code in ("NoSuchKey", "NotFound"), info.value
    assert name not in names_in(raw_client, bucket)


def read_back(raw_client: Minio, bucket: str, name: str) -> bytes:
    response = raw_client.get_object(bucket, name)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def pending_uploads(raw_client: Minio, bucket: str) -> list[tuple[str, str]]:
    uploads = raw_client._list_multipart_uploads(bucket).uploads
    return [(upload.object_name, upload.upload_id) for upload in uploads]


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    host, port = s3_server.endpoint.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost"):
        pytest.skip("fault tests only proxy a server on 127.0.0.1")
    with FaultProxy(("127.0.0.1", int(port))) as p:
        yield p


# -- 1. reset mid-upload ------------------------------------------------------------------


def test_reset_mid_upload_raises_naming_endpoint_and_leaves_no_object(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio
) -> None:
    storage = through(proxy, make_storage, bucket)
    proxy.reset_after(64 * KiB, direction="up")  # every connection, retries included
    fails_naming(lambda: storage.save("reset/single.bin", ContentFile(payload(1 * MiB))), proxy.endpoint)
    assert proxy.bytes_up < 1 * MiB
    proxy.clear()
    assert_absent(raw_client, bucket, "reset/single.bin")
    assert names_in(raw_client, bucket) == []


# -- 2. reset mid multipart upload -----------------------------------------------------


class AbortSpy:
    """Wraps the client's ``_abort_multipart_upload``: records calls and outcomes.

    The backend suppresses any error of the abort, so this is the only way to
    tell "aborted" from "abort attempted and lost".
    """

    def __init__(self, storage: MinioBackend, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, str]] = []
        self.errors: list[BaseException] = []
        client = storage.client
        original = client._abort_multipart_upload

        def spy(bucket_name: str, object_name: str, upload_id: str) -> None:
            self.calls.append((object_name, upload_id))
            try:
                original(bucket_name, object_name, upload_id)
            except BaseException as exc:
                self.errors.append(exc)
                raise

        monkeypatch.setattr(client, "_abort_multipart_upload", spy)


def multipart_storage(proxy: FaultProxy, make_storage: Storage, bucket: str, **options: Any) -> MinioBackend:
    return through(
        proxy, make_storage, bucket, multipart_threshold=5 * MiB, multipart_part_size=5 * MiB, **options
    )


def test_reset_mid_multipart_upload_raises_and_aborts_the_upload(
    proxy: FaultProxy,
    bucket: str,
    make_storage: Storage,
    raw_client: Minio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Retries off: with them, urllib3 re-sends the failed part on a new
    # connection, which has a 7 MiB budget of its own (see the next test).
    storage = multipart_storage(proxy, make_storage, bucket, http_client=no_retry_pool())
    aborts = AbortSpy(storage, monkeypatch)
    # The HEAD precheck and the create pass; parts go out two at a time, each on
    # its own keep-alive connection, and every connection is cut after 3 MiB, so
    # both parts in flight fail. The rule stays active (no clear() before the
    # abort): the abort goes out on a new connection, whose byte count starts at
    # zero, just as it would after a real network blip.
    proxy.reset_after(3 * MiB, direction="up")
    fails_naming(lambda: storage.save("reset/multi.bin", ContentFile(payload(12 * MiB))), proxy.endpoint)
    proxy.clear()
    assert proxy.bytes_up < 12 * MiB
    assert len(aborts.calls) == 1 and aborts.calls[0][0] == "reset/multi.bin"
    assert aborts.errors == []  # the abort got through
    assert pending_uploads(raw_client, bucket) == []
    assert_absent(raw_client, bucket, "reset/multi.bin")
    assert names_in(raw_client, bucket) == []


def test_multipart_abort_that_cannot_get_through_is_retried_once_the_server_answers(
    proxy: FaultProxy,
    bucket: str,
    make_storage: Storage,
    raw_client: Minio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The network stays down after the part fails: the abort is lost too.

    The caller still gets the upload's error (not the abort's); no data is
    visible under the name (at most the save's empty claim); and the next
    request this process makes to the server aborts the upload and removes the
    claim, so nothing is left for the server's lifecycle rule.
    """
    storage = multipart_storage(proxy, make_storage, bucket, http_client=no_retry_pool())
    aborts = AbortSpy(storage, monkeypatch)
    assert not storage.exists("warm-up")  # opens the keep-alive connection that carries the upload
    proxy.reset_after(7 * MiB, direction="up")
    proxy.refuse()  # new connections only: the abort's
    error = fails_naming(
        lambda: storage.save("reset/lost-abort.bin", ContentFile(payload(12 * MiB))), proxy.endpoint
    )
    proxy.clear()
    assert str(error).startswith("save:")  # the part's failure, not the abort's
    assert len(aborts.calls) == 1 and len(aborts.errors) == 1  # attempted, lost
    assert [name for name, _ in pending_uploads(raw_client, bucket)] == ["reset/lost-abort.bin"]
    assert raw_client.stat_object(bucket, "reset/lost-abort.bin").size == 0  # the claim, no data
    storage.save("after-outage.txt", ContentFile(b"back"))
    assert pending_uploads(raw_client, bucket) == []
    assert_absent(raw_client, bucket, "reset/lost-abort.bin")


def test_multipart_upload_survives_per_connection_resets_with_retries(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio
) -> None:
    storage = multipart_storage(proxy, make_storage, bucket)  # default pool: 3 retries
    data = payload(12 * MiB, "multi-retry")
    proxy.reset_after(7 * MiB, direction="up")
    name, error, _ = bounded(lambda: storage.save("retry/multi.bin", ContentFile(data)))
    proxy.clear()
    assert error is None, error
    assert name == "retry/multi.bin"
    assert proxy.connections >= 2  # the fault did fire; the retried parts went out anew
    assert read_back(raw_client, bucket, name) == data
    assert pending_uploads(raw_client, bucket) == []


# -- 3. stall ---------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["save", "open", "exists"])
def test_stalled_server_fails_within_timeouts(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio, operation: str
) -> None:
    raw_client.put_object(bucket, "there.txt", io.BytesIO(b"there"), 5)
    storage = through(proxy, make_storage, bucket, http_client=fast_pool())
    proxy.stall(after_bytes=0, direction="up")  # connections open, requests never read
    actions = {
        "save": lambda: storage.save("stalled.txt", ContentFile(b"never arrives")),
        "open": lambda: storage.open("there.txt").read(),
        "exists": lambda: storage.exists("there.txt"),
    }
    fails_naming(actions[operation], proxy.endpoint)
    # stop(), not clear(): clear() would let the stalled bytes through now,
    # and the timed-out PUT would then land on the server after all.
    proxy.stop()
    assert_absent(raw_client, bucket, "stalled.txt")


def test_stall_mid_upload_fails_within_timeouts_and_leaves_no_object(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio
) -> None:
    storage = through(proxy, make_storage, bucket, http_client=fast_pool())
    proxy.stall(after_bytes=64 * KiB, direction="up")
    fails_naming(lambda: storage.save("stalled.bin", ContentFile(payload(4 * MiB))), proxy.endpoint)
    proxy.stop()
    assert_absent(raw_client, bucket, "stalled.bin")


def test_stall_mid_download_resumes_with_a_ranged_request(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio
) -> None:
    data = payload(4 * MiB, "stall-down")
    raw_client.put_object(bucket, "big.bin", io.BytesIO(data), len(data))
    storage = through(proxy, make_storage, bucket, http_client=fast_pool())
    proxy.stall(after_bytes=256 * KiB, direction="down")  # headers pass, the body stops
    with storage.open("big.bin") as f:
        result, error, _ = bounded(f.read)
    assert error is None and result == data  # the read timed out once and resumed where it stopped


def test_stall_mid_download_with_the_server_gone_raises_within_timeouts(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio
) -> None:
    data = payload(4 * MiB, "stall-down-gone")
    raw_client.put_object(bucket, "big.bin", io.BytesIO(data), len(data))
    storage = through(proxy, make_storage, bucket, http_client=fast_pool())
    proxy.stall(after_bytes=256 * KiB, direction="down")
    with storage.open("big.bin") as f:
        proxy.refuse()  # the resume cannot connect either
        error = fails_naming(f.read, proxy.endpoint)
    assert "big.bin" in str(error)


# -- 4. refused / server down ----------------------------------------------------------------


def _operations(storage: MinioBackend) -> dict[str, Callable[[], Any]]:
    return {
        "save": lambda: storage.save("down.txt", ContentFile(b"nowhere to go")),
        "open": lambda: storage.open("down.txt").read(),
        "exists": lambda: storage.exists("down.txt"),
    }


@pytest.mark.parametrize("operation", ["save", "open", "exists"])
def test_refused_connections_fail_fast_naming_endpoint(
    proxy: FaultProxy, bucket: str, make_storage: Storage, operation: str
) -> None:
    storage = through(proxy, make_storage, bucket)  # default pool: 3 retries
    proxy.refuse()
    fails_naming(_operations(storage)[operation], proxy.endpoint, within=10)
    assert proxy.connections >= 2  # retried, then gave up


@pytest.mark.parametrize("operation", ["save", "open", "exists"])
def test_network_errors_name_the_object(
    proxy: FaultProxy, bucket: str, make_storage: Storage, operation: str
) -> None:
    """StorageError promises "the message names the endpoint and the object".

    With retries off, urllib3's own message carries no URL (with retries, its
    MaxRetryError happens to quote the path), so the backend must name it.
    """
    storage = through(proxy, make_storage, bucket, http_client=no_retry_pool())
    proxy.refuse()
    error = fails_naming(_operations(storage)[operation], proxy.endpoint, within=10)
    assert f"{bucket}/down.txt" in str(error)


@pytest.mark.parametrize("operation", ["save", "open", "exists"])
def test_closed_port_fails_fast_naming_endpoint(bucket: str, make_storage: Storage, operation: str) -> None:
    endpoint = f"127.0.0.1:{free_port()}"  # nothing listens there
    storage = make_storage(bucket, endpoint=endpoint, http_client=default_http_client())
    fails_naming(_operations(storage)[operation], endpoint, within=10)


# -- 5. slow link -----------------------------------------------------------------------------


def test_slow_link_save_succeeds_with_exact_content(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio
) -> None:
    storage = through(proxy, make_storage, bucket)
    data = payload(2 * MiB, "slow")
    proxy.slow(1 * MiB)
    name, error, elapsed = bounded(lambda: storage.save("slow.bin", ContentFile(data)))
    proxy.clear()
    assert error is None, error
    assert name == "slow.bin"
    assert elapsed > 1.0  # the link really was slow
    assert read_back(raw_client, bucket, name) == data


# -- 6. transient faults: retried with retries on, raised with retries off ---------------


def test_transient_503s_are_retried_and_content_is_intact(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio
) -> None:
    storage = through(proxy, make_storage, bucket)
    data = payload(256 * KiB, "503")
    proxy.fail_http(503, times=2)
    name, error, _ = bounded(lambda: storage.save("flaky.bin", ContentFile(data)))
    assert error is None, error
    assert name == "flaky.bin"
    assert proxy.requests_failed == 2
    assert read_back(raw_client, bucket, name) == data
    assert names_in(raw_client, bucket) == ["flaky.bin"]


def test_503_without_retries_raises_naming_endpoint(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio
) -> None:
    storage = through(proxy, make_storage, bucket, http_client=no_retry_pool())
    proxy.fail_http(503, times=2)
    error = fails_naming(lambda: storage.save("flaky.bin", ContentFile(b"x" * 1000)), proxy.endpoint)
    assert "ServiceUnavailable" in str(error) or "503" in str(error)
    assert proxy.requests_failed == 1
    assert_absent(raw_client, bucket, "flaky.bin")


def test_transient_reset_is_retried_and_content_is_intact(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio
) -> None:
    storage = through(proxy, make_storage, bucket)
    data = payload(1 * MiB, "reset-once")
    proxy.reset_after(64 * KiB, direction="up", times=1)
    name, error, _ = bounded(lambda: storage.save("flaky.bin", ContentFile(data)))
    assert error is None, error
    assert name == "flaky.bin"
    assert proxy.connections >= 2
    assert read_back(raw_client, bucket, name) == data
    assert names_in(raw_client, bucket) == ["flaky.bin"]


def test_reset_without_retries_raises_naming_endpoint(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio
) -> None:
    storage = through(proxy, make_storage, bucket, http_client=no_retry_pool())
    proxy.reset_after(64 * KiB, direction="up", times=1)
    fails_naming(lambda: storage.save("flaky.bin", ContentFile(payload(1 * MiB))), proxy.endpoint)
    assert_absent(raw_client, bucket, "flaky.bin")


# -- 7. conflicts under faults ---------------------------------------------------------------


def test_concurrent_saves_of_one_name_under_transient_faults_keep_every_file(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio
) -> None:
    storage = through(proxy, make_storage, bucket)
    contents = [payload(128 * KiB, f"racer-{i}") for i in range(4)]
    proxy.fail_http(503, times=3)
    barrier = threading.Barrier(len(contents))
    saved: dict[int, str] = {}
    errors: list[BaseException] = []

    def racer(index: int) -> None:
        try:
            barrier.wait(5)
            saved[index] = storage.save("race.bin", ContentFile(contents[index]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=racer, args=(i,), daemon=True) for i in range(len(contents))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG)
    assert not any(thread.is_alive() for thread in threads), "a racing save hangs"
    assert errors == []
    assert len(set(saved.values())) == len(contents), saved  # nobody overwrote anybody
    for index, name in saved.items():
        assert read_back(raw_client, bucket, name) == contents[index]
    assert names_in(raw_client, bucket) == sorted(saved.values())


def test_lost_put_response_leaves_no_orphan_copy(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio
) -> None:
    """The server stores the object, its answer is lost, urllib3 re-sends the PUT.

    With conditional writes the re-sent PUT is refused (the name is now taken,
    by this very save): the backend must not take that for a rival's file,
    store a second copy under another name and leave the first one orphaned.
    """
    storage = through(proxy, make_storage, bucket)  # default pool: the PUT is retried
    data = payload(64 * KiB, "lost-answer")
    proxy.reset_after(0, direction="down", times=1)  # the first answer never arrives
    name, error, _ = bounded(lambda: storage.save("answer.bin", ContentFile(data)))
    assert error is None, error
    assert read_back(raw_client, bucket, name) == data
    assert names_in(raw_client, bucket) == [name], "a copy of the file is left orphaned"
    assert name == "answer.bin"


# -- 8. downloads --------------------------------------------------------------------------


def test_reset_during_download_resumes_and_returns_exact_data(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio
) -> None:
    data = payload(4 * MiB, "download")
    raw_client.put_object(bucket, "big.bin", io.BytesIO(data), len(data))
    storage = through(proxy, make_storage, bucket)
    proxy.reset_after(1 * MiB, direction="down", times=1)  # the first connection breaks after 1 MiB
    received = bytearray()

    def read_all() -> None:
        with storage.open("big.bin") as f:
            for chunk in f.chunks(chunk_size=64 * KiB):
                received.extend(chunk)

    _, error, _ = bounded(read_all)
    assert error is None and bytes(received) == data  # resumed by a ranged GET where it broke


def test_reset_during_download_with_the_server_gone_raises_oserror_naming_endpoint(
    proxy: FaultProxy, bucket: str, make_storage: Storage, raw_client: Minio
) -> None:
    data = payload(4 * MiB, "download-gone")
    raw_client.put_object(bucket, "big.bin", io.BytesIO(data), len(data))
    storage = through(proxy, make_storage, bucket, http_client=fast_pool())
    proxy.reset_after(1 * MiB, direction="down")
    received = bytearray()

    def read_all() -> None:
        with storage.open("big.bin") as f:
            proxy.refuse()
            for chunk in f.chunks(chunk_size=64 * KiB):
                received.extend(chunk)

    _, error, _ = bounded(read_all)
    assert isinstance(error, OSError) and proxy.endpoint in str(error) and "big.bin" in str(error)
    # A TCP reset also discards what the kernel had buffered, so how much arrived varies;
    # what did arrive is exact, and the short read is an error, never a silent truncation.
    assert len(received) < len(data)
    assert bytes(received) == data[: len(received)]


class _ShortResponse:
    """A response body that ends (cleanly) before the advertised size."""

    def __init__(self, data: bytes, offset: int = 0, total: int = 0) -> None:
        self._body = io.BytesIO(data)
        self.status = 206 if offset else 200
        self.headers = {"Content-Range": f"bytes {offset}-{total - 1}/{total}"} if offset else {}

    def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        return self._body.read(amt)

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


def test_object_reader_raises_when_the_stream_ends_early() -> None:
    data = payload(100 * KiB, "short")
    reader = ObjectReader(
        lambda offset: _ShortResponse(data[offset : offset + 10 * KiB], offset, len(data)), len(data)
    )
    with MinioFile(reader, "short.bin", "rb", len(data)) as f, pytest.raises(OSError, match="ended at byte"):
        f.read()


def test_object_reader_does_not_raise_on_a_complete_stream() -> None:
    data = payload(100 * KiB, "complete")
    reader = ObjectReader(lambda offset: _ShortResponse(data[offset:], offset, len(data)), len(data))
    with MinioFile(reader, "complete.bin", "rb", len(data)) as f:
        assert f.read() == data
        f.seek(50 * KiB)
        assert f.read(10) == data[50 * KiB : 50 * KiB + 10]


def test_payload_is_reproducible() -> None:
    assert payload(MiB, "a") == payload(MiB, "a") != payload(MiB, "b")
    assert len(payload(3 * MiB + 7)) == 3 * MiB + 7
