"""Thread-based TCP fault-injection proxy for tests.

``FaultProxy`` listens on ``127.0.0.1`` on a free port and forwards every
accepted connection to an upstream ``(host, port)``.  Faults can be switched on
and off at any time from the test thread::

    with FaultProxy(("127.0.0.1", 8333)) as proxy:
        client = Minio(proxy.endpoint, ...)
        proxy.reset_after(1024, direction="down", times=1)
        ...
        proxy.clear()

Threads: one listener thread (``faultproxy[PORT]-listener``) plus one thread
per connection (``faultproxy[PORT]-conn-N``) running a small selector loop over
both sockets with 64 KiB buffers.  All threads are daemons and wake up at least
every 0.1 s to notice ``stop()`` and fault changes, so there is no busy loop.

Fault semantics ("up" = client -> server, "down" = server -> client):

* ``reset_after(n)``: up to ``n`` bytes pass in the given direction; when more
  data arrives the client socket is closed with ``SO_LINGER`` 0 (the client
  sees a TCP RST, i.e. ``ConnectionResetError``/``BrokenPipeError``) and the
  upstream socket is closed.  At most ``n`` bytes reach the peer.  With
  ``times=None`` the rule also applies to already-open connections (bytes they
  already moved count); with ``times=N`` only the next ``N`` accepted
  connections get it.
* ``stall(after_bytes=n)``: after ``n`` bytes the direction stops being read
  (nothing more is read from that side, the connection is held open) until
  ``clear()`` or ``stop()``.  Applies to live connections too.
* ``refuse()``: new connections are accepted and immediately reset.
* ``slow(bps)``: each direction of every connection (live ones too) is paced
  to about ``bps`` bytes per second.
* ``fail_http(status, times)``: the next ``times`` *new connections* are not
  forwarded; the proxy reads and discards the first HTTP request on each
  (headers, then a ``Content-Length`` or chunked body, bounded) and answers with
  a minimal HTTP/1.1 S3-style XML error and ``Connection: close``.  Only the
  first request on a fresh connection is handled: requests sent over
  keep-alive connections that were already open when ``fail_http`` was called
  pass through untouched.  Clients reconnect after ``Connection: close``, so
  retries land on new connections.  A connection closed before it sent any
  byte hands its ticket back.

``refuse``, ``fail_http`` and ``reset_after(..., times=N)`` act on new
connections only, so a client that keeps pooled keep-alive connections may
need a fresh pool (or a first request that opens one) to see them.
"""

from __future__ import annotations

import contextlib
import email.utils
import itertools
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from xml.sax.saxutils import escape

__all__ = ["FaultProxy"]

_HOST = "127.0.0.1"
_BUF = 64 * 1024
_POLL = 0.1  # seconds: how often blocked threads look at stop/fault changes
_CONNECT_TIMEOUT = 2.0
_JOIN_TIMEOUT = 3.0  # total bound for stop()
_RESET_FLUSH_GRACE = 0.2  # max wait to flush the allowed bytes before an RST
_PACE_SLICES = 20  # with slow(), read at most bps/20 bytes at a time
_FAIL_READ_TIMEOUT = 5.0  # fail_http: max time to read the request
_FAIL_DRAIN_TIMEOUT = 1.0  # fail_http: max time to wait for the client's EOF
_MAX_HEADER_BYTES = 64 * 1024
_MAX_DISCARD_BYTES = 8 * 1024 * 1024
_DIRECTIONS = ("up", "down")
_LINGER_RST = struct.pack("ii", 1, 0)


@dataclass(frozen=True)
class _ResetRule:
    n_bytes: int
    direction: str


@dataclass(frozen=True)
class _StallRule:
    after_bytes: int
    direction: str


def _check_direction(direction: str) -> None:
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be 'up' or 'down', not {direction!r}")


