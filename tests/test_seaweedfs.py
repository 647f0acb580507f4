"""The embedded SeaweedFS launcher: nothing outlives its parent, nothing secret is world-readable."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from django_minio_backend.testing.seaweedfs import SeaweedFS
from tests.conftest import ROOT

STARTER = """
import sys, time
from django_minio_backend.testing.seaweedfs import SeaweedFS
server = SeaweedFS()
s3 = server.start()
print(server._proc.pid, server._tmp_dir, s3.endpoint, flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie is dead; whether init reaps it is the container's business
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def _serving(endpoint: str) -> bool:
    host, port = endpoint.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_server_and_temp_dir_go_away_when_the_parent_is_killed(sig: signal.Signals) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", STARTER], cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    weed, tmp_dir = 0, ""
    try:
        assert parent.stdout is not None
        pid_text, tmp_dir, endpoint = parent.stdout.readline().split()
        weed = int(pid_text)
        assert _serving(endpoint) and Path(tmp_dir).is_dir()
        parent.send_signal(sig)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (
            _gone(weed) and not _serving(endpoint) and not Path(tmp_dir).exists()
        ):
            time.sleep(0.2)
        assert _gone(weed), "weed still runs after its parent died"
        assert not _serving(endpoint)
        assert not Path(tmp_dir).exists(), "the temporary directory was left behind"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if weed and not _gone(weed):  # a failure must not leak a server into the next tests
            os.killpg(weed, signal.SIGKILL)
        if tmp_dir:
            shutil.rmtree(tmp_dir, ignore_errors=True)


def test_credentials_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with pytest.raises(RuntimeError, match="cannot run"):
        SeaweedFS(data, weed_binary=str(tmp_path / "no-such-weed")).start()
    mode = stat.S_IMODE((data / "s3-identities.json").stat().st_mode)
    assert mode == 0o600


def test_missing_weed_binary_leaves_no_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(sys, "executable", str(empty / "python"))
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(RuntimeError, match="weed"):
        SeaweedFS().start()
    assert list(scratch.iterdir()) == []
