"""Run a throwaway single-host Ceph RADOS Gateway (S3) for tests.

One monitor, one OSD keeping its data in RAM (``memstore``, capped) and radosgw, all on
127.0.0.1 ports picked at runtime, from Debian's ``ceph-mon``, ``ceph-osd`` and ``radosgw``
packages (``.ci/install-ceph``)::

    with CephRGW() as server:
        client = Minio(server.endpoint, server.access_key, server.secret_key,
                       secure=False, region=server.region)

No manager daemon (hence no telemetry module) and no authentication inside the cluster:
nothing listens beyond loopback and the cluster lives only as long as the context.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO

from django_minio_backend.testing.seaweedfs import DEFAULT_REGION, S3Server, free_port, wait_for_s3

__all__ = ["CephRGW", "find_ceph_binaries"]

_HOST = "127.0.0.1"
_MiB = 1024 * 1024
# Every program the launcher runs, and the Debian package that ships it.
_PROGRAMS = {
    "monmaptool": "ceph-base",
    "ceph": "ceph-common",
    "ceph-mon": "ceph-mon",
    "ceph-osd": "ceph-osd",
    "radosgw": "radosgw",
    "radosgw-admin": "radosgw",
}
_INSTALL_HINT = (
    "install Debian's packages: `apt-get install --no-install-recommends ceph-mon ceph-osd radosgw` "
    "(or run .ci/install-ceph)"
)
_STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL


def find_ceph_binaries() -> dict[str, str]:
    """Locate every Ceph program the launcher needs on PATH; name the missing ones."""
    found = {name: shutil.which(name) for name in _PROGRAMS}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        packages = sorted({_PROGRAMS[name] for name in missing})
        msg = f"Ceph binaries not found: {', '.join(missing)} (packages {', '.join(packages)}); "
        raise RuntimeError(msg + _INSTALL_HINT)
    return {name: path for name, path in found.items() if path is not None}


def _config(data_dir: Path, fsid: str, mon_port: int, rgw_port: int, memstore_bytes: int, lc_day: int) -> str:
    # auth none needs the crc modes too, or radosgw retries its monitor connection forever.
    modes = "".join(
        f"ms {kind} mode = crc\n"
        for kind in ("cluster", "service", "client", "mon cluster", "mon service", "mon client")
    )
    lifecycle = f"rgw lc debug interval = {lc_day}\n" if lc_day > 0 else ""
    return f"""\
[global]
fsid = {fsid}
mon host = v2:{_HOST}:{mon_port}
public network = 127.0.0.0/8
cluster network = 127.0.0.0/8
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
{modes}\
run dir = {data_dir}/run
admin socket = {data_dir}/run/$name.asok
pid file = {data_dir}/run/$name.pid
log file = {data_dir}/log/$name.log
mon cluster log file = {data_dir}/log/$cluster.$channel.log
crash dir = {data_dir}/crash
keyring = {data_dir}/keyring
mon data = {data_dir}/mon-$id
osd data = {data_dir}/osd-$id
# One OSD: pools of one replica, few PGs, no autoscaler (it needs a manager).
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
# The monitor refuses to start on a nearly full disk; its store here is tiny.
mon data avail crit = 0
mon data avail warn = 0
# Paxos batches proposals for 1 s by default: every map change at start-up waits for it.
paxos propose interval = 0.05
osd objectstore = memstore
memstore device bytes = {memstore_bytes}

