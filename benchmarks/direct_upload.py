"""One large upload through Django's normal form handling versus a direct browser upload.

    .venv/bin/python benchmarks/direct_upload.py            # 1 GiB each way
    .venv/bin/python benchmarks/direct_upload.py --size 256 # MiB

Everything runs on 127.0.0.1: SeaweedFS, a byte-counting relay in front of it,
and one Django process (``runserver --noreload``, a fresh one per mode) whose
CPU seconds (user + system, all threads, from /proc) and peak memory (VmHWM,
reset after a warm-up, minus VmRSS before) are measured. The "browser" is this
script: in the normal mode it POSTs a multipart/form-data body to a view that
saves ``request.FILES["file"]`` to the storage (what a ModelForm does); in the
direct mode it asks for a ticket, PUTs the parts to their presigned URLs (three
at a time, as direct-upload.js does) and finalizes.

Time to first byte: from the start of the upload until the first MiB of the
file has reached the S3 server (the relay sees it). Through Django that is after
Django has received the whole request body; direct, after one ticket request.
"Django busy": seconds the worker spent answering the upload's requests (direct:
ticket, part URLs and finalize, whose server-side copy it waits for).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import urllib3
from minio import Minio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from django_minio_backend.testing.relay import ByteRelay  # noqa: E402
from django_minio_backend.testing.seaweedfs import SeaweedFS, free_port  # noqa: E402

MIB = 1024 * 1024
BLOCK = os.urandom(4 * MIB)
BUCKET = "bench-direct"
PART = 16 * MIB


class Pattern:
    """``size`` bytes of a repeated random block, readable like a file."""

    def __init__(self, size: int, offset: int = 0) -> None:
        self.size, self.pos = size, 0
        self.offset = offset

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.pos if n < 0 else min(n, self.size - self.pos)
        out = bytearray()
        while len(out) < n:
            at = (self.offset + self.pos + len(out)) % len(BLOCK)
            out += BLOCK[at : at + n - len(out)]
        self.pos += n
        return bytes(out)


class Concat:
    """Several readables, one after another (a multipart body without writing it to disk)."""

    def __init__(self, *parts: Any) -> None:
        self.parts = list(parts)

    def read(self, n: int = -1) -> bytes:
        out = b""
        while self.parts and (n < 0 or len(out) < n):
            chunk = self.parts[0].read(-1 if n < 0 else n - len(out))
            if not chunk:
                self.parts.pop(0)
            out += chunk
        return out


class Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int = -1) -> bytes:
        chunk, self.data = (self.data, b"") if n < 0 else (self.data[:n], self.data[n:])
        return chunk


PROJECT = {
    "benchsite/__init__.py": "",
    "benchsite/settings.py": """
        import os
        SECRET_KEY = "bench"
        DEBUG = False
        ALLOWED_HOSTS = ["127.0.0.1"]
        USE_TZ = True
        ROOT_URLCONF = "benchsite.urls"
        INSTALLED_APPS = ["django.contrib.contenttypes", "django_minio_backend", "benchsite"]
        MIDDLEWARE = [
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
        ]
        SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
        DATABASES = {}
        MINIO_ENDPOINT = os.environ["BENCH_S3"]
        MINIO_ACCESS_KEY = os.environ["BENCH_KEY"]
        MINIO_SECRET_KEY = os.environ["BENCH_SECRET"]
        MINIO_PRIVATE_BUCKETS = ["bench-direct"]
        MINIO_BUCKET_CHECK_ON_SAVE = False
        MINIO_PLUGINS = ["benchsite.plugin"]
        MINIO_DIRECT_UPLOAD_PART_SIZE = 16 * 1024 * 1024
        MINIO_DIRECT_UPLOAD_MAX_SIZE = 64 * 1024**3
        FILE_UPLOAD_TEMP_DIR = os.environ["BENCH_TMP"]
    """,
    "benchsite/models.py": """
        from django.db import models
        from django_minio_backend import MinioBackend
        from django_minio_backend.fields import DirectFileField

        class Big(models.Model):
            file = DirectFileField(upload_to="direct/", storage=MinioBackend(bucket_name="bench-direct"))
    """,
    "benchsite/plugin.py": """
        from django_minio_backend import hookimpl
        from django_minio_backend.direct import UploadRules

        @hookimpl
        def direct_upload_rules():
            return UploadRules()  # everyone: the benchmark has no users
    """,
    "benchsite/urls.py": """
        from django.http import JsonResponse
        from django.middleware.csrf import get_token
        from django.urls import include, path
        from django.views.decorators.csrf import csrf_exempt
        from benchsite.models import Big

        def csrf(request):
            return JsonResponse({"token": get_token(request)})

        @csrf_exempt
        def form_upload(request):
            upload = request.FILES["file"]
            name = Big._meta.get_field("file").storage.save("form/" + upload.name, upload)
            return JsonResponse({"name": name})

        urlpatterns = [
            path("csrf/", csrf),
            path("form/", form_upload),
            path("minio/", include("django_minio_backend.urls")),
        ]
    """,
}


def proc_stat(pid: int) -> tuple[float, int, int]:
    """(CPU seconds, VmRSS KiB, VmHWM KiB) of ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    status = Path(f"/proc/{pid}/status").read_text()
    values = {
        line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith("Vm")
    }
    return cpu, values["VmRSS"], values["VmHWM"]


