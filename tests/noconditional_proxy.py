"""An HTTP proxy in front of a real S3 server that makes it behave like one without conditional writes.

``NoConditionalProxy`` listens on a free 127.0.0.1 port and forwards every request to the
upstream server, except that it removes ``If-None-Match`` and ``If-Match`` from writes and signs
the request again (AWS SigV4 header authentication, same credentials). The server then stores
what a server without conditional writes would store: a create-only PUT over an existing key
overwrites it, silently::

    with NoConditionalProxy(server.endpoint, server.secret_key) as proxy:
        client = Minio(proxy.endpoint, server.access_key, server.secret_key, secure=False)

Modes:

* ``"all"``: every PUT and POST loses its write conditions (older MinIO, versitygw).
* ``"complete"``: only CompleteMultipartUpload (POST with ``uploadId``) loses them; conditional
  PUT and CopyObject still work.
* ``"ceph"``: CompleteMultipartUpload and CopyObject (PUT with ``x-amz-copy-source``) lose them;
  a plain conditional PUT still works. Ceph RGW 16.2 behaves so (benchmarks/server_probe.py).

Reads keep ``If-Match``/``If-None-Match``: servers without conditional writes still honour
conditional GET and HEAD. Requests without a condition and presigned (query-signed) requests are
forwarded unchanged (a presigned URL's signature would break; minio never sends conditions on
them). Bodies stream through in 64 KiB pieces whatever their payload hash (``UNSIGNED-PAYLOAD`` or
a SHA-256 the proxy never needs to check). ``aws-chunked`` bodies
(``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``) chain their chunk signatures to the header's signature, so
they cannot be signed again; the proxy refuses them with 501 (minio-py never sends them).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import re
import socket
import sys
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote

__all__ = ["NoConditionalProxy", "resign_v4"]

_HOST = "127.0.0.1"
_BUF = 64 * 1024
_IDLE_TIMEOUT = 30.0  # seconds before an idle client connection is closed
_UPSTREAM_TIMEOUT = 60.0
_Request = socket.socket | tuple[bytes, socket.socket]
_CONDITIONS = frozenset({"if-none-match", "if-match"})
_MODES = ("all", "complete", "ceph")
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-fA-F]+)"
)
# Connection-level headers belong to one hop; http.client adds its own framing.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"})


def _uri_encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _canonical_query(query: str) -> str:
    pairs = []
    for item in query.split("&") if query else []:
        name, _, value = item.partition("=")
        pairs.append((_uri_encode(unquote(name)), _uri_encode(unquote(value))))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def resign_v4(
    method: str, target: str, headers: list[tuple[str, str]], secret_key: str, removed: Iterable[str]
) -> list[tuple[str, str]]:
    """Return ``headers`` with ``Authorization`` signed again without the ``removed`` headers.

    The credential scope, date and payload hash of the original signature are kept; only the
    signed header list shrinks. A request that is not SigV4 header-signed is returned unchanged.
    """
    gone = {name.lower() for name in removed}
    auth_index = next((i for i, (name, _) in enumerate(headers) if name.lower() == "authorization"), None)
    match = _AUTH.match(headers[auth_index][1]) if auth_index is not None else None
    if auth_index is None or match is None:
        return headers
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(" ".join(value.split()))
    signed = [name for name in match["signed"].lower().split(";") if name not in gone]
    canonical_headers = "".join(f"{name}:{','.join(values.get(name, []))}\n" for name in signed)
    path, _, query = target.partition("?")
    payload_hash = values.get("x-amz-content-sha256", ["UNSIGNED-PAYLOAD"])[0]
    canonical_request = "\n".join(
        [method, path, _canonical_query(query), canonical_headers, ";".join(signed), payload_hash]
    )
    credential = match["credential"]
    _, day, region, service, terminal = credential.split("/")
    scope = f"{day}/{region}/{service}/{terminal}"
    amz_date = values.get("x-amz-date", [""])[0]
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    string_to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{digest}"
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, service, terminal):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    auth = (
        f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={';'.join(signed)}, Signature={signature}"
    )
    out = list(headers)
    out[auth_index] = (headers[auth_index][0], auth)
    return out


class NoConditionalProxy:
    """Threaded HTTP proxy on 127.0.0.1 that strips write conditions and re-signs (see module doc).

    ``stripped`` counts the requests that lost a condition header; ``requests`` counts all.
    """

    def __init__(self, upstream: str, secret_key: str, *, mode: str = "all") -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, not {mode!r}")
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.secret_key = secret_key
        self.mode = mode
        self._lock = threading.Lock()
        self._stripped = 0
        self._requests = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """``"127.0.0.1:PORT"``, for ``Minio(proxy.endpoint, ...)``."""
        if self._server is None:
            raise RuntimeError("NoConditionalProxy not started")
        return f"{_HOST}:{self._server.server_address[1]}"

    @property
    def stripped(self) -> int:
        with self._lock:
            return self._stripped

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    def start(self) -> str:
        """Bind a free port and serve in a daemon thread; return the endpoint."""
        if self._server is not None:
            raise RuntimeError("NoConditionalProxy already started")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"noconditional-proxy[{self._server.server_address[1]}]",
            daemon=True,
        )
        self._thread.start()
        return self.endpoint

    def stop(self) -> None:
        """Stop accepting, close every client connection, join the serving thread. Idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> NoConditionalProxy:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def drops_conditions(self, method: str, target: str, copy: bool = False) -> bool:
        """Whether a request loses its write conditions; ``copy``: it has ``x-amz-copy-source``."""
        if method not in ("PUT", "POST"):
            return False
        if self.mode == "all":
            return True
        query = target.partition("?")[2]
        complete = method == "POST" and any(p.partition("=")[0] == "uploadId" for p in query.split("&"))
        # UploadPartCopy also carries x-amz-copy-source; conditions on it are about the source.
        copy_object = method == "PUT" and copy and not query
        return complete or (self.mode == "ceph" and copy_object)

    def _count(self, *, stripped: bool) -> None:
        with self._lock:
            self._requests += 1
            self._stripped += stripped