[client.rgw]
rgw frontends = beast endpoint={_HOST}:{rgw_port}
rgw dns name = localhost
rgw thread pool size = 64
# Overwritten or deleted data is freed after 30 s instead of 2 h: memstore holds it in RAM.
rgw gc obj min wait = 30
rgw enable usage log = false
{lifecycle}"""


class CephRGW:
    """A single-host Ceph cluster (mon, memstore OSD, radosgw) serving S3 on a loopback port.

    ``data_dir`` (default: a temporary directory, removed by ``stop``) must be new or empty: it
    receives the configuration, the monitor's store and the logs. ``memstore_bytes`` caps the
    OSD's capacity (its data lives in RAM; the cluster reports full at 95 %).
    ``lifecycle_day_seconds`` makes a lifecycle rule's day last that many seconds
    (``rgw lc debug interval``); 0 keeps real days.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        access_key: str = "dmb-test-access-key",
        secret_key: str = "dmb-test-secret-key",
        memstore_bytes: int = 512 * _MiB,
        lifecycle_day_seconds: int = 0,
        startup_timeout: float = 90.0,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.access_key = access_key
        self.secret_key = secret_key
        self.memstore_bytes = memstore_bytes
        self.lifecycle_day_seconds = lifecycle_day_seconds
        self.startup_timeout = startup_timeout
        self.server: S3Server | None = None
        self._dir: Path | None = None
        self._tmp_dir: Path | None = None
        self._procs: list[subprocess.Popen[bytes]] = []  # in start order: mon, osd, rgw
        self._logs: list[IO[bytes]] = []

    @property
    def pids(self) -> list[int]:
        """Process ids of the running daemons (monitor, OSD, radosgw)."""
        return [proc.pid for proc in self._procs]

    @property
    def directory(self) -> Path | None:
        """The cluster's directory (configuration, monitor store, logs) while it runs."""
        return self._dir

    def start(self) -> S3Server:
        """Create and start the cluster (no-op when running); wait until S3 answers."""
        if self.server is not None and all(proc.poll() is None for proc in self._procs):
            return self.server
        self.stop()
        binaries = find_ceph_binaries()
        data_dir = self.data_dir
        if data_dir is None:
            data_dir = self._tmp_dir = Path(tempfile.mkdtemp(prefix="dmb-ceph-"))
        self._dir = data_dir
        atexit.register(self.stop)
        try:
            server = self._bootstrap(binaries, data_dir, time.monotonic() + self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.server = server
        return server

    def _bootstrap(self, bin: dict[str, str], data_dir: Path, deadline: float) -> S3Server:
        for sub in ("run", "log", "crash", "mon-a", "osd-0"):
            (data_dir / sub).mkdir(parents=True, exist_ok=True)
        (data_dir / "keyring").touch()
        fsid, osd_uuid = str(uuid.uuid4()), str(uuid.uuid4())
        mon_port = free_port()
        rgw_port = free_port()
        while rgw_port == mon_port:
            rgw_port = free_port()
        conf = data_dir / "ceph.conf"
        text = _config(data_dir, fsid, mon_port, rgw_port, self.memstore_bytes, self.lifecycle_day_seconds)
        conf.write_text(text)
        c = ["-c", str(conf)]
        monmap = str(data_dir / "monmap")
        mon_addr = f"[v2:{_HOST}:{mon_port}]"
        self._run([bin["monmaptool"], "--create", "--fsid", fsid, "--addv", "a", mon_addr, monmap], deadline)
        self._run([bin["ceph-mon"], *c, "--mkfs", "-i", "a", "--monmap", monmap], deadline)
        self._spawn("mon.a", [bin["ceph-mon"], *c, "-f", "-i", "a"], data_dir)
        # `osd new` waits for the monitor's quorum; it prints the new OSD's id (0).
        osd_id = self._run([bin["ceph"], *c, "osd", "new", osd_uuid], deadline).strip()
        self._run([bin["ceph-osd"], *c, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid], deadline)
        self._spawn(f"osd.{osd_id}", [bin["ceph-osd"], *c, "-f", "-i", osd_id], data_dir)
        admin = [bin["radosgw-admin"], *c, "-n", "client.rgw"]
        # The first radosgw-admin call creates the default zone, zonegroup and pools.
        user = ["user", "create", "--uid=dmb", "--display-name=dmb"]
        self._run([*admin, *user, f"--access-key={self.access_key}", f"--secret={self.secret_key}"], deadline)
        # Clients sign for us-east-1; any other name answers InvalidLocationConstraint.
        api_name = f"--api-name={DEFAULT_REGION}"
        self._run([*admin, "zonegroup", "modify", "--rgw-zonegroup=default", api_name], deadline)
        self._spawn("client.rgw", [bin["radosgw"], *c, "-f", "-n", "client.rgw"], data_dir)
        server = S3Server(f"{_HOST}:{rgw_port}", self.access_key, self.secret_key, DEFAULT_REGION)
        self._wait_ready(server, deadline)
        return server

    def _run(self, cmd: list[str], deadline: float) -> str:
        timeout = max(1.0, deadline - time.monotonic())
        try:
            done = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as e:
            msg = f"Ceph start-up: {Path(cmd[0]).name} did not finish in {timeout:.0f}s"
            raise RuntimeError(msg + self._tail()) from e
        self._check_daemons()
        if done.returncode != 0:
            msg = f"Ceph start-up: {' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-2000:]}"
            raise RuntimeError(msg + self._tail())
        return done.stdout

    def _spawn(self, name: str, cmd: list[str], data_dir: Path) -> None:
        log = (data_dir / "log" / f"{name}.out").open("ab")
        self._logs.append(log)
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._procs.append(proc)

    def _check_daemons(self) -> None:
        for proc in self._procs:
            if proc.poll() is not None:
                program = proc.args[0] if isinstance(proc.args, list) else proc.args  # _spawn passes a list
                msg = f"Ceph start-up: {Path(str(program)).name} exited with {proc.returncode}"
                raise RuntimeError(msg + self._tail())

    def _wait_ready(self, server: S3Server, deadline: float) -> None:
        error = wait_for_s3(server, deadline, self._check_daemons, interval=0.1)
        if error is not None:
            msg = f"Ceph RGW not ready after {self.startup_timeout:g}s: {error!r}"
            raise RuntimeError(msg + self._tail())

    def _tail(self, lines: int = 15) -> str:
        if self._dir is None:
            return ""
        out = []
        for path in sorted((self._dir / "log").glob("*")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            if tail:
                out.append(f"\n--- last lines of {path} ---\n" + "\n".join(tail))
        return "".join(out)

    def stop(self) -> None:
        """Stop radosgw, then the OSD, then the monitor (SIGTERM, SIGKILL after 5 s); remove a temp dir.

        The order matters: an OSD tells its monitor it is going down and waits up to 5 s for
        an answer that a stopped monitor never gives.
        """
        procs, self._procs, self.server = self._procs, [], None
        for proc in reversed(procs):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=_STOP_GRACE)
                    break
        for log in self._logs:
            log.close()
        self._logs = []
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None
        self._dir = None
        atexit.unregister(self.stop)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
