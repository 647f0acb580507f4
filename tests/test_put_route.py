"""The PUT that saves send without the SDK's request path (``sdk._PutRoute``): same request, same errors.

A recording HTTP server on loopback answers as told; each test compares what the
route sends or raises with what ``Minio._put_object`` sends or raises.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import urllib3
from django.core.files.base import ContentFile
from minio import Minio
from minio.credentials.credentials import Credentials
from minio.error import InvalidResponseError
from minio.signer import sign_v4_s3

from django_minio_backend import MinioBackend, sdk, upload
from django_minio_backend.client import Credentials as StorageCredentials
from django_minio_backend.client import _client, default_http_client
from django_minio_backend.exceptions import StorageError

XML = "application/xml"
PRECONDITION = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code>'
    b"<Message>At least one of the pre-conditions you specified did not hold</Message>"
    b"<Resource>/bkt/k</Resource><RequestId>r1</RequestId></Error>"
)
DENIED = b"<Error><Code>AccessDenied</Code><Message>Access Denied.</Message><RequestId>r2</RequestId></Error>"


class Recorder(ThreadingHTTPServer):
    """Records every request; answers each with ``self.answer`` (status, content type, body)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.ports: list[int] = []
        self.answer: tuple[int, str, bytes] = (200, "", b"")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Recorder
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connections, as with S3

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.requests.append((self.command, self.path, headers, body))
        self.server.ports.append(self.client_address[1])
        status, content_type, answer = self.server.answer
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("ETag", '"etag-1"')
        if status in (301, 307):
            self.send_header("Location", f"http://{self.server.endpoint}/elsewhere/k")
        if status != 304:
            self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if status != 304:
            self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def client_for(endpoint: str, token: str | None = None, **kwargs: Any) -> Minio:
    kwargs.setdefault("region", "us-east-1")
    kwargs.setdefault("http_client", default_http_client(retries=0))
    return Minio(endpoint, "AKIDEXAMPLE", "secret/key+1", session_token=token, secure=False, **kwargs)


@pytest.mark.parametrize("token", [None, "session-token"])
@pytest.mark.parametrize(
    ("key", "headers"),
    [
        ("plain.txt", {"Content-Type": "text/plain"}),
        ("a b/ü+%~'()!*&=.txt", {"Content-Type": "text/plain", "If-None-Match": "*"}),
        ("d/e.bin", {"Content-Disposition": "  attachment;   filename=x.bin ", "x-amz-meta-k": "v  w"}),
        # The SDK sets these two itself and leaves them out of the signature.
        ("f.bin", {"User-Agent": "myapp/1.0", "Authorization": "Basic eA=="}),
    ],
)
def test_route_sends_the_request_the_sdk_signs(
    recorder: Recorder, token: str | None, key: str, headers: dict[str, str]
) -> None:
    client = client_for(recorder.endpoint, token)
    assert sdk._put_route(client, "bkt") is not None
    assert sdk.put_object(client, "bkt", key, memoryview(b"body bytes"), headers) == "etag-1"

    [(method, path, sent, body)] = recorder.requests
    assert (method, path, body) == ("PUT", "/bkt/" + quote(key, safe="/~"), b"body bytes")
    assert sent["host"] == recorder.endpoint and sent["user-agent"] == client._user_agent
    assert sent["content-length"] == "10" and sent.get("x-amz-security-token") == token
    for name, value in headers.items():
        if name.lower() not in ("user-agent", "authorization"):
            assert sent[name.lower()].strip() == value.strip()  # outer blanks are not part of an HTTP value
    # What the SDK's own signer makes of these headers, at the same second (http.client adds
    # Accept-Encoding after signing, for the SDK too).
    # Values in the canonical form the signature covers (AWS: trimmed, runs of spaces as one), which
    # minio 7.2.0's signer does not make itself.
    unsigned: dict[str, str | list[str] | tuple[str]] = {
        k: re.sub(" +", " ", v).strip()
        for k, v in sent.items()
        if k not in ("authorization", "user-agent", "accept-encoding")
    }
    date = datetime.strptime(sent["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    expected = sign_v4_s3(
        method="PUT",
        url=urlsplit(f"http://{recorder.endpoint}{path}"),
        region="us-east-1",
        headers=unsigned,
        credentials=Credentials("AKIDEXAMPLE", "secret/key+1", token),
        content_sha256=sent["x-amz-content-sha256"],
        date=date,
    )
    assert sent["authorization"] == expected["Authorization"]


def test_route_sends_the_same_headers_as_the_sdk(recorder: Recorder) -> None:
    client = client_for(recorder.endpoint, "tok")
    headers = {"Content-Type": "image/png", "If-None-Match": "*", "x-amz-meta-dmb-write-token": "t"}
    sdk.put_object(client, "bkt", "k", b"data", headers)
    client._put_object("bkt", "k", b"data", dict(headers))
    ours, theirs = (r[2] for r in recorder.requests)
    assert set(ours) == set(theirs)
    assert {k: v for k, v in ours.items() if k not in ("authorization", "x-amz-date")} == {
        k: v for k, v in theirs.items() if k not in ("authorization", "x-amz-date")
    }


@pytest.mark.parametrize(
    "answer",
    [
        (412, XML, PRECONDITION),
        (403, XML, DENIED),
        (400, XML, b""),
        (404, "text/plain", b"no such thing"),
        (502, "text/html", b"<html>bad gateway</html>"),
        (304, "", b""),
    ],
    ids=["precondition", "denied-xml", "xml-without-body", "not-xml", "gateway", "not-modified"],
)
def test_route_raises_what_the_sdk_raises(recorder: Recorder, answer: tuple[int, str, bytes]) -> None:
    recorder.answer = answer
    client = client_for(recorder.endpoint)
    with pytest.raises(Exception) as ours:
        sdk.put_object(client, "bkt", "k", b"x", {"If-None-Match": "*"})
    with pytest.raises(Exception) as theirs:
        client._put_object("bkt", "k", b"x", {"If-None-Match": "*"})
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)
    assert len(recorder.requests) == 2


