"""Workers starting together (gunicorn, several pods) all succeed and leave one bucket, one policy."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio

from django_minio_backend.testing.seaweedfs import S3Server
from tests.conftest import ROOT, remove_bucket, subprocess_env

WORKERS = 6
# Everything slow (interpreter, Django, the SDK) happens before a barrier (one file per
# waiting worker), so the workers reach the server within milliseconds of each other.
WORKER = """
import os, sys, time
import django
from django.conf import settings
settings.INSTALLED_APPS
import django_minio_backend.buckets, django_minio_backend.storage, django.contrib.admin
mode, bucket, barrier, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if mode == "save":
    django.setup()
open(os.path.join(barrier, str(os.getpid())), "w").close()
while len(os.listdir(barrier)) < workers:
    time.sleep(0.002)
if mode == "start":
    django.setup()  # MINIO_CONSISTENCY_CHECK_ON_START runs initialize_buckets in ready()
else:
    from django.core.files.base import ContentFile
    from django_minio_backend import MinioBackend
    storage = MinioBackend(bucket_name=bucket, bucket_check_on_save=True, public_buckets=[bucket])
    storage.save("first.txt", ContentFile(b"x"))
print("started", flush=True)
"""


@pytest.fixture
def fresh_bucket(s3_settings: dict[str, object], raw_client: Minio) -> Iterator[str]:
    name = f"t-race-{uuid.uuid4().hex[:10]}"
    yield name
    remove_bucket(raw_client, name)


def start_together(
    mode: str, bucket: str, server: S3Server, barrier: Path
) -> list[subprocess.CompletedProcess[str]]:
    env = {
        **subprocess_env(server),
        "DMB_SETTINGS_EXTRA_BUCKET": bucket,
        "DMB_SETTINGS_CHECK_ON_START": "1" if mode == "start" else "",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, mode, bucket, str(barrier), str(WORKERS)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


@pytest.mark.parametrize("mode", ["start", "save"])
def test_workers_creating_the_same_bucket_at_once_all_succeed(
    mode: str, fresh_bucket: str, s3_server: S3Server, raw_client: Minio, tmp_path: Path
) -> None:
    results = start_together(mode, fresh_bucket, s3_server, tmp_path)
    failed = [r.stderr.strip().splitlines()[-1] for r in results if r.returncode != 0]
    assert failed == [], f"{len(failed)} of {WORKERS} workers failed: {failed}"
    assert all(r.stdout.strip() == "started" for r in results)
    assert raw_client.bucket_exists(fresh_bucket)
    if mode == "save":  # declared public: every worker converged on the public-read policy
        policy = json.loads(raw_client.get_bucket_policy(fresh_bucket))
        assert any(s.get("Principal") in ("*", {"AWS": ["*"]}, {"AWS": "*"}) for s in policy["Statement"])
