"""A tiny HTTP/1.1 reverse proxy on loopback that counts requests.

Every contender talks S3 through it for the request-count figures, so counts
come from the wire, not from any library's internals. It forwards bytes as they
come (``Expect: 100-continue`` works), parses only the framing (request and
status lines, headers, ``Content-Length`` or chunked bodies) and keeps the
``Host`` header as sent, so SigV4 signatures stay valid.

A second, tiny HTTP server on another loopback port is the control channel::

    GET /reset     -> forget all counts
    GET /snapshot  -> {"requests": n, "by_kind": {"PUT 200": 1, "HEAD 404": 2, ...}}
"""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
RELAY = 256 * 1024


class Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.by_kind: collections.Counter[str] = collections.Counter()

    def request(self) -> None:
        with self.lock:
            self.requests += 1

    def response(self, method: str, status: int) -> None:
        with self.lock:
            self.by_kind[f"{method} {status}"] += 1

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.by_kind.clear()

    def snapshot(self) -> dict:
        with self.lock:
            return {"requests": self.requests, "by_kind": dict(sorted(self.by_kind.items()))}


def _read_head(rfile) -> tuple[bytes, list[bytes]] | None:
    """The start line and header lines of one message, or None at EOF."""
    line = rfile.readline(65537)
    while line in (b"\r\n", b"\n"):  # tolerate stray CRLF between messages
        line = rfile.readline(65537)
    if not line:
        return None
    headers = []
    while True:
        h = rfile.readline(65537)
        if not h:
            return None
        if h in (b"\r\n", b"\n"):
            break
        headers.append(h)
    return line, headers


def _framing(headers: list[bytes]) -> tuple[bool, int | None]:
    chunked, length = False, None
    for h in headers:
        name, _, value = h.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"content-length":
            length = int(value.strip())
    return chunked, length


def _relay_exact(rfile, sock: socket.socket, n: int) -> None:
    while n > 0:
        data = rfile.read(min(n, RELAY))
        if not data:
            raise ConnectionError("peer closed inside a body")
        sock.sendall(data)
        n -= len(data)


def _relay_chunked(rfile, sock: socket.socket) -> None:
    while True:
        size_line = rfile.readline(65537)
        if not size_line:
            raise ConnectionError("peer closed inside a chunked body")
        sock.sendall(size_line)
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:  # trailers, then the closing CRLF
                t = rfile.readline(65537)
                sock.sendall(t)
                if t in (b"\r\n", b"\n", b""):
                    return
        _relay_exact(rfile, sock, size + 2)  # data + CRLF


def _relay_to_eof(rfile, sock: socket.socket) -> None:
    while data := rfile.read1(RELAY):
        sock.sendall(data)


class CountingProxy:
    """Forwards loopback connections to ``upstream`` ("host:port") and counts requests."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.counts = Counts()
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        self.endpoint = f"{HOST}:{self.port}"
        self._control = ThreadingHTTPServer((HOST, 0), self._control_handler())
        self.control_url = f"http://{HOST}:{self._control.server_address[1]}"
        self._threads: list[threading.Thread] = []
        self._stopping = False

    # -- control ------------------------------------------------------------------

    def _control_handler(self):
        counts = self.counts

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/reset":
                    counts.reset()
                    body = b"{}"
                elif self.path == "/snapshot":
                    body = json.dumps(counts.snapshot()).encode()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        return Handler

    # -- proxying -----------------------------------------------------------------

    def start(self) -> CountingProxy:
        for target in (self._accept_loop, self._control.serve_forever):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stopping = True
        self._control.shutdown()
        self._control.server_close()
        self._listener.close()

    def __enter__(self) -> CountingProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        methods: collections.deque[str] = collections.deque()
        ready = threading.Semaphore(0)
        t = threading.Thread(target=self._responses, args=(upstream, client, methods, ready), daemon=True)
        t.start()
        try:
            self._requests(client, upstream, methods, ready)
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)
            ready.release()  # wake the response side if it waits for a request
            t.join()
            client.close()
            upstream.close()

    def _requests(self, client, upstream, methods, ready) -> None:
        rfile = client.makefile("rb", buffering=RELAY)
        while True:
            head = _read_head(rfile)
            if head is None:
                return
            start, headers = head
            method = start.split(b" ", 1)[0].decode("ascii", "replace")
            self.counts.request()
            methods.append(method)
            ready.release()
            upstream.sendall(start + b"".join(headers) + b"\r\n")
            chunked, length = _framing(headers)
            if chunked:
                _relay_chunked(rfile, upstream)
            elif length:
                _relay_exact(rfile, upstream, length)

    def _responses(self, upstream, client, methods, ready) -> None:
        rfile = upstream.makefile("rb", buffering=RELAY)
        try:
            while True:
                head = _read_head(rfile)
                if head is None:
                    return
                start, headers = head
                status = int(start.split(b" ", 2)[1])
                if 100 <= status < 200:  # interim (100 Continue): the final answer follows
                    client.sendall(start + b"".join(headers) + b"\r\n")
                    continue
                ready.acquire()
                method = methods.popleft() if methods else "?"
                # Counted before the client can see the answer: no race with a snapshot.
                self.counts.response(method, status)
                client.sendall(start + b"".join(headers) + b"\r\n")
                chunked, length = _framing(headers)
                if method == "HEAD" or status in (204, 304):
                    continue
                if chunked:
                    _relay_chunked(rfile, client)
                elif length is not None:
                    _relay_exact(rfile, client, length)
                else:
                    _relay_to_eof(rfile, client)
                    return
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_WR)


class ProxyControl:
    """The worker's side of the control channel."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _get(self, path: str) -> dict:
        with self._opener.open(self.url + path, timeout=10) as r:  # loopback only
            return json.loads(r.read())

    def reset(self) -> None:
        self._get("/reset")

    def snapshot(self) -> dict:
        return self._get("/snapshot")
