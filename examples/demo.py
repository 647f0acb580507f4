"""A one-command demo: embedded SeaweedFS, buckets, saves, URLs that work.

make demo            # runs the demo, then keeps the server up until Ctrl-C
make demo-ci         # the same without waiting (python examples/demo.py --no-serve)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import django
import urllib3
from django.conf import settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django_minio_backend.testing.seaweedfs import SeaweedFS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-serve", action="store_true", help="exit after the demo instead of waiting")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dmb-demo-") as tmp, SeaweedFS(Path(tmp)) as server:
        data = Path(tmp)
        print(f"SeaweedFS S3 on http://{server.endpoint} (data in {data})")
        settings.configure(
            INSTALLED_APPS=["django_minio_backend"],
            USE_TZ=True,
            MINIO_ENDPOINT=server.endpoint,
            MINIO_ACCESS_KEY=server.access_key,
            MINIO_SECRET_KEY=server.secret_key,
            MINIO_REGION=server.region,
            MINIO_PRIVATE_BUCKETS=["demo-private"],
            MINIO_PUBLIC_BUCKETS=["demo-public"],
            MINIO_MEDIA_FILES_BUCKET="demo-private",
        )
        django.setup()
        from django.core.files.base import ContentFile
        from django.core.management import call_command

        from django_minio_backend import MinioBackend, iso_date_prefix

        call_command("initialize_buckets")
        http = urllib3.PoolManager(retries=False, timeout=5)
        ok = True
        for bucket in ("demo-private", "demo-public"):
            storage = MinioBackend(bucket_name=bucket)
            name = storage.save(
                iso_date_prefix(None, "hello.txt"), ContentFile(f"hello from {bucket}".encode())
            )
            url = storage.url(name)
            response = http.request("GET", url)
            ok &= response.status == 200
            print(f"{bucket}: saved {name!r}\n  url: {url}\n  GET -> {response.status} {response.data!r}")
        if not ok:
            print("demo FAILED: a URL did not serve its file", file=sys.stderr)
            return 1
        print("demo OK")
        if not args.no_serve:
            print("Server stays up; press Ctrl-C to stop.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