def _check_non_negative(name: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{name} must be >= 0, not {value}")


def _rst_close(sock: socket.socket) -> None:
    """Close ``sock`` so that the peer gets a TCP RST instead of a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    with contextlib.suppress(OSError):
        sock.close()


def _shutdown_write(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


def _nodelay(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class FaultProxy:
    """TCP proxy on 127.0.0.1 that forwards to ``upstream`` and injects faults.

    Counters (``bytes_up``, ``bytes_down``, ``connections``,
    ``requests_failed``) are thread-safe.  ``bytes_*`` count bytes actually
    forwarded; ``connections`` counts every accepted connection, refused ones
    included; ``requests_failed`` counts requests answered by ``fail_http`` (bumped
    just before the response is sent).
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = (upstream[0], int(upstream[1]))
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._listener_thread: threading.Thread | None = None
        self._address: tuple[str, int] | None = None
        self._conns: set[_Conn] = set()
        self._ids = itertools.count(1)
        # faults (guarded by _lock)
        self._refuse = False
        self._reset: _ResetRule | None = None
        self._reset_times: int | None = None
        self._reset_epoch = 0
        self._stall: _StallRule | None = None
        self._rate: int | None = None
        self._fail_status = 503
        self._fail_remaining = 0
        self._fail_epoch = 0
        # counters (guarded by _lock)
        self._bytes_up = 0
        self._bytes_down = 0
        self._connections = 0
        self._requests_failed = 0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> tuple[str, int]:
        """Bind a free port on 127.0.0.1, start accepting, return the address."""
        if self._listener_thread is not None:
            raise RuntimeError("FaultProxy already started (it is single-use)")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind((_HOST, 0))
            listener.listen(128)
            listener.settimeout(_POLL)
        except OSError:
            listener.close()
            raise
        port = listener.getsockname()[1]
        self._address = (_HOST, port)
        self._listener = listener
        thread = threading.Thread(
            target=self._accept_loop,
            args=(listener,),
            name=f"{self.thread_name_prefix}-listener",
            daemon=True,
        )
        self._listener_thread = thread
        thread.start()
        return self._address

    def stop(self) -> None:
        """Close the listener and every live connection; join threads (bounded).

        Idempotent.  Waits at most a few seconds in total; a thread that is
        still alive after that has its sockets closed from here.
        """
        thread = self._listener_thread
        if thread is None or self._stopping.is_set():
            return
        self._stopping.set()
        deadline = time.monotonic() + _JOIN_TIMEOUT
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if thread.is_alive() and self._listener is not None:
            self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.thread.join(timeout=max(0.0, deadline - time.monotonic()))
        for conn in conns:
            if conn.thread.is_alive():
                conn.close()

    def __enter__(self) -> FaultProxy:
        if self._listener_thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----------------------------------------------------------- addresses

    @property
    def upstream(self) -> tuple[str, int]:
        return self._upstream

    @property
    def address(self) -> tuple[str, int]:
        if self._address is None:
            raise RuntimeError("FaultProxy not started")
        return self._address

    @property
    def endpoint(self) -> str:
        """``"127.0.0.1:PORT"``, e.g. for ``Minio(proxy.endpoint, ...)``."""
        host, port = self.address
        return f"{host}:{port}"

    @property
    def thread_name_prefix(self) -> str:
        """Prefix of the names of every thread this proxy starts."""
        return f"faultproxy[{self.address[1]}]"

    # -------------------------------------------------------------- faults

    def reset_after(self, n_bytes: int, *, direction: str = "up", times: int | None = None) -> None:
        """RST the client once more than ``n_bytes`` flow in ``direction``.

        ``times=None``: every connection, live ones included, until
        ``clear()``.  ``times=N``: only the next ``N`` accepted connections.
        """
        _check_non_negative("n_bytes", n_bytes)
        _check_direction(direction)
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, not {times}")
        with self._lock:
            self._reset = _ResetRule(n_bytes, direction)
            self._reset_times = times
            self._reset_epoch += 1

    def stall(self, *, after_bytes: int = 0, direction: str = "up") -> None:
        """Stop reading ``direction`` after ``after_bytes`` bytes (holds open)."""
        _check_non_negative("after_bytes", after_bytes)
        _check_direction(direction)
        with self._lock:
            self._stall = _StallRule(after_bytes, direction)

    def refuse(self) -> None:
        """Accept new connections and reset them immediately."""
        with self._lock:
            self._refuse = True

    def slow(self, bytes_per_second: int) -> None:
        """Throttle both directions of every connection to ~bytes_per_second."""
        if bytes_per_second < 1:
            raise ValueError(f"bytes_per_second must be >= 1, not {bytes_per_second}")
        with self._lock:
            self._rate = bytes_per_second

    def fail_http(self, status: int = 503, times: int = 1) -> None:
        """Answer the first request of the next ``times`` new connections.

        The request (headers and a bounded body) is read and discarded, then a
        minimal HTTP/1.1 response with an S3-style XML error body
        (``ServiceUnavailable`` for 503, ``InternalError`` otherwise),
        ``Content-Length`` and ``Connection: close`` is sent; nothing is
        forwarded upstream.  Keep-alive connections opened before this call
        are not affected.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"status must be in 400..599, not {status}")
        if times < 1:
            raise ValueError(f"times must be >= 1, not {times}")
        with self._lock:
            self._fail_status = status
            self._fail_remaining = times
            self._fail_epoch += 1

    def clear(self) -> None:
        """Remove every fault: back to plain pass-through (live stalls resume)."""
        with self._lock:
            self._refuse = False
            self._reset = None
            self._reset_times = None
            self._reset_epoch += 1
            self._stall = None
            self._rate = None
            self._fail_remaining = 0
            self._fail_epoch += 1

    # ------------------------------------------------------------ counters

    @property
    def bytes_up(self) -> int:
        with self._lock:
            return self._bytes_up

    @property
    def bytes_down(self) -> int:
        with self._lock:
            return self._bytes_down

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    @property
    def requests_failed(self) -> int:
        with self._lock:
            return self._requests_failed

    # ------------------------------------------------------------ internals

    def _accept_loop(self, listener: socket.socket) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stopping.is_set():
                        break
                    time.sleep(_POLL)  # e.g. EMFILE: back off, don't spin
                    continue
                self._on_accept(client)
        finally:
            listener.close()

    def _on_accept(self, client: socket.socket) -> None:
        reset_claim: tuple[_ResetRule, int] | None = None
        fail_claim: tuple[int, int] | None = None
        with self._lock:
            self._connections += 1
            refuse = self._refuse
            if not refuse:
                if self._fail_remaining > 0:
                    self._fail_remaining -= 1
                    fail_claim = (self._fail_status, self._fail_epoch)
                elif self._reset is not None and self._reset_times is not None:
                    reset_claim = (self._reset, self._reset_epoch)
                    self._reset_times -= 1
                    if self._reset_times == 0:
                        self._reset = None
                        self._reset_times = None
            conn_id = next(self._ids)
        if refuse or self._stopping.is_set():
            _rst_close(client)
            return
        conn = _Conn(self, client, conn_id, reset_claim, fail_claim)
        with self._lock:
            self._conns.add(conn)
        conn.thread.start()

    def _forget(self, conn: _Conn) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _faults_for(self, conn: _Conn) -> tuple[_ResetRule | None, _StallRule | None, int | None]:
        with self._lock:
            reset: _ResetRule | None = None
            claim = conn.reset_claim
            if claim is not None and claim[1] == self._reset_epoch:
                reset = claim[0]
            elif self._reset is not None and self._reset_times is None:
                reset = self._reset
            return reset, self._stall, self._rate

    def _fail_claim_valid(self, claim: tuple[int, int]) -> bool:
        with self._lock:
            return claim[1] == self._fail_epoch

    def _return_fail_ticket(self, claim: tuple[int, int]) -> None:
        with self._lock:
            if claim[1] == self._fail_epoch:
                self._fail_remaining += 1

    def _count(self, direction: str, n: int) -> None:
        with self._lock:
            if direction == "up":
                self._bytes_up += n
            else:
                self._bytes_down += n

    def _count_failed(self) -> None:
        with self._lock:
            self._requests_failed += 1


class _Pipe:
    """One direction of a connection: bytes read from ``src``, sent to ``dst``."""

    __slots__ = (
        "buf",
        "direction",
        "dst",
        "eof",
        "limit",
        "next_at",
        "seen",
        "shut",
        "src",
    )

    def __init__(self, direction: str, src: socket.socket, dst: socket.socket) -> None:
        self.direction = direction
        self.src = src
        self.dst = dst
        self.buf = b""  # read but not yet sent; we only read when it is empty
        self.eof = False  # nothing more will be read from src
        self.shut = False  # dst's write side has been shut down
        self.seen = 0  # bytes read from src so far
        self.next_at = 0.0  # slow(): monotonic time of the next allowed read
        self.limit = 0  # max bytes to read in this loop round (0: don't read)


class _Conn:
    """One proxied connection, served by its own daemon thread."""

    def __init__(
        self,
        proxy: FaultProxy,
        client: socket.socket,
        conn_id: int,
        reset_claim: tuple[_ResetRule, int] | None,
        fail_claim: tuple[int, int] | None,
    ) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self.conn_id = conn_id
        self.reset_claim = reset_claim
        self.fail_claim = fail_claim
        self._stopping = proxy._stopping
        self._closed = False
        self._close_lock = threading.Lock()
        self.thread = threading.Thread(
            target=self._run,
            name=f"{proxy.thread_name_prefix}-conn-{conn_id}",
            daemon=True,
        )

    def close(self, *, rst_client: bool = False, rst_upstream: bool = False) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        for sock, rst in ((self.client, rst_client), (self.upstream, rst_upstream)):
            if sock is None:
                continue
            if rst:
                _rst_close(sock)
            else:
                with contextlib.suppress(OSError):
                    sock.close()

    def _run(self) -> None:
        try:
            claim = self.fail_claim
            if claim is not None and self.proxy._fail_claim_valid(claim):
                self._serve_failure(claim)
                return
            try:
                self.upstream = socket.create_connection(self.proxy.upstream, timeout=_CONNECT_TIMEOUT)
            except OSError:
                self.close(rst_client=True)
                return
            self._pump(self.client, self.upstream)
        finally:
            self.close()
            self.proxy._forget(self)

    # ----------------------------------------------------------- forwarding

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        for sock in (client, upstream):
            sock.setblocking(False)
            _nodelay(sock)
        up = _Pipe("up", client, upstream)
        down = _Pipe("down", upstream, client)
        pipes = (up, down)
        reader_of = {client: up, upstream: down}  # socket -> pipe reading it
        writer_of = {upstream: up, client: down}  # socket -> pipe writing it
        armed: _Pipe | None = None  # reset_after triggered on this pipe
        armed_at = 0.0
        masks = {client: 0, upstream: 0}
        with selectors.DefaultSelector() as sel:
            while not self._stopping.is_set():
                now = time.monotonic()
                if armed is not None and (not armed.buf or now - armed_at > _RESET_FLUSH_GRACE):
                    self.close(rst_client=True)
                    return
                if all(p.eof and not p.buf for p in pipes):
                    for p in pipes:
                        if not p.shut:
                            _shutdown_write(p.dst)
                    return  # both directions finished cleanly

                reset, stall, rate = self.proxy._faults_for(self)
                timeout = _POLL
                want = {client: 0, upstream: 0}
                for p in pipes:
                    if p.buf:
                        want[p.dst] |= selectors.EVENT_WRITE
                        continue
                    if p.eof:
                        if not p.shut:
                            p.shut = True
                            _shutdown_write(p.dst)
                        continue
                    p.limit = 0
                    if armed is not None:
                        continue
                    limit = _BUF
                    if stall is not None and stall.direction == p.direction:
                        limit = min(limit, stall.after_bytes - p.seen)
                    if rate is not None:
                        limit = min(limit, max(1, rate // _PACE_SLICES))
                        wait = p.next_at - now
                        if wait > 0:
                            timeout = min(timeout, wait)
                            limit = 0
                    if limit > 0:
                        p.limit = limit
                        want[p.src] |= selectors.EVENT_READ
                for sock, mask in want.items():
                    old = masks[sock]
                    if mask == old:
                        continue
                    if old == 0:
                        sel.register(sock, mask)
                    elif mask == 0:
                        sel.unregister(sock)
                    else:
                        sel.modify(sock, mask)
                    masks[sock] = mask

                for key, events in sel.select(timeout):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if events & selectors.EVENT_READ:
                        p = reader_of[sock]
                        try:
                            data = sock.recv(p.limit)
                        except (BlockingIOError, InterruptedError):
                            data = None
                        except OSError:
                            # a peer reset or failed: pass the abort on
                            self.close(rst_client=True, rst_upstream=True)
                            return
                        if data is not None and not data:
                            p.eof = True
                        elif data:
                            if (
                                reset is not None
                                and reset.direction == p.direction
                                and p.seen + len(data) > reset.n_bytes
                            ):
                                data = data[: max(0, reset.n_bytes - p.seen)]
                                armed = p
                                armed_at = time.monotonic()
                            p.seen += len(data)
                            p.buf = data
                            if rate is not None:
                                start = max(p.next_at, time.monotonic())
                                p.next_at = start + len(data) / rate
                    if events & selectors.EVENT_WRITE:
                        p = writer_of[sock]
                        if not p.buf:
                            continue
                        try:
                            sent = sock.send(p.buf)
                        except (BlockingIOError, InterruptedError):
                            continue
                        except OSError:
                            # the destination is gone: drop this direction,
                            # let the other one finish (e.g. an early response)
                            p.buf = b""
                            p.eof = True
                            p.shut = True
                            continue
                        p.buf = p.buf[sent:]
                        self.proxy._count(p.direction, sent)

    # -------------------------------------------------------------- fail_http

    def _serve_failure(self, claim: tuple[int, int]) -> None:
        status = claim[0]
        sock = self.client
        sock.settimeout(_POLL)
        reader = _RequestReader(sock, self._stopping, _FAIL_READ_TIMEOUT)
        head = reader.read_until(b"\r\n\r\n", _MAX_HEADER_BYTES)
        if reader.received == 0:
            # closed (or stopped) before sending anything: not a request
            self.proxy._return_fail_ticket(claim)
            return
        method, target, headers = _parse_head(head if head is not None else b"")
        if head is not None:
            _discard_body(reader, headers)
        request_id = f"FAULTPROXY{self.conn_id:08X}"
        response = _error_response(status, method, target, request_id)
        # count first, so a client that has seen the response sees the count
        self.proxy._count_failed()
        sock.settimeout(_CONNECT_TIMEOUT)
        try:
            sock.sendall(response)
        except OSError:
            return
        _shutdown_write(sock)
        # Wait (bounded) for the client to close so that unread request bytes
        # don't turn our close into an RST that could eat the response.
        sock.settimeout(_POLL)
        reader.restart(_FAIL_DRAIN_TIMEOUT)
        while reader.fill():
            reader.buf.clear()


class _RequestReader:
    """Minimal buffered reader over a socket with a 0.1 s timeout."""

    def __init__(self, sock: socket.socket, stopping: threading.Event, timeout: float) -> None:
        self.sock = sock
        self.stopping = stopping
        self.deadline = time.monotonic() + timeout
        self.buf = bytearray()
        self.received = 0

    def restart(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout

    def fill(self) -> bool:
        """Read one chunk into ``buf``; False on EOF, error, deadline or stop."""
        while not self.stopping.is_set() and time.monotonic() < self.deadline:
            try:
                chunk = self.sock.recv(_BUF)
            except TimeoutError:
                continue
            except OSError:
                return False
            if not chunk:
                return False
            self.received += len(chunk)
            self.buf += chunk
            return True
        return False

    def read_until(self, sep: bytes, limit: int) -> bytes | None:
        """Return the bytes before ``sep`` (consuming both), None if not found."""
        while True:
            index = self.buf.find(sep)
            if index >= 0:
                out = bytes(self.buf[:index])
                del self.buf[: index + len(sep)]
                return out
            if len(self.buf) > limit or not self.fill():
                return None

    def skip(self, n: int) -> bool:
        while n > 0:
            if not self.buf and not self.fill():
                return False
            take = min(n, len(self.buf))
            del self.buf[:take]
            n -= take
        return True


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    method = parts[0].upper() if parts[0] else "GET"
    target = parts[1] if len(parts) > 1 else "/"
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


def _discard_body(reader: _RequestReader, headers: dict[str, str]) -> None:
    """Read and drop the request body (bounded by size and time)."""
    if headers.get("expect", "").lower() == "100-continue":
        return  # the client waits for us: a final status instead of 100 is fine
    if "chunked" in headers.get("transfer-encoding", "").lower():
        total = 0
        while True:
            line = reader.read_until(b"\r\n", 4096)
            if line is None:
                return
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                return
            if size == 0:
                while reader.read_until(b"\r\n", 4096):  # trailers
                    pass
                return
            total += size
            if total > _MAX_DISCARD_BYTES or not reader.skip(size + 2):
                return
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        return
    reader.skip(min(max(length, 0), _MAX_DISCARD_BYTES))


def _error_response(status: int, method: str, target: str, request_id: str) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    if status == 503:
        code = "ServiceUnavailable"
        message = "Please reduce your request rate. (injected by FaultProxy)"
    else:
        code = "InternalError"
        message = "We encountered an internal error. Please try again. (injected by FaultProxy)"
    resource = target.split("?", 1)[0] or "/"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource>"
        f"<RequestId>{request_id}</RequestId><HostId>faultproxy</HostId></Error>"
    ).encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\n"
        "Server: faultproxy\r\n"
        f"Date: {email.utils.formatdate(usegmt=True)}\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"x-amz-request-id: {request_id}\r\n"
        "Connection: close\r\n"
        "\r\n"
    ).encode("latin-1")
    return head if method == "HEAD" else head + body
