"""A TCP relay on loopback that counts the bytes clients send through it, for tests and benchmarks.

    relay = ByteRelay(upstream_port)   # listens on 127.0.0.1:relay.port
    ...
    relay.sent                         # bytes clients sent towards upstream since reset()
    relay.marked_at                    # time.monotonic() when ``mark`` bytes had gone through

It forwards bytes as they come and parses nothing, so what it counts is what
reached the server behind it (a Django process, an S3 server).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

__all__ = ["ByteRelay"]


class ByteRelay:
    """Forward 127.0.0.1:``port`` to 127.0.0.1:``upstream``, counting the bytes sent upstream."""

    def __init__(self, upstream: int, *, mark: int = 1024 * 1024) -> None:
        self.upstream = upstream
        self.mark = mark
        self.sent = 0
        self.marked_at: float | None = None
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="dmb-relay").start()

    def reset(self) -> None:
        with self._lock:
            self.sent, self.marked_at = 0, None

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:  # the server behind is not listening (yet)
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, count: bool) -> None:
        try:
            while chunk := source.recv(256 * 1024):
                if count:
                    with self._lock:
                        self.sent += len(chunk)
                        if self.marked_at is None and self.sent >= self.mark:
                            self.marked_at = time.monotonic()
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