def test_clients_the_route_cannot_serve_go_through_the_sdk(recorder: Recorder) -> None:
    proxied = client_for(recorder.endpoint, http_client=urllib3.ProxyManager(f"http://{recorder.endpoint}"))
    aws = Minio("s3.amazonaws.com", "AKIDEXAMPLE", "secret", region="us-east-1")
    no_region = Minio(recorder.endpoint, "AKIDEXAMPLE", "secret", secure=False)
    anonymous = Minio(recorder.endpoint, secure=False, region="us-east-1")
    for client in (proxied, aws, no_region, anonymous):
        assert sdk._put_route(client, "bkt") is None, client
    # Headers the route does not take apart (repeated names) go through the SDK as well.
    client = client_for(recorder.endpoint)
    sdk.put_object(client, "bkt", "k", b"x", {"x-amz-meta-a": "1", "X-Amz-Meta-A": "2"})
    assert recorder.requests[0][2]["user-agent"] == client._user_agent


def test_a_pool_the_manager_closed_is_looked_up_again(recorder: Recorder) -> None:
    client = client_for(recorder.endpoint)
    sdk.put_object(client, "bkt", "one", b"1", {})
    client._http.clear()  # closes every pool, as PoolManager does to the least recent past num_pools
    sdk.put_object(client, "bkt", "two", b"2", {})
    assert [r[1] for r in recorder.requests] == ["/bkt/one", "/bkt/two"]


def _token_in_child(queue: Any) -> None:
    queue.put(upload.write_token())


def test_write_tokens_are_unique_in_a_process_and_after_a_fork() -> None:
    tokens = {upload.write_token() for _ in range(1000)}
    assert len(tokens) == 1000
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=_token_in_child, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    from_children = {queue.get(timeout=30) for _ in children}
    for child in children:
        child.join(30)
    parent_prefix = upload.write_token()[:32]
    assert len(from_children) == 2
    assert all(token[:32] != parent_prefix for token in from_children)


def _put_in_child(client: Minio, queue: Any) -> None:
    sdk.put_object(client, "bkt", "child", b"c", {})
    queue.put("done")


def test_a_forked_child_does_not_send_on_its_parents_connection(recorder: Recorder) -> None:
    # Built as the storages build theirs (client._client), which registers the pool manager.
    client = _client(
        recorder.endpoint,
        False,
        "us-east-1",
        StorageCredentials("AKIDEXAMPLE", "secret"),
        default_http_client(),
    )
    sdk.put_object(client, "bkt", "parent-1", b"p", {})
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_put_in_child, args=(client, queue))
    child.start()
    assert queue.get(timeout=30) == "done"
    child.join(30)
    sdk.put_object(client, "bkt", "parent-2", b"p", {})
    paths = [r[1] for r in recorder.requests]
    assert paths == ["/bkt/parent-1", "/bkt/child", "/bkt/parent-2"]
    parent_port, child_port, parent_again = recorder.ports
    assert child_port != parent_port and parent_again == parent_port