class Browser:
    """Cookies and CSRF like a browser, for this script's requests to Django."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=600), retries=False)
        self.cookies: dict[str, str] = {}
        self.busy = 0.0  # seconds Django spent answering this browser's requests
        self.token = self.json("GET", "/csrf/")["token"]

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {"Cookie": cookie, "X-CSRFToken": getattr(self, "token", ""), **(extra or {})}

    def _keep(self, response: Any) -> None:
        for header in response.headers.getlist("Set-Cookie"):
            name, value = header.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value

    def json(self, method: str, path: str, payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        started = time.monotonic()
        response = self.http.request(
            method,
            self.base + path,
            body=body,
            headers=self._headers({"Content-Type": "application/json", "Referer": self.base + "/"}),
        )
        self.busy += time.monotonic() - started
        self._keep(response)
        assert response.status == 200, (path, response.status, response.data[:300])
        return json.loads(response.data)

    def form_upload(self, name: str, size: int) -> Any:
        boundary = "----dmbbench" + os.urandom(8).hex()
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        body = Concat(Bytes(head), Pattern(size), Bytes(tail))
        started = time.monotonic()
        response = self.http.urlopen(
            "POST",
            self.base + "/form/",
            body=body,
            headers=self._headers(
                {
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                    "Content-Length": str(len(head) + size + len(tail)),
                }
            ),
            chunked=False,
        )
        self.busy += time.monotonic() - started
        assert response.status == 200, response.data[:300]
        return json.loads(response.data)

    def direct_upload(self, name: str, size: int) -> Any:
        field = "benchsite.Big.file"
        ticket = self.json("POST", "/minio/upload/ticket/", {"field": field, "name": name, "size": size})
        s3 = urllib3.PoolManager(maxsize=4, timeout=urllib3.Timeout(connect=5, read=600), retries=False)
        if "post" in ticket:
            fields = {
                **ticket["post"]["fields"],
                "file": ("f", Pattern(size).read(), "application/octet-stream"),
            }
            assert s3.request("POST", ticket["post"]["url"], fields=fields).status == 204
        else:
            while True:
                answer = self.json(
                    "POST", "/minio/upload/parts/", {"ticket": ticket["ticket"], "field": field}
                )
                if not answer["remaining"]:
                    break

                def put(item: tuple[str, str]) -> None:
                    number, url = int(item[0]), item[1]
                    start = (number - 1) * ticket["part_size"]
                    length = min(ticket["part_size"], size - start)
                    data = Pattern(length, offset=start).read()
                    assert s3.request("PUT", url, body=data).status == 200

                with ThreadPoolExecutor(3) as pool:
                    list(pool.map(put, answer["urls"].items()))
        return self.json("POST", "/minio/upload/finalize/", {"ticket": ticket["ticket"], "field": field})


def run_mode(mode: str, size: int, env: dict[str, str], project: Path, relay: ByteRelay) -> dict[str, Any]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                browser = Browser(base)
                break
            except (urllib3.exceptions.HTTPError, OSError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        # Warm-up: every lazy import and the conditional-write probe happen before measuring.
        browser.form_upload("warm.bin", 3 * MIB)
        browser.direct_upload("warm.bin", 20 * MIB)
        with contextlib.suppress(OSError):
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        cpu0, rss0, _ = proc_stat(proc.pid)
        relay.reset()
        browser.busy = 0.0
        started = time.monotonic()
        if mode == "form":
            result = browser.form_upload("big.bin", size)
        else:
            result = browser.direct_upload("big.bin", size)
        elapsed = time.monotonic() - started
        cpu1, _, hwm = proc_stat(proc.pid)
        ttfb = (relay.marked_at - started) if relay.marked_at else None
        return {
            "mode": mode,
            "size_mib": size // MIB,
            "name": result["name"],
            "django_cpu_s": round(cpu1 - cpu0, 2),
            "django_peak_mib": round((hwm - rss0) / 1024, 1),
            "django_rss_before_mib": round(rss0 / 1024, 1),
            "seconds": round(elapsed, 2),
            "django_busy_s": round(browser.busy, 2),
            "ttfb_s": round(ttfb, 3) if ttfb is not None else None,
        }
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="MiB per upload (default 1024)")
    parser.add_argument("--json", type=Path, help="write the results there too")
    parser.add_argument("--only", choices=("form", "direct"), help="measure one mode only")
    args = parser.parse_args()
    size = args.size * MIB
    with (
        tempfile.TemporaryDirectory(prefix="dmb-bench-direct-") as tmp,
        SeaweedFS(Path(tmp) / "weed") as server,
    ):
        project = Path(tmp) / "project"
        for rel, text in PROJECT.items():
            (project / rel).parent.mkdir(parents=True, exist_ok=True)
            (project / rel).write_text(textwrap.dedent(text).lstrip())
        upload_tmp = Path(tmp) / "uploads"
        upload_tmp.mkdir()
        relay = ByteRelay(int(server.endpoint.rsplit(":", 1)[1]))
        client = Minio(
            server.endpoint, server.access_key, server.secret_key, secure=False, region=server.region
        )
        client.make_bucket(BUCKET)
        env = {
            **os.environ,
            "PYTHONPATH": f"{project}{os.pathsep}{ROOT}",
            "DJANGO_SETTINGS_MODULE": "benchsite.settings",
            "BENCH_S3": f"127.0.0.1:{relay.port}",
            "BENCH_KEY": server.access_key,
            "BENCH_SECRET": server.secret_key,
            "BENCH_TMP": str(upload_tmp),
        }
        results = []
        for mode in (args.only,) if args.only else ("form", "direct"):
            result = run_mode(mode, size, env, project, relay)
            stat = client.stat_object(BUCKET, result["name"])
            assert stat.size == size, (mode, stat.size)
            client.remove_object(BUCKET, result["name"])
            results.append(result)
            print(json.dumps(result), flush=True)
    print()
    print(
        f"| {args.size} MiB upload | Django CPU s | Django peak MiB | Django busy s | wall s "
        "| time to first byte at S3 s |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        label = "through Django (form upload)" if r["mode"] == "form" else "direct (browser -> bucket)"
        print(
            f"| {label} | {r['django_cpu_s']} | {r['django_peak_mib']} | {r['django_busy_s']} "
            f"| {r['seconds']} | {r['ttfb_s']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
