"""See the backend work in a real Django site: ``make demo`` (or ``make demo-ci``).

Starts an embedded SeaweedFS S3 server on loopback (no Docker), points the example
project (exampleproject/, attachments/) at it through the MINIO_* environment
variables its settings read, migrates, runs initialize_buckets and collectstatic,
saves files through the models, prints their URLs and fetches them. Then it serves
the site with runserver on 127.0.0.1 until Ctrl-C; ``--no-serve`` stops after the
checks (for CI). Everything lives in a temporary directory that is removed at exit.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import django
import urllib3

from django_minio_backend.testing.seaweedfs import SeaweedFS, free_port

EXAMPLES_DIR = Path(__file__).resolve().parent
ADMIN_USER = "admin"


def png_bytes(width: int = 48, height: int = 32) -> bytes:
    """A small RGB gradient as a PNG file (no Pillow needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\0" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def save_and_fetch() -> bool:
    """Save one file through each model, print its URL, GET it; True when all behave."""
    from attachments.models import GenericAttachment, PrivateAttachment, PublicAttachment
    from django.core.files.base import ContentFile

    http = urllib3.PoolManager(retries=False, timeout=10)
    image = png_bytes()
    text = b"hello from the default storage\n"
    # model, content, file name, expected status of the URL without its signature
    cases = [
        (PrivateAttachment, image, "hello.png", 403),  # private bucket: signature required
        (PublicAttachment, image, "hello.png", 200),  # public bucket: plain URL
        (GenericAttachment, text, "hello.txt", 200),  # private bucket, but the policy hook opens shared/
    ]
    ok = True
    for model, content, filename, unsigned_expected in cases:
        obj = model.objects.create(title=f"demo {filename}", file=ContentFile(content, name=filename))
        url = obj.file.url
        got = http.request("GET", url)
        unsigned = http.request("GET", url.split("?", 1)[0])
        good = got.status == 200 and got.data == content and unsigned.status == unsigned_expected
        ok &= good
        print(f"{model.__name__}: saved {obj.file.name!r} in bucket {obj.file.storage.bucket!r}")
        print(f"  url: {url}")
        print(f"  GET -> {got.status} {got.headers.get('Content-Type')}, {len(got.data)} bytes", end="")
        print(", same bytes as saved" if got.data == content else ", DIFFERENT bytes")
        print(f"  GET without query string -> {unsigned.status} (expected {unsigned_expected})")
        print("  ok" if good else "  FAILED")
    return ok


def wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float = 60) -> bool:
    """Whether ``proc`` listens on ``port`` within ``timeout`` seconds (False if it exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if not port_is_free(port):
            return True
        time.sleep(0.2)
    return False


def serve(port: int, password: str) -> int:
    """runserver (with autoreload) in a process group of its own, until Ctrl-C."""
    cmd = [sys.executable, str(EXAMPLES_DIR / "manage.py"), "runserver", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, cwd=EXAMPLES_DIR, start_new_session=True)
    try:
        if wait_listening(proc, port):  # the URL is printed when it answers, not before
            print(f"\nThe example site: http://127.0.0.1:{port}/admin/")
            print(f"  log in as {ADMIN_USER!r} with password {password!r} (a throwaway local demo account)")
            print("  upload files under Attachments and follow their links; Ctrl-C stops everything.\n")
            sys.stdout.flush()
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:  # stop runserver and its autoreload child, then whatever is left of the group
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--no-serve", action="store_true", help="exit after the checks instead of serving")
    parser.add_argument("--port", type=int, default=0, help="runserver port (default: 8000 if free)")
    args = parser.parse_args(argv)
    # `kill` and a closed terminal stop like Ctrl-C does, and as a success (so `make demo`
    # reports no error): the with-block below stops runserver and SeaweedFS and removes
    # the temporary directory.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(0))
    with tempfile.TemporaryDirectory(prefix="dmb-demo-") as tmp, SeaweedFS(Path(tmp) / "s3") as server:
        print(f"SeaweedFS S3 server on http://{server.endpoint} (data in {tmp})")
        os.environ.update(
            DJANGO_SETTINGS_MODULE="exampleproject.settings",
            DJANGO_SQLITE_PATH=str(Path(tmp) / "db.sqlite3"),
            MINIO_ENDPOINT=server.endpoint,
            MINIO_ACCESS_KEY=server.access_key,
            MINIO_SECRET_KEY=server.secret_key,
            MINIO_REGION=server.region,
            MINIO_USE_HTTPS="0",
        )
        os.environ.pop("MINIO_EXTERNAL_ENDPOINT", None)
        print("\n== django.setup(): MINIO_CONSISTENCY_CHECK_ON_START runs initialize_buckets")
        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        print("\n== manage.py migrate")
        call_command("migrate", interactive=False, verbosity=0)
        print("\n== manage.py initialize_buckets (again: nothing left to do)")
        out = io.StringIO()
        call_command("initialize_buckets", stdout=out)
        print("".join(f"  bucket {line}\n" for line in out.getvalue().splitlines()), end="")
        print("\n== manage.py collectstatic (the admin's CSS and JS go to the static bucket)")
        call_command("collectstatic", interactive=False, verbosity=1)
        print("\n== saving files through the models")
        if not save_and_fetch():
            print("\ndemo FAILED: a URL did not behave as expected", file=sys.stderr)
            return 1
        print("\ndemo OK")
        if args.no_serve:
            return 0
        password = secrets.token_urlsafe(12)
        get_user_model().objects.create_superuser(ADMIN_USER, "admin@example.invalid", password)
        port = args.port or (8000 if port_is_free(8000) else free_port())
        return serve(port, password)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C is how the demo ends; everything is cleaned up already
        print("\ndemo stopped")
        sys.exit(0)
