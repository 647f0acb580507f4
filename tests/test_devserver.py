"""``manage.py minio_devserver``: a local S3 server on the project's own MINIO_* settings."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import urllib3
from django.core.files.base import ContentFile
from django.test import override_settings

from django_minio_backend import MinioBackend
from django_minio_backend.devserver import READY_PREFIX, DevServerError, plan_from_settings
from django_minio_backend.testing.seaweedfs import free_port

from .conftest import ROOT

KEYS = {"MINIO_ACCESS_KEY": "dev-access", "MINIO_SECRET_KEY": "dev-secret-key-123"}


def devserver_env(endpoint: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DMB_SETTINGS_ENDPOINT": endpoint,
        "DMB_SETTINGS_ACCESS_KEY": KEYS["MINIO_ACCESS_KEY"],
        "DMB_SETTINGS_SECRET_KEY": KEYS["MINIO_SECRET_KEY"],
        # A project that checks buckets on start: the devserver must not ask itself before it runs.
        "DMB_SETTINGS_CHECK_ON_START": "1",
    }


def port_is_free(port: int) -> bool:
    """Nobody listens and a server could bind it again (SO_REUSEADDR: TIME_WAIT does not count)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def devserver() -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """``manage.py minio_devserver --temporary`` on a free port, after its ready line."""
    endpoint = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "django", "minio_devserver", "--temporary"],
        env=devserver_env(endpoint),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # As a shell starts a background job (`manage.py minio_devserver &`): SIGINT ignored.
        # A terminal's Ctrl-C, where it is not, is the easier case of the same handler.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:  # a thread, so that waiting for the ready line can time out
        for line in proc.stdout or ():
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    try:
        while not seen or not seen[-1].startswith(READY_PREFIX):
            seen.append(lines.get(timeout=90).rstrip("\n"))
        yield proc, endpoint, seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_devserver_serves_the_project_settings_and_stops_cleanly(devserver, stop_signal: int) -> None:
    proc, endpoint, seen = devserver
    assert seen[-1] == f"{READY_PREFIX} http://{endpoint} (temporary data); Ctrl-C stops it."
    # initialize_buckets ran: one line per bucket declared in tests.settings
    assert any("/dmb-test-public (public): created, policy set" in line for line in seen), seen
    storage = MinioBackend(
        bucket_name="dmb-test-private",
        endpoint=endpoint,
        access_key=KEYS["MINIO_ACCESS_KEY"],
        secret_key=KEYS["MINIO_SECRET_KEY"],
    )
    name = storage.save("hello.txt", ContentFile(b"hello devserver"))
    response = urllib3.PoolManager(retries=False).request("GET", storage.url(name))
    assert (response.status, response.data) == (200, b"hello devserver")

    proc.send_signal(stop_signal)
    assert proc.wait(timeout=30) == 0
    assert port_is_free(int(endpoint.rsplit(":", 1)[1]))


def test_devserver_refuses_a_port_in_use_with_a_clear_message() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        endpoint = f"127.0.0.1:{busy.getsockname()[1]}"
        result = subprocess.run(
            [sys.executable, "-m", "django", "minio_devserver", "--temporary"],
            env=devserver_env(endpoint),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"{endpoint} is already in use" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"MINIO_ENDPOINT": ""}, 'MINIO_ENDPOINT = "127.0.0.1:9000"'),
        ({"MINIO_ENDPOINT": "minio.example.com:9000"}, "is not a loopback address"),
        ({"MINIO_ENDPOINT": "10.0.0.5:9000"}, "is not a loopback address"),
        ({"MINIO_ENDPOINT": "127.0.0.1"}, "needs a port"),
        ({"MINIO_ENDPOINT": "127.0.0.1:9000", "MINIO_USE_HTTPS": True}, "set MINIO_USE_HTTPS = False"),
        ({"MINIO_ENDPOINT": "127.0.0.1:9000", "MINIO_SECRET_KEY": ""}, "MINIO_SECRET_KEY must be set"),
    ],
)
def test_devserver_refuses_settings_it_cannot_serve(overrides: dict[str, object], message: str) -> None:
    with override_settings(**{"MINIO_ACCESS_KEY": "a", "MINIO_SECRET_KEY": "b", **overrides}):
        with pytest.raises(DevServerError) as info:
            plan_from_settings()
    assert message in str(info.value)


def test_devserver_plan_takes_endpoint_and_keys_from_settings_and_hides_the_secret() -> None:
    with override_settings(MINIO_ENDPOINT="localhost:9123", MINIO_USE_HTTPS=False, **KEYS):
        plan = plan_from_settings()
    assert (plan.host, plan.port, plan.access_key, plan.secret_key) == (
        "127.0.0.1",
        9123,
        "dev-access",
        "dev-secret-key-123",
    )
    assert "dev-secret-key-123" not in repr(plan)