class _ClientGone(Exception):
    """The client closed its connection in the middle of a request body."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, proxy: NoConditionalProxy) -> None:
        self.proxy = proxy
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((_HOST, 0), _Handler)

    # A TCP server's requests are sockets; the base class also allows datagram tuples.
    def process_request(self, request: _Request, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._open_lock:
                self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: _Request) -> None:
        if isinstance(request, socket.socket):
            with self._open_lock:
                self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: _Request, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that left is no error
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT
    server: _Server
    _upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: object) -> None:
        pass

    def finish(self) -> None:
        super().finish()
        if self._upstream is not None:
            self._upstream.close()

    def do_GET(self) -> None:
        self._forward()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = do_GET

    def _forward(self) -> None:
        proxy = self.server.proxy
        headers = [(name, value) for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP]
        present = {name.lower() for name, _ in headers}
        payload = self.headers.get("x-amz-content-sha256", "")
        copy = "x-amz-copy-source" in present
        presigned = "x-amz-signature=" in self.path.partition("?")[2].lower()
        strip = (
            not presigned
            and bool(present & _CONDITIONS)
            and proxy.drops_conditions(self.command, self.path, copy)
        )
        if strip and payload.startswith("STREAMING-"):
            self._send_error(501, "aws-chunked bodies cannot be signed again by NoConditionalProxy")
            return
        if strip:
            headers = [(name, value) for name, value in headers if name.lower() not in _CONDITIONS]
            headers = resign_v4(self.command, self.path, headers, proxy.secret_key, _CONDITIONS)
        proxy._count(stripped=strip)
        try:
            response = self._send_upstream(headers)
        except _ClientGone:
            self.close_connection = True
            return
        except OSError as e:
            self._send_error(502, f"upstream unreachable: {e}")
            return
        self._relay(response)

    def _send_upstream(self, headers: list[tuple[str, str]]) -> http.client.HTTPResponse:
        if self._upstream is None:
            host, port = self.server.proxy.upstream
            self._upstream = http.client.HTTPConnection(host, port, timeout=_UPSTREAM_TIMEOUT)
        conn = self._upstream
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._copy_chunked(conn)
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0:
                data = self.rfile.read(min(_BUF, remaining))
                if not data:
                    raise _ClientGone
                conn.send(data)
                remaining -= len(data)
        return conn.getresponse()

    def _copy_chunked(self, conn: http.client.HTTPConnection) -> None:
        """Forward a chunked body as it is, chunk headers and trailers included."""
        while True:
            line = self.rfile.readline(_BUF)
            conn.send(line)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (trailer := self.rfile.readline(_BUF)) not in (b"\r\n", b"\n", b""):
                    conn.send(trailer)
                conn.send(b"\r\n")
                return
            conn.send(self.rfile.read(size + 2))

    def _relay(self, response: http.client.HTTPResponse) -> None:
        chunked = response.chunked
        body = response.read() if chunked else None  # small (XML answers); sent with a length
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            lower = name.lower()
            if lower in _HOP_BY_HOP or (chunked and lower == "transfer-encoding"):
                continue
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Length", str(len(body)))
        if response.will_close:
            self.send_header("Connection", "close")
            self._upstream = None
        self.end_headers()
        if body is not None:
            self.wfile.write(body)
        else:
            while data := response.read(_BUF):
                self.wfile.write(data)
        response.close()

    def _send_error(self, status: int, message: str) -> None:
        body = f"<Error><Code>ProxyError</Code><Message>{message}</Message></Error>".encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True
