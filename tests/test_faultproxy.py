"""Tests of the fault-injection proxy itself, against a tiny local HTTP server."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

try:  # tests/ as a package or as a plain rootdir-inserted directory
    from .faultproxy import FaultProxy
except ImportError:
    from faultproxy import FaultProxy

SMALL = b"hello from upstream\n"
BIG = bytes(range(256)) * 800  # 200 KiB
UPLOAD = b"u" * (200 * 1024)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5
    server: _Upstream

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(BIG if self.path == "/big" else SMALL)

    def do_PUT(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.puts.append(len(data))
        self._send(str(len(data)).encode())


class _Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.puts: list[int] = []

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # faults make the handler see broken connections; that's expected


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    server = _Upstream()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)


@pytest.fixture
def proxy(upstream: _Upstream) -> Iterator[FaultProxy]:
    host, port = upstream.server_address[:2]
    with FaultProxy((str(host), int(port))) as p:
        yield p


def _connect(proxy: FaultProxy, timeout: float = 5.0) -> http.client.HTTPConnection:
    host, port = proxy.address
    return http.client.HTTPConnection(host, port, timeout=timeout)


def _request(
    proxy: FaultProxy,
    method: str = "GET",
    path: str = "/",
    body: bytes | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes, http.client.HTTPMessage]:
    conn = _connect(proxy, timeout)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, response.read(), response.msg
    finally:
        conn.close()


def test_endpoint_and_validation(proxy: FaultProxy) -> None:
    host, port = proxy.address
    assert host == "127.0.0.1"
    assert proxy.endpoint == f"127.0.0.1:{port}"
    with pytest.raises(ValueError):
        proxy.reset_after(10, direction="sideways")
    with pytest.raises(ValueError):
        proxy.reset_after(-1)
    with pytest.raises(ValueError):
        proxy.reset_after(1, times=0)
    with pytest.raises(ValueError):
        proxy.slow(0)
    with pytest.raises(ValueError):
        proxy.fail_http(200)
    with pytest.raises(RuntimeError):
        proxy.start()


def test_pass_through(proxy: FaultProxy, upstream: _Upstream) -> None:
    assert _request(proxy)[:2] == (200, SMALL)
    assert _request(proxy, path="/big")[:2] == (200, BIG)
    status, body, _ = _request(proxy, "PUT", "/obj", UPLOAD)
    assert (status, body) == (200, str(len(UPLOAD)).encode())
    assert upstream.puts == [len(UPLOAD)]
    # keep-alive: two requests on one connection
    conn = _connect(proxy)
    try:
        for _ in range(2):
            conn.request("GET", "/")
            response = conn.getresponse()
            assert response.read() == SMALL
    finally:
        conn.close()
    assert proxy.connections == 4
    assert proxy.bytes_up > len(UPLOAD)
    assert proxy.bytes_down > len(BIG) + 3 * len(SMALL)
    assert proxy.requests_failed == 0


def test_reset_after_down_raw_socket_sees_rst(proxy: FaultProxy) -> None:
    proxy.reset_after(1000, direction="down")
    received = 0
    with socket.create_connection(proxy.address, timeout=5) as sock:
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break  # a FIN instead of an RST fails the test
                received += len(chunk)
    assert 0 < received <= 1000


def test_reset_after_down_http_client(proxy: FaultProxy) -> None:
    proxy.reset_after(1000, direction="down")
    with pytest.raises(ConnectionResetError):
        _request(proxy, path="/big")


def test_reset_after_up_times(proxy: FaultProxy, upstream: _Upstream) -> None:
    proxy.reset_after(1000, direction="up", times=1)
    with pytest.raises(ConnectionError):
        _request(proxy, "PUT", "/obj", UPLOAD)
    # only the next connection was affected
    status, body, _ = _request(proxy, "PUT", "/obj", UPLOAD)
    assert (status, body) == (200, str(len(UPLOAD)).encode())
    assert upstream.puts.count(len(UPLOAD)) == 1
    assert proxy.bytes_up >= 1000 + len(UPLOAD)


def test_reset_after_applies_to_live_connection(proxy: FaultProxy) -> None:
    conn = _connect(proxy)
    try:
        conn.request("GET", "/")
        assert conn.getresponse().read() == SMALL
        proxy.reset_after(0, direction="down")  # times=None: live ones too
        conn.request("GET", "/big")
        with pytest.raises(ConnectionResetError):
            conn.getresponse().read()
    finally:
        conn.close()


def test_refuse(proxy: FaultProxy) -> None:
    proxy.refuse()
    with pytest.raises(ConnectionError):
        _request(proxy)
    with pytest.raises(ConnectionError):
        _request(proxy, "PUT", "/obj", UPLOAD)
    assert proxy.connections == 2
    proxy.clear()
    assert _request(proxy)[:2] == (200, SMALL)


def test_stall_times_out_then_clear_passes(proxy: FaultProxy) -> None:
    proxy.stall(after_bytes=0, direction="up")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        _request(proxy, timeout=1.0)
    assert time.monotonic() - started >= 0.9
    proxy.clear()
    assert _request(proxy)[:2] == (200, SMALL)


def test_stall_down_then_live_resume(proxy: FaultProxy) -> None:
    proxy.stall(after_bytes=4096, direction="down")
    result: list[tuple[int, bytes]] = []

    def fetch() -> None:
        status, body, _ = _request(proxy, path="/big", timeout=5.0)
        result.append((status, body))

    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    thread.join(timeout=0.5)
    assert thread.is_alive()  # held after 4 KiB
    assert proxy.bytes_down <= 4096
    proxy.clear()  # the live, stalled connection resumes
    thread.join(timeout=5)
    assert result == [(200, BIG)]


def test_slow(proxy: FaultProxy) -> None:
    proxy.slow(200 * 1024)
    started = time.monotonic()
    assert _request(proxy, path="/big")[:2] == (200, BIG)
    assert time.monotonic() - started >= 0.5


def test_fail_http_once_then_pass_through(proxy: FaultProxy, upstream: _Upstream) -> None:
    proxy.fail_http(503, times=1)
    status, body, headers = _request(proxy, "PUT", "/bucket/key?x=1", UPLOAD)
    assert status == 503
    assert headers["Connection"] == "close"
    assert headers["Content-Type"] == "application/xml"
    assert int(headers["Content-Length"]) == len(body)
    assert b"<Code>ServiceUnavailable</Code>" in body
    assert b"<Resource>/bucket/key</Resource>" in body
    assert upstream.puts == []  # not forwarded
    assert proxy.requests_failed == 1
    status, body, _ = _request(proxy, "PUT", "/bucket/key", UPLOAD)
    assert (status, body) == (200, str(len(UPLOAD)).encode())
    assert upstream.puts == [len(UPLOAD)]
    assert proxy.requests_failed == 1


def test_fail_http_500_head_chunked_and_expect(proxy: FaultProxy) -> None:
    proxy.fail_http(500, times=3)
    status, body, headers = _request(proxy, "HEAD", "/bucket/key")
    assert (status, body) == (500, b"")
    assert int(headers["Content-Length"]) > 0  # size of the omitted body
    # chunked request body is read and discarded
    conn = _connect(proxy)
    try:
        conn.request("PUT", "/k", body=iter([b"a" * 5000, b"b" * 70000]))
        response = conn.getresponse()
        assert response.status == 500
        assert b"<Code>InternalError</Code>" in response.read()
    finally:
        conn.close()
    # Expect: 100-continue gets the final status without sending the body
    with socket.create_connection(proxy.address, timeout=5) as sock:
        sock.sendall(b"PUT /k HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert reply.endswith(b"</Error>")
    assert proxy.requests_failed == 3
    assert _request(proxy)[:2] == (200, SMALL)


def test_fail_http_ticket_returned_for_empty_connection(proxy: FaultProxy) -> None:
    proxy.fail_http(503, times=1)
    socket.create_connection(proxy.address, timeout=5).close()
    # wait until that connection has been accepted and its thread has finished
    conn_prefix = f"{proxy.thread_name_prefix}-conn-"
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and (
        proxy.connections < 1 or any(t.name.startswith(conn_prefix) for t in threading.enumerate())
    ):
        time.sleep(0.01)
    assert _request(proxy)[0] == 503
    assert _request(proxy)[0] == 200


def test_stop_leaves_no_threads(upstream: _Upstream) -> None:
    host, port = upstream.server_address[:2]
    proxy = FaultProxy((str(host), int(port)))
    proxy.start()
    prefix = proxy.thread_name_prefix
    idle = _connect(proxy)
    idle.request("GET", "/")
    assert idle.getresponse().read() == SMALL  # keep-alive connection stays open
    proxy.stall(direction="up")
    held = socket.create_connection(proxy.address, timeout=5)
    held.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    deadline = time.monotonic() + 2
    while proxy.connections < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    names = [t.name for t in threading.enumerate() if t.name.startswith(prefix)]
    assert len(names) == 3  # listener + two connections

    started = time.monotonic()
    proxy.stop()
    assert time.monotonic() - started < 3
    assert [t.name for t in threading.enumerate() if t.name.startswith(prefix)] == []
    # live connections were closed, and nothing listens any more
    # (the stalled request is unread, so the kernel may turn close into RST)
    with contextlib.suppress(ConnectionResetError):
        assert held.recv(100) == b""
    held.close()
    idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proxy.address, timeout=2).close()
    proxy.stop()  # idempotent