def test_a_trace_turned_on_later_sees_the_puts(recorder: Recorder) -> None:
    client = client_for(recorder.endpoint)
    sdk.put_object(client, "bkt", "before", b"1", {})
    trace = io.StringIO()
    client.trace_on(trace)
    sdk.put_object(client, "bkt", "after", b"2", {})
    assert "PUT /bkt/after" in trace.getvalue()
    client.trace_off()
    sdk.put_object(client, "bkt", "again", b"3", {})
    assert "again" not in trace.getvalue()


def test_an_answer_that_is_not_s3s_is_a_storage_error_naming_the_status(recorder: Recorder) -> None:
    recorder.answer = (413, "text/html", b"<html>413 Request Entity Too Large</html>")
    storage = MinioBackend(
        bucket_name="bkt",
        endpoint=recorder.endpoint,
        access_key="AKIDEXAMPLE",
        secret_key="secret",
        use_https=False,
        region="us-east-1",
        conditional_writes=True,
        bucket_check_on_save=False,
    )
    with pytest.raises(StorageError, match="413") as info:
        storage.save("big.bin", ContentFile(b"x"))
    assert info.value.__cause__ is not None and info.value.__cause__.__traceback__ is None


def test_a_redirect_is_an_error_and_the_body_goes_nowhere_else(recorder: Recorder) -> None:
    recorder.answer = (307, "text/plain", b"moved")
    with pytest.raises(InvalidResponseError):
        sdk.put_object(client_for(recorder.endpoint, "token"), "bkt", "k", b"body", {})
    assert [r[1] for r in recorder.requests] == ["/bkt/k"]


def test_a_child_forked_while_threads_make_requests_does_not_hang(storage: MinioBackend) -> None:
    # A lock of the pools held by another thread at the fork stays held in the child.
    name = storage.save("x.txt", ContentFile(b"x"))
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # many thread switches: a fork lands inside a locked section
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            storage.exists(name)

    threads = [threading.Thread(target=busy) for _ in range(8)]
    for thread in threads:
        thread.start()
    hung = 0
    try:
        for _ in range(100):
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            deadline = time.monotonic() + 5
            while not os.waitpid(pid, os.WNOHANG)[0]:
                if time.monotonic() > deadline:
                    hung += 1
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.005)
    finally:
        stop.set()
        sys.setswitchinterval(previous)
        for thread in threads:
            thread.join(30)
    assert hung == 0


@pytest.mark.skipif(
    urllib3.__version__.startswith("1."),
    reason="urllib3 1.26's PoolManager follows redirects with its default Retry, whatever the pool's (the "
    "put route passes redirect=False itself)",
)
def test_the_sdks_own_path_does_not_follow_redirects_either(recorder: Recorder) -> None:
    recorder.answer = (307, "text/plain", b"moved")
    client = client_for(recorder.endpoint, "token")
    client.trace_on(io.StringIO())  # the route steps aside: the SDK sends the PUT
    with pytest.raises(InvalidResponseError):
        sdk.put_object(client, "bkt", "k", b"body", {})
    assert [r[1] for r in recorder.requests] == ["/bkt/k"]


def test_a_child_forked_while_another_thread_holds_our_locks_can_save_and_stat(
    bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    import _strptime

    from django_minio_backend import buckets, capabilities, manager

    storage = make_storage(bucket, conditional_writes=False)  # name locks: the module locks are taken
    storage.save("warm.txt", ContentFile(b"w"))
    locks = [
        *upload._LOCKS,
        upload._pending_lock,
        capabilities._lock,
        manager._lock,
        buckets._known_lock,
        _strptime._cache_lock,  # type: ignore[attr-defined]
    ]
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # a parent thread in the middle of saves, probes and stats at the fork
        for lock in locks:
            lock.acquire()
        held.set()
        release.wait(60)
        for lock in locks:
            lock.release()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(30)
    try:
        pid = os.fork()
        if pid == 0:
            ok = False
            try:
                ok = storage.save("warm.txt", ContentFile(b"c")) != "warm.txt" and storage.exists("warm.txt")
            finally:
                os._exit(0 if ok else 1)  # never back into pytest, whatever happened
        deadline = time.monotonic() + 30
        while not (status := os.waitpid(pid, os.WNOHANG))[0]:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the child hung on a lock another thread of its parent held")
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(status[1]) == 0
    finally:
        release.set()
        holder.join(30)
