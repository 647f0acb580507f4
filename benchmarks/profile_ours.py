"""cProfile of our hot paths: url(), small and large save(), large read.

    benchmarks/.env/bin/python benchmarks/profile_ours.py [--size-mib 128] [--top 12]
    benchmarks/.env/bin/python benchmarks/profile_ours.py --saves-threads 16 [--saves 1024]

Starts its own SeaweedFS on 127.0.0.1, runs each path of ours (and the same
operation with the raw SDK, for the CPU-time comparison) under cProfile, and
prints the functions that cost the most time (tottime) for each.

``--saves-threads N``: only 4 KiB saves, from N threads sharing one storage (each
thread under a profiler of its own, merged), ours and the SDK: CPU per save
without the profiler, then the functions by time per save in µs.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from contenders import CONTENDERS, Pattern  # noqa: E402
from worker import setup_django, small_file  # noqa: E402

MiB = 1024 * 1024


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def profiled(title: str, fn, top: int) -> None:
    prof = cProfile.Profile()
    c0, t0 = cpu(), time.perf_counter()
    prof.runcall(fn)
    wall, used = time.perf_counter() - t0, cpu() - c0
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    print(f"\n=== {title}: {wall:.3f} s wall, {used:.3f} s CPU (under the profiler) ===")
    print("\n".join(lines[start:]))


def threaded_saves(who: str, contender, threads: int, saves: int, top: int, round_: int = 0) -> None:
    """``saves`` 4 KiB saves from ``threads`` threads: CPU per save, then a merged profile per save."""
    import threading

    per_thread = max(1, saves // threads)

    def run(profile: bool, tag: str) -> list[cProfile.Profile]:
        profiles: list[cProfile.Profile] = []
        barrier = threading.Barrier(threads)

        def work(t: int) -> None:
            prof = cProfile.Profile() if profile else None
            barrier.wait()
            if prof:
                prof.enable()
            for i in range(per_thread):
                contender.save(f"p/{who}-{round_}-{tag}-{t}-{i}.bin", small_file())
            if prof:
                prof.disable()
                profiles.append(prof)

        pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        return profiles

    run(False, "warm")
    c0, t0 = cpu(), time.perf_counter()
    run(False, "timed")
    wall, used = time.perf_counter() - t0, cpu() - c0
    n = per_thread * threads
    print(
        f"\n=== {who}: {n} saves from {threads} threads: {n / wall:.0f} saves/s, "
        f"{used / n * 1e6:.0f} µs CPU per save (no profiler) ==="
    )
    profiles = run(True, "profiled")
    stats = pstats.Stats(profiles[0])
    for prof in profiles[1:]:
        stats.add(prof)
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    print(f"{'µs/save':>8} {'cum µs':>8} {'calls/save':>10}  function (tottime, under the profiler)")
    for (file, line, func), (_cc, nc, tt, ct, _callers) in rows:
        where = f"{Path(file).name}:{line}({func})" if line else func
        print(f"{tt / n * 1e6:8.1f} {ct / n * 1e6:8.1f} {nc / n:10.1f}  {where}")


def paired_saves(ours, sdk, n: int) -> None:
    """One thread; ours, the SDK's ``put_object`` and the SDK's PUT with ours' two extra headers
    (``If-None-Match: *`` and a write token) in turn, call by call (same moments, same load):
    mean and median latency, and thread CPU per call."""
    import statistics

    client, bucket = sdk.client, sdk.private_bucket

    def conditional(name: str, content) -> None:
        client._put_object(
            bucket,
            name,
            content.read(),
            {
                "Content-Type": "application/octet-stream",
                "If-None-Match": "*",
                "x-amz-meta-dmb-write-token": f"{uuid.uuid4().hex}{name}",
            },
        )

    calls = {"ours": ours.save, "sdk": sdk.save, "sdk+if-none-match": conditional}
    times: dict[str, list[float]] = {who: [] for who in calls}
    cpus: dict[str, list[float]] = {who: [] for who in calls}
    whos = list(calls)
    for i in range(n):
        for who in whos[i % 3 :] + whos[: i % 3]:
            content = small_file()
            c0, t0 = time.thread_time(), time.perf_counter()
            calls[who](f"pair/{who}-{i}.bin", content)
            times[who].append(time.perf_counter() - t0)
            cpus[who].append(time.thread_time() - c0)
    for who in calls:
        mean, median = statistics.fmean(times[who]) * 1e3, statistics.median(times[who]) * 1e3
        cpu_us = statistics.fmean(cpus[who]) * 1e6
        print(f"{who}: mean {mean:.3f} ms, median {median:.3f} ms, CPU {cpu_us:.0f} µs")
    for base in ("sdk", "sdk+if-none-match"):
        ratio = statistics.fmean(times[base]) / statistics.fmean(times["ours"])
        median = statistics.median(times[base]) / statistics.median(times["ours"])
        print(f"ours / {base} in saves per second: {ratio:.2f}x (by medians {median:.2f}x)")
    server = statistics.fmean(times["sdk"]) / statistics.fmean(times["sdk+if-none-match"])
    print(f"server alone, conditional / plain PUT in calls per second: {server:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=128)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--saves-threads", type=int, help="only small saves, from this many threads")
    parser.add_argument("--saves", type=int, default=1024, help="saves per contender with --saves-threads")
    parser.add_argument(
        "--paired",
        type=int,
        metavar="N",
        help="only 4 KiB saves, one thread, ours and the SDK alternating N times",
    )
    args = parser.parse_args()
    from django.core.files.base import File
    from minio import Minio

    from django_minio_backend.testing.seaweedfs import SeaweedFS

    work = HERE / ".work"
    work.mkdir(exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="weed-profile-", dir=work))
    try:
        with SeaweedFS(data) as server:
            admin = Minio(
                server.endpoint, server.access_key, server.secret_key, secure=False, region=server.region
            )
            for bucket in ("bench-private", "bench-public"):
                admin.make_bucket(bucket)
                admin.put_object(bucket, "probe/url check.txt", Pattern(64), 64)
            s3 = {
                "access_key": server.access_key,
                "secret_key": server.secret_key,
                "private_bucket": "bench-private",
                "public_bucket": "bench-public",
            }
            setup_django()
            ours = CONTENDERS["ours"](s3, server.endpoint)
            sdk = CONTENDERS["sdk"](s3, server.endpoint)
            ours.connect()
            sdk.connect()
            ours.save("warm.bin", small_file())
            if args.paired:
                paired_saves(ours, sdk, args.paired)
                return 0
            if args.saves_threads:
                for round_, (who, c) in enumerate(
                    (("ours", ours), ("sdk", sdk), ("ours", ours), ("sdk", sdk))
                ):
                    threaded_saves(who, c, args.saves_threads, args.saves, args.top, round_)
                return 0
            ours.url_private("probe/url check.txt")
            name = "probe/url check.txt"
            profiled(
                "ours url() private x20000", lambda: [ours.url_private(name) for _ in range(20000)], args.top
            )
            profiled(
                "ours url() public x200000", lambda: [ours.url_public(name) for _ in range(200000)], args.top
            )
            profiled(
                "ours save() 4 KiB fresh x300",
                lambda: [ours.save(f"p/fresh-{i}.bin", small_file()) for i in range(300)],
                args.top,
            )
            ours.save("p/taken.bin", small_file())
            profiled(
                "ours save() 4 KiB taken x300",
                lambda: [ours.save("p/taken.bin", small_file()) for _ in range(300)],
                args.top,
            )
            size = args.size_mib * MiB
            for who, c in (("ours", ours), ("sdk", sdk)):
                big = f"p/{who}-big.bin"
                profiled(
                    f"{who} save() {args.size_mib} MiB",
                    lambda c=c, big=big: c.save(big, File(Pattern(size), name="big.bin")),
                    args.top,
                )
                profiled(f"{who} read {args.size_mib} MiB", lambda c=c, big=big: c.read(big), args.top)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
