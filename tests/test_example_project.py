"""The example project of examples/ and its demo driver (`make demo`, `make demo-ci`) work.

Also home of the helpers test_browser.py uses to run the example project against
the session's S3 server.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from minio import Minio

from django_minio_backend.testing.seaweedfs import S3Server, free_port

from .conftest import remove_bucket

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MANAGE = EXAMPLES / "manage.py"
RUN_DEMO = EXAMPLES / "run_demo.py"
# The buckets exampleproject/settings.py declares (the on-start check creates them).
EXAMPLE_BUCKETS = ("django-backend-dev-private", "django-backend-dev-public", "django-backend-dev-static")


def example_env(server: S3Server, sqlite_path: Path) -> dict[str, str]:
    """Environment that points the example project's settings at ``server``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIO_", "DJANGO_"))}
    return env | {
        "DJANGO_SETTINGS_MODULE": "exampleproject.settings",  # pytest-django exported tests.settings
        "DJANGO_SQLITE_PATH": str(sqlite_path),
        "MINIO_ENDPOINT": server.endpoint,
        "MINIO_ACCESS_KEY": server.access_key,
        "MINIO_SECRET_KEY": server.secret_key,
        "MINIO_REGION": server.region,
        "MINIO_USE_HTTPS": "1" if server.use_https else "0",
    }


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``examples/manage.py``; fail the test with its output if it fails."""
    result = subprocess.run(
        [sys.executable, str(MANAGE), *args],
        cwd=EXAMPLES,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def wait_for_http(
    url: str, proc: subprocess.Popen[str], timeout: float = 60, log_path: Path | None = None
) -> None:
    """Wait until ``url`` answers 200; fail early, with the server's log, if ``proc`` exits."""
    http = urllib3.PoolManager(retries=False, timeout=2)
    deadline = time.monotonic() + timeout
    problem = f"{url} did not answer 200 within {timeout:g}s"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            problem = f"the server exited with {proc.returncode} before {url} answered"
            break
        try:
            if http.request("GET", url).status == 200:
                return
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(0.2)
    log = f"\n--- {log_path} ---\n{log_path.read_text()[-3000:]}" if log_path else ""
    pytest.fail(problem + log)


class ExampleBuckets:
    """Undo what the tests put into the example's buckets on the session server.

    Buckets that did not exist before are removed with their contents; in buckets
    that did (an external server named by DMB_TEST_S3_*), only the recorded objects go.
    """

    def __init__(self, client: Minio) -> None:
        self.client = client
        self.existed = {name for name in EXAMPLE_BUCKETS if client.bucket_exists(name)}
        self.objects: list[tuple[str, str]] = []

    def cleanup(self) -> None:
        for bucket, key in self.objects:
            if bucket in self.existed:
                self.client.remove_object(bucket, key)
        for bucket in set(EXAMPLE_BUCKETS) - self.existed:
            remove_bucket(self.client, bucket)


@pytest.fixture
def example_buckets(raw_client: Minio) -> Iterator[ExampleBuckets]:
    buckets = ExampleBuckets(raw_client)
    yield buckets
    buckets.cleanup()


def run_demo_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIO_", "DJANGO_"))}
    return env | {"TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}


def data_dir_of(output: str) -> Path:
    match = re.search(r"\(data in (\S+)\)", output)
    assert match, f"run_demo.py did not say where its data is:\n{output}"
    return Path(match.group(1))


def test_make_demo_ci_saves_files_whose_urls_work(tmp_path: Path) -> None:
    """`make demo-ci`: embedded SeaweedFS, migrate, buckets, saves, URLs fetched; then cleans up."""
    result = subprocess.run(
        [sys.executable, str(RUN_DEMO), "--no-serve"],
        env=run_demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "demo OK" in result.stdout
    for model in ("PrivateAttachment", "PublicAttachment", "GenericAttachment"):
        assert f"{model}: saved" in result.stdout
    assert result.stdout.count("same bytes as saved") == 3
    assert "X-Amz-Signature=" in result.stdout  # private URLs are presigned
    assert "(private): created, policy set" in result.stdout  # on-start check created the buckets
    assert "static files copied" in result.stdout  # collectstatic into the static bucket
    assert not data_dir_of(result.stdout).exists(), "the demo left its data directory behind"


def test_make_demo_serves_the_site_until_ctrl_c(tmp_path: Path) -> None:
    """`make demo`: the site answers on 127.0.0.1; SIGINT (Ctrl-C) stops everything cleanly."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(RUN_DEMO), "--port", str(port)],
        env=run_demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Ctrl-C must work even when pytest runs with SIGINT ignored (a background job).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/admin/login/", proc, timeout=120)
        time.sleep(1.0)  # the demo notices the port within 0.2 s, then prints the URL
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # SIGTERM cleans up too (runserver, SeaweedFS, temp dir)
            proc.terminate()
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, output
    assert f"http://127.0.0.1:{port}/admin/" in output
    assert re.search(r"log in as 'admin' with password '\S+'", output)
    assert not data_dir_of(output).exists(), "the demo left its data directory behind"
    http = urllib3.PoolManager(retries=False, timeout=2)
    with pytest.raises(urllib3.exceptions.HTTPError):
        http.request("GET", f"http://127.0.0.1:{port}/admin/login/")


def test_example_migrations_match_models_and_checks_pass(
    s3_server: S3Server, example_buckets: ExampleBuckets, tmp_path: Path
) -> None:
    env = example_env(s3_server, tmp_path / "db.sqlite3")
    manage(env, "makemigrations", "--check", "--dry-run")
    result = manage(env, "check")
    assert "no issues" in result.stdout
    for bucket in EXAMPLE_BUCKETS:  # created by MINIO_CONSISTENCY_CHECK_ON_START
        assert example_buckets.client.bucket_exists(bucket)
