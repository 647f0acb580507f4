"""Stop a ``weed`` server and remove its files once the Python process that started it is gone.

Run by path (``python _watchdog.py PARENT_PID WEED_PID TMP_DIR PORT...``) in its own
session, so that a signal to the parent's process group does not stop it first. It
imports nothing from the package: it must work whatever ``sys.path`` the parent had.
SIGTERM and SIGKILL of the parent skip ``atexit``; this process does the clean-up then.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.2
TERM_GRACE_SECONDS = 5.0
SOCKET_DIR = Path("/", "tmp")


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] != "Z"
    return True


def stop_group(pid: int) -> None:
    """SIGTERM the process group led by ``pid``; SIGKILL it when it outlasts the grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + TERM_GRACE_SECONDS
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    parent, weed, tmp_dir, *ports = argv
    # Reparenting is how a child learns that its parent died, whatever the signal.
    while os.getppid() == int(parent):
        time.sleep(POLL_SECONDS)
    stop_group(int(weed))
    for port in ports:  # weed names its unix sockets after its ports, in a hard-coded /tmp
        for sock in SOCKET_DIR.glob(f"seaweedfs-*-{port}.sock"):
            sock.unlink(missing_ok=True)
    if tmp_dir:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
