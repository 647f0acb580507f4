"""How ``clean_orphaned_minio_files`` scales: time and peak memory over N objects and R rows.

    .venv/bin/python benchmarks/orphans_scale.py                       # 100 000 objects, 100 000 rows
    .venv/bin/python benchmarks/orphans_scale.py --objects 10000 --rows 10000

Starts SeaweedFS on 127.0.0.1 (django_minio_backend.testing.seaweedfs), PUTs the
objects from many threads, writes the rows into an SQLite file, then runs the
clean-up (``clean_orphans``, as the command does, with ``min_age=0``) in a fresh
process and reports its wall time, its RSS before the clean-up and its peak RSS
(``VmHWM``). Objects are ``bench/NNNNNNN.bin`` (4 bytes each). Row ``i`` names
``bench/i.bin`` when ``i`` is even, ``gone/i.bin`` (no object) when odd: with
as many rows as objects, half the objects are referenced, half are orphans, and
the set of referenced names holds R names. ``--dry-run-rows 0 10000`` first
measures dry runs (nothing deleted) with other row counts over the same objects:
memory follows the rows, not the bucket.

Uses the project's own environment (``make venv``), no benchmark extras.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUCKET = "bench-orphans"
MiB = 1024 * 1024


def rss_kib(field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, in KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def object_name(i: int) -> str:
    return f"bench/{i:07d}.bin"


def row_name(i: int) -> str:
    return object_name(i) if i % 2 == 0 else f"gone/{i:07d}.bin"


# -- the child processes: Django configured here, on the server given by the parent --------------------


def setup_django(server: dict[str, Any], database: str) -> Any:
    """Configure Django with one model whose file field stores into BUCKET; return the model.

    ``database`` is an SQLite file; its table is created when missing.
    """
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django_minio_backend"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": database}},
        USE_TZ=True,
        MINIO_ENDPOINT=server["endpoint"],
        MINIO_ACCESS_KEY=server["access_key"],
        MINIO_SECRET_KEY=server["secret_key"],
        MINIO_REGION=server["region"],
        MINIO_PRIVATE_BUCKETS=[BUCKET],
        MINIO_MEDIA_FILES_BUCKET=BUCKET,
        STORAGES={"default": {"BACKEND": "django_minio_backend.models.MinioBackend"}},
    )
    django.setup()
    from django.db import models

    from django_minio_backend import MinioBackend

    class BenchFile(models.Model):
        file = models.FileField(storage=MinioBackend(bucket_name=BUCKET))

        class Meta:
            # The only installed app; the model is registered at class creation.
            app_label = "django_minio_backend"

    return BenchFile


def child_rows(server: dict[str, Any], database: str, rows: int) -> dict[str, Any]:
    model = setup_django(server, database)
    from django.db import connection, transaction

    with connection.schema_editor() as editor:
        editor.create_model(model)
    started = time.perf_counter()
    with transaction.atomic():
        for start in range(0, rows, 10_000):
            model.objects.bulk_create(
                model(file=row_name(i)) for i in range(start, min(start + 10_000, rows))
            )
    return {"rows_seconds": time.perf_counter() - started}


def child_clean(server: dict[str, Any], database: str, dry_run: bool) -> dict[str, Any]:
    model = setup_django(server, database)
    from datetime import timedelta

    from django_minio_backend.orphans import clean_orphans

    # Warm up: imports, the client and its connection pool, the table.
    model.objects.first()
    model._meta.get_field("file").storage.client.bucket_exists(BUCKET)
    before = rss_kib("VmRSS")
    lines = 0

    def count(line: str) -> None:
        nonlocal lines
        lines += 1

    started = time.perf_counter()
    summary = clean_orphans(min_age=timedelta(0), dry_run=dry_run, report=count)
    seconds = time.perf_counter() - started
    return {
        "clean_seconds": seconds,
        "rss_before_kib": before,
        "peak_rss_kib": rss_kib("VmHWM"),
        "summary": summary.line(),
        "report_lines": lines,
    }


# -- the parent: server, objects, children ------------------------------------------------------------


def put_objects(server: Any, count: int, threads: int) -> float:
    import urllib3
    from minio import Minio

    pool = urllib3.PoolManager(maxsize=threads, retries=urllib3.Retry(total=5, backoff_factor=0.2))
    client = Minio(
        server.endpoint,
        server.access_key,
        server.secret_key,
        secure=False,
        region=server.region,
        http_client=pool,
    )
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)

    def put(i: int) -> None:
        client.put_object(BUCKET, object_name(i), io.BytesIO(b"data"), 4)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as executor:
        for _ in executor.map(put, range(count), chunksize=256):
            pass
    return time.perf_counter() - started


def run_child(phase: str, server: Any, database: str, rows: int, dry_run: bool = False) -> dict[str, Any]:
    config = {
        "endpoint": server.endpoint,
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "region": server.region,
    }
    args = [sys.executable, __file__, "--child", phase, "--database", database, "--rows", str(rows)]
    done = subprocess.run(
        [*args, *(["--dry-run"] if dry_run else [])],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if done.returncode:
        raise RuntimeError(f"{phase} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.splitlines()[-1]))


def clean_run(server: Any, work: str, objects: int, rows: int, dry_run: bool) -> dict[str, Any]:
    """Rows in a fresh SQLite file, then the clean-up in a fresh process; print and return the figures."""
    database = os.path.join(work, f"rows-{rows}{'-dry' if dry_run else ''}.sqlite3")
    made = run_child("rows", server, database, rows)
    result = run_child("clean", server, database, rows, dry_run)
    growth = result["peak_rss_kib"] - result["rss_before_kib"]
    print(
        f"{objects} objects, {rows} rows{' (dry run)' if dry_run else ''}: {result['clean_seconds']:.1f} s, "
        f"RSS before {result['rss_before_kib'] / 1024:.1f} MiB, peak {result['peak_rss_kib'] / 1024:.1f} MiB "
        f"(+{growth / 1024:.1f} MiB); {result['summary']}",
        flush=True,
    )
    return {"objects": objects, "rows": rows, "dry_run": dry_run, **made, **result}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=None, help="default: as many as objects")
    parser.add_argument(
        "--dry-run-rows",
        type=int,
        nargs="*",
        default=[],
        metavar="R",
        help="first, dry runs (nothing deleted) with R rows each, over the same objects",
    )
    parser.add_argument("--threads", type=int, default=32, help="PUT threads (default 32)")
    parser.add_argument("--child", choices=["rows", "clean"], help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rows = args.objects if args.rows is None else args.rows

    if args.child:
        server_config = json.loads(sys.stdin.read())
        if args.child == "rows":
            print(json.dumps(child_rows(server_config, args.database, rows)))
        else:
            print(json.dumps(child_clean(server_config, args.database, args.dry_run)))
        return

    sys.path.insert(0, str(ROOT))
    from django_minio_backend.testing.seaweedfs import SeaweedFS

    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="dmb-orphans-bench-") as work,
        SeaweedFS(Path(work, "s3")) as server,
    ):
        put_seconds = put_objects(server, args.objects, args.threads)
        print(
            f"{args.objects} objects PUT in {put_seconds:.1f} s ({args.objects / put_seconds:.0f}/s)",
            flush=True,
        )
        for dry_rows in args.dry_run_rows:
            results.append(clean_run(server, work, args.objects, dry_rows, dry_run=True))
        results.append(clean_run(server, work, args.objects, rows, dry_run=False))
    print(json.dumps({"put_seconds": put_seconds, "runs": results}))


if __name__ == "__main__":
    main()
