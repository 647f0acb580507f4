"""Probe what S3 servers honour; print one markdown table, a column per server.

    .venv/bin/python benchmarks/server_probe.py                 # every server below
    .venv/bin/python benchmarks/server_probe.py seaweedfs ceph  # some of them

Servers: ``seaweedfs`` (the suite's ``weed mini``), ``ceph`` (Ceph RGW from Debian's packages),
``noconditional`` (SeaweedFS behind tests/noconditional_proxy.py, mode "all"), ``complete-ignored``
and ``ceph-like`` (the same proxy, modes "complete" and "ceph"). Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import fromstring

import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import S3Error
from minio.lifecycleconfig import AbortIncompleteMultipartUpload, LifecycleConfig, Rule

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django_minio_backend.testing.cephrgw import CephRGW
from django_minio_backend.testing.seaweedfs import S3Server, SeaweedFS
from tests.noconditional_proxy import NoConditionalProxy
from tests.servers import multipart_put

CREATE_ONLY = {"If-None-Match": "*"}
PART = b"p" * (5 * 1024 * 1024)
SERVERS = ("seaweedfs", "ceph", "noconditional", "complete-ignored", "ceph-like")
ROUNDS = 5
WRITERS = 4
READ_TIMEOUT = 10


@dataclass
class Target:
    server: S3Server
    endpoint: str  # what the client talks to: the server or a proxy in front of it
    bucket: str

    @property
    def client(self) -> Minio:
        # No retries and a read timeout: a server that never answers is a finding, not a hang.
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2, read=READ_TIMEOUT), retries=False)
        server = self.server
        return Minio(
            self.endpoint,
            server.access_key,
            server.secret_key,
            secure=False,
            region=server.region,
            http_client=http,
        )


def _read(client: Minio, bucket: str, key: str) -> bytes:
    response = client.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def conditional_put(t: Target) -> str:
    t.client._put_object(t.bucket, "put.txt", b"first", {})
    try:
        t.client._put_object(t.bucket, "put.txt", b"second", dict(CREATE_ONLY))
    except S3Error as e:
        return f"yes ({e.code})"
    return "NO: overwrote"


def put_race(t: Target) -> str:
    """``WRITERS`` conditional PUTs of one new key at once, ``ROUNDS`` times: winners per round."""
    winners = []
    for round_ in range(ROUNDS):
        key = f"put-race-{round_}.txt"
        barrier = threading.Barrier(WRITERS, timeout=30)
        results: list[bool] = []

        def put(
            n: int, key: str = key, barrier: threading.Barrier = barrier, results: list[bool] = results
        ) -> None:
            client = t.client
            barrier.wait()
            with contextlib.suppress(S3Error):
                client._put_object(t.bucket, key, bytes([n]) * 1024, dict(CREATE_ONLY))
                results.append(True)  # list.append is atomic

        threads = [threading.Thread(target=put, args=(n,)) for n in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners.append(len(results))
    verdict = "atomic" if all(w == 1 for w in winners) else "NOT atomic"
    return f"{verdict}: winners per round {','.join(map(str, winners))}"


def conditional_complete(t: Target) -> str:
    t.client._put_object(t.bucket, "complete.bin", b"first", {})
    try:
        multipart_put(t.client, t.bucket, "complete.bin", [PART, b"second"], CREATE_ONLY)
    except S3Error as e:
        return f"yes ({e.code})"
    return "NO: overwrote"


def complete_race(t: Target) -> str:
    """``WRITERS`` conditional completes of one new key at once, ``ROUNDS`` times: winners per round."""
    winners = []
    for round_ in range(ROUNDS):
        key = f"race-{round_}.bin"
        uploads = []
        for n in range(WRITERS):  # prepared one by one: only the completes race
            upload_id = t.client._create_multipart_upload(t.bucket, key, {})
            etag = t.client._upload_part(t.bucket, key, bytes([n]) * 1024, None, upload_id, 1)
            uploads.append((upload_id, etag))
        barrier = threading.Barrier(WRITERS, timeout=30)
        results: list[bool] = []

        def complete(
            upload_id: str,
            etag: str,
            key: str = key,
            barrier: threading.Barrier = barrier,
            results: list[bool] = results,
        ) -> None:
            client = t.client
            body = (
                "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
                f'<ETag>"{etag}"</ETag></Part></CompleteMultipartUpload>'
            ).encode()
            barrier.wait()
            try:
                client._execute(
                    "POST",
                    t.bucket,
                    key,
                    body=body,
                    headers={"Content-Type": "application/xml", **CREATE_ONLY},
                    query_params={"uploadId": upload_id},
                )
            except S3Error:
                with contextlib.suppress(S3Error):
                    client._abort_multipart_upload(t.bucket, key, upload_id)
                return
            results.append(True)  # list.append is atomic

        threads = [threading.Thread(target=complete, args=upload) for upload in uploads]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners.append(len(results))
    verdict = "atomic" if all(w == 1 for w in winners) else "NOT atomic"
    return f"{verdict}: winners per round {','.join(map(str, winners))}"


def conditional_copy(t: Target) -> str:
    client = t.client
    client._put_object(t.bucket, "copy-src.txt", b"source", {})
    client._put_object(t.bucket, "copy-dst.txt", b"destination", {})
    headers = {"x-amz-copy-source": f"/{t.bucket}/copy-src.txt", **CREATE_ONLY}
    try:
        client._execute("PUT", t.bucket, "copy-dst.txt", headers=headers)
    except S3Error as e:
        return f"yes ({e.code})"
    return "NO: overwrote" if _read(client, t.bucket, "copy-dst.txt") == b"source" else "ignored?"


def _public_read(t: Target) -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": ["*"]},
        "Action": ["s3:GetObject"],
        "Resource": [f"arn:aws:s3:::{t.bucket}/*"],
    }
    t.client.set_bucket_policy(t.bucket, json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def anonymous_get(t: Target) -> str:
    t.client._put_object(t.bucket, "public.txt", b"public", {})
    before = urllib3.request("GET", f"http://{t.endpoint}/{t.bucket}/public.txt", retries=False).status
    _public_read(t)
    response = urllib3.request("GET", f"http://{t.endpoint}/{t.bucket}/public.txt", retries=False)
    ok = response.status == 200 and response.data == b"public"
    return f"{'yes' if ok else 'NO'} ({before} before the policy, {response.status} after)"


def virtual_host(t: Target) -> str:
    """Anonymous GET with the bucket in the Host header (``rgw dns name = localhost``)."""
    _public_read(t)
    t.client._put_object(t.bucket, "vhost.txt", b"vhost", {})
    port = t.endpoint.rsplit(":", 1)[1]
    headers = {"Host": f"{t.bucket}.localhost:{port}"}
    response = urllib3.request("GET", f"http://{t.endpoint}/vhost.txt", headers=headers, retries=False)
    return "yes" if response.status == 200 and response.data == b"vhost" else f"no ({response.status})"


def lifecycle(t: Target) -> str:
    rule = Rule(
        ENABLED,
        rule_filter=Filter(prefix=""),
        rule_id="dmb-abort-incomplete",
        abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(1),
    )
    try:
        t.client.set_bucket_lifecycle(t.bucket, LifecycleConfig([rule]))
        config = t.client.get_bucket_lifecycle(t.bucket)
    except S3Error as e:
        return f"NO ({e.code})"
    if config is None:
        return "NO (accepted, not stored)"
    kept = [r for r in config.rules if r.abort_incomplete_multipart_upload is not None]
    return "yes (read back)" if kept else "accepted, rule lost"


def cors(t: Target) -> str:
    body = (
        b"<CORSConfiguration><CORSRule><AllowedOrigin>http://example.test</AllowedOrigin>"
        b"<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>"
    )
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    try:
        t.client._execute("PUT", t.bucket, body=body, headers={"Content-MD5": md5}, query_params={"cors": ""})
        read_back = t.client._execute("GET", t.bucket, query_params={"cors": ""}).data
    except S3Error as e:
        return f"NO ({e.code})"
    return "yes (read back)" if b"example.test" in read_back else "accepted, not read back"


def ssec_over_http(t: Target) -> str:
    key = bytes(range(32))
    headers = {
        "X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES256",
        "X-Amz-Server-Side-Encryption-Customer-Key": base64.b64encode(key).decode(),
        "X-Amz-Server-Side-Encryption-Customer-Key-MD5": base64.b64encode(hashlib.md5(key).digest()).decode(),
    }
    try:
        t.client._put_object(t.bucket, "ssec.txt", b"secret", dict(headers))  # minio adds to the dict
    except S3Error as e:
        return f"refused ({e.code})"
    try:
        data = t.client._execute("GET", t.bucket, "ssec.txt", headers=dict(headers)).data
    except S3Error as e:
        return f"PUT accepted, GET refused ({e.code})"
    except urllib3.exceptions.TimeoutError:
        return f"PUT accepted, GET with the key: no answer in {READ_TIMEOUT} s"
    if data != b"secret":
        return "accepted, read back wrong"
    try:
        t.client._execute("GET", t.bucket, "ssec.txt")
    except S3Error as e:
        return f"accepted (GET without the key: {e.code})"
    return "accepted, but GET without the key answers 200"


def second_create_bucket(t: Target) -> str:
    try:
        t.client.make_bucket(t.bucket)
    except S3Error as e:
        return e.code
    return "200 OK (no error)"


def complete_etag(t: Target) -> str:
    answer = multipart_put(t.client, t.bucket, "etag.bin", [PART, b"tail"])
    etag = fromstring(answer).findtext("{http://s3.amazonaws.com/doc/2006-03-01/}ETag")
    if etag is None:
        etag = fromstring(answer).findtext("ETag")
    return f"yes ({etag})" if etag else "NO: empty"


def other_region(t: Target) -> str:
    client = Minio(t.endpoint, t.server.access_key, t.server.secret_key, secure=False, region="eu-central-1")
    name = f"probe-{uuid.uuid4().hex[:12]}"
    try:
        client.make_bucket(name, location="eu-central-1")
    except S3Error as e:
        return f"refused ({e.code})"
    client.remove_bucket(name)
    return "accepted"


CHECKS: dict[str, Callable[[Target], str]] = {
    "conditional PUT (If-None-Match: *)": conditional_put,
    f"concurrent conditional PUTs ({WRITERS} writers)": put_race,
    "conditional CompleteMultipartUpload": conditional_complete,
    f"concurrent conditional completes ({WRITERS} writers)": complete_race,
    "conditional CopyObject (If-None-Match: * on destination)": conditional_copy,
    "bucket policy: anonymous GET": anonymous_get,
    "lifecycle: AbortIncompleteMultipartUpload": lifecycle,
    "CORS configuration": cors,
    "SSE-C over plain HTTP": ssec_over_http,
    "path-style requests": lambda t: "yes",  # every other check uses them
    "virtual-host style (bucket.localhost)": virtual_host,
    "second CreateBucket of own bucket": second_create_bucket,
    "ETag in CompleteMultipartUpload answer": complete_etag,
    "CreateBucket in another region": other_region,
}


def probe(server: S3Server, endpoint: str) -> dict[str, str]:
    results = {}
    for label, check in CHECKS.items():
        bucket = f"probe-{uuid.uuid4().hex[:12]}"
        target = Target(server, endpoint, bucket)
        target.client.make_bucket(bucket)
        start = time.monotonic()
        try:
            results[label] = check(target)
        except Exception as e:  # a probe reports, it does not stop at the first surprise
            results[label] = f"error: {e!r}"[:120]
        print(f"{endpoint} {label}: {time.monotonic() - start:.1f} s", file=sys.stderr)
    return results


@contextlib.contextmanager
def running(name: str, timings: dict[str, str]) -> Iterator[tuple[S3Server, str]]:
    start = time.monotonic()
    if name == "ceph":
        launcher = CephRGW()
        with launcher as server:
            timings[name] = f"start {time.monotonic() - start:.1f} s, RSS {_rss_mib(launcher.pids)} MiB"
            yield server, server.endpoint
            timings[name] += f" (after the probe: {_rss_mib(launcher.pids)} MiB)"
        return
    with SeaweedFS() as server:
        timings.setdefault("seaweedfs", f"start {time.monotonic() - start:.1f} s")
        if name == "seaweedfs":
            yield server, server.endpoint
            return
        mode = {"noconditional": "all", "complete-ignored": "complete", "ceph-like": "ceph"}[name]
        with NoConditionalProxy(server.endpoint, server.secret_key, mode=mode) as proxy:
            yield server, proxy.endpoint


def _rss_mib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total // 1024


def main() -> None:
    # SIGTERM (e.g. from `timeout`) unwinds the context managers, so no server outlives the probe.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("servers", nargs="*", help=f"any of {', '.join(SERVERS)} (default: all)")
    names = parser.parse_args().servers or list(SERVERS)
    unknown = set(names) - set(SERVERS)
    if unknown:
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    columns: dict[str, dict[str, str]] = {}
    timings: dict[str, str] = {}
    for name in names:
        with running(name, timings) as (server, endpoint):
            columns[name] = probe(server, endpoint)
    print("| check | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label in CHECKS:
        print(f"| {label} | " + " | ".join(columns[name][label] for name in names) + " |")
    for name, timing in timings.items():
        print(f"\n{name}: {timing}")


if __name__ == "__main__":
    main()
