"""Benchmark django-minio-backend against its peers on one loopback SeaweedFS.

    benchmarks/.env/bin/python benchmarks/run.py            # full run (make bench)
    benchmarks/.env/bin/python benchmarks/run.py --smoke    # tiny sizes (make bench-smoke)

Starts SeaweedFS (127.0.0.1 only) and a counting proxy in front of it, runs
every measurement of every contender in a fresh process of its own (see
worker.py), prints a table, writes results JSON and a PNG plot and, with
--docs, the generated part of docs/benchmarks.md. Exits non-zero if any
contender crashed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import concurrency  # noqa: E402
import report  # noqa: E402
from contenders import ORDER, Pattern  # noqa: E402
from countproxy import CountingProxy  # noqa: E402

MiB = 1024 * 1024
PROFILES = {
    "full": {
        "micro_rounds": 3,
        "iterations": 200,  # saves / exists / size calls per timed loop
        "count_iterations": 20,  # calls per request count
        "min_time": 0.2,  # s per url() timing loop
        "repeats": 5,  # url() timing loops, best taken
        "large": [(128 * MiB, 7), (1024 * MiB, 4)],  # (size, rounds); best of the rounds is reported
        "static_files": 500,
    },
    "smoke": {
        "micro_rounds": 1,
        "iterations": 5,
        "count_iterations": 2,
        "min_time": 0.005,
        "repeats": 2,
        "large": [(6 * MiB, 1), (20 * MiB, 1)],  # 20 MiB > the 16 MiB multipart threshold
        "static_files": 20,
    },
}
# The object every contender reads in the large-file reads: one per size, written before the
# rounds by the raw SDK with a fixed part size (16 MiB, ours' default; objects of up to one part
# are a single PUT), so no contender reads a layout of its own making.
READ_OBJECT = {"writer": "minio SDK put_object", "part_size": 16 * MiB}
PRIVATE_BUCKET = "bench-private"
PUBLIC_BUCKET = "bench-public"
PROBE = "probe/url check.txt"
# (contender, command): Django's own collectstatic onto each static storage, and ours.
STATIC_VARIANTS = [
    ("ours", "django"),
    ("ours", "ours"),
    ("django-storages", "django"),
    ("django-minio-storage", "django"),
]


TASKS = ("micro", "collectstatic", "large", "concurrent")


def static_bucket(contender: str, command: str, mode: str) -> str:
    return f"static-{contender.replace('django-', 'dj-')}-{command}-{mode}"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def public_read_policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ["*"]},
                    "Action": ["s3:GetObject"],
                    "Resource": [f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
    )


def worker_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("AWS_")}
    env.update(
        {
            # Nothing but the endpoint we give: no metadata service, no config files.
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "TMPDIR": str(tmp),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


class Runner:
    def __init__(self, env: dict, failures: list) -> None:
        self.env = env
        self.failures = failures

    def __call__(self, task: str, contender: str, spec: dict) -> dict | None:
        cmd = [sys.executable, str(HERE / "worker.py"), task, contender, json.dumps(spec)]
        try:
            proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            self.failures.append({"task": task, "contender": contender, "error": "timed out"})
            log(f"  !! {contender} {task}: timed out")
            return None
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith("RESULT ") and proc.returncode == 0:
                return json.loads(line[len("RESULT ") :])
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        self.failures.append(
            {"task": task, "contender": contender, "returncode": proc.returncode, "error": tail}
        )
        log(f"  !! {contender} {task} crashed (exit {proc.returncode}):\n{tail}")
        return None


def rotated(items: list, r: int) -> list:
    r %= len(items)
    return items[r:] + items[:r]


def make_static_tree(root: Path, count: int) -> None:
    """``count`` small files in a few folders, older than anything uploaded."""
    if root.exists():
        shutil.rmtree(root)
    kinds = [("css", 2200), ("js", 5200), ("svg", 900), ("png", 3100), ("woff2", 7000)]
    past = time.time() - 86400
    for i in range(count):
        ext, size = kinds[i % len(kinds)]
        path = root / f"app{i % 10}" / ext / f"file{i:04d}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Pattern.BLOCK[i * 7 : i * 7 + size])
        os.utime(path, (past, past))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and few iterations (CI)")
    parser.add_argument("--out", type=Path, help="results JSON (default: benchmarks/results.json)")
    parser.add_argument("--plot", type=Path, help="PNG plot (default: benchmarks/results.png)")
    parser.add_argument("--docs", type=Path, help="also rewrite the generated part of this markdown file")
    parser.add_argument("--only", nargs="+", choices=ORDER, help="run only these contenders (sdk is added)")
    parser.add_argument(
        "--tasks",
        nargs="+",
        choices=TASKS,
        default=list(TASKS),
        help="run only these measurements (default: all)",
    )
    args = parser.parse_args()

    profile_name = "smoke" if args.smoke else "full"
    profile = PROFILES[profile_name]
    work = HERE / ".work"
    out = args.out or (work / "smoke-results.json" if args.smoke else HERE / "results.json")
    plot = args.plot or (work / "smoke-results.png" if args.smoke else HERE / "results.png")
    contenders = ORDER if not args.only else [c for c in ORDER if c in args.only or c == "sdk"]
    work.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=work))
    data_dir = Path(tempfile.mkdtemp(prefix="weed-", dir=work))
    failures: list = []
    run = Runner(worker_env(tmp), failures)
    started = time.monotonic()

    from minio import Minio

    from django_minio_backend.testing.seaweedfs import SeaweedFS

    results: dict = {
        "profile": profile_name,
        "settings": {k: v for k, v in profile.items()},
        "contenders": contenders,
        "baseline": "sdk",
        "machine": report.machine(),
        "micro": {},
        "large": {},
        "collectstatic": {},
        "concurrent": {},
    }
    try:
        with SeaweedFS(data_dir) as server, CountingProxy(server.endpoint) as proxy:
            log(f"SeaweedFS on {server.endpoint}, counting proxy on {proxy.endpoint}")
            results["machine"]["seaweedfs"] = report.weed_version()
            sdk = Minio(
                server.endpoint, server.access_key, server.secret_key, secure=False, region=server.region
            )
            buckets = [PRIVATE_BUCKET, PUBLIC_BUCKET]
            buckets += [static_bucket(c, cmd, m) for c, cmd in STATIC_VARIANTS for m in "dp"]
            for bucket in buckets:
                sdk.make_bucket(bucket)
            sdk.set_bucket_policy(PUBLIC_BUCKET, public_read_policy(PUBLIC_BUCKET))
            for bucket in (PRIVATE_BUCKET, PUBLIC_BUCKET):
                sdk.put_object(bucket, PROBE, Pattern(64), 64, content_type="text/plain")
            # Warm the server up (first volume allocations are slow), then forget it.
            sdk.put_object(PRIVATE_BUCKET, "warm/server.bin", Pattern(64 * MiB), 64 * MiB)
            sdk.remove_object(PRIVATE_BUCKET, "warm/server.bin")

            base = {
                "s3": {
                    "access_key": server.access_key,
                    "secret_key": server.secret_key,
                    "private_bucket": PRIVATE_BUCKET,
                    "public_bucket": PUBLIC_BUCKET,
                },
                "endpoint": server.endpoint,
                "proxy_endpoint": proxy.endpoint,
                "proxy_control": proxy.control_url,
            }

            # 1. url(), small saves, exists()/size(), request counts.
            for r in range(profile["micro_rounds"] if "micro" in args.tasks else 0):
                for c in rotated(contenders, r):
                    log(f"[{time.monotonic() - started:6.1f}s] micro round {r + 1}: {c}")
                    spec = {**base, "probe_name": PROBE}
                    spec.update(
                        {k: profile[k] for k in ("iterations", "count_iterations", "min_time", "repeats")}
                    )
                    res = run("micro", c, spec)
                    if res is not None:
                        results["micro"].setdefault(c, []).append(res)

            # 2. collectstatic: first, no-change and touched run; timed direct, counted through the proxy.
            static_dir = work / "static"
            static_variants = STATIC_VARIANTS if "collectstatic" in args.tasks else []
            for c, command in [v for v in static_variants if v[0] in contenders]:
                variant = f"{c}/{command}"
                for mode in "dp":
                    make_static_tree(static_dir, profile["static_files"])
                    what = "timed" if mode == "d" else "counted"
                    log(f"[{time.monotonic() - started:6.1f}s] collectstatic ({what}): {variant}")
                    spec = {
                        **base,
                        "bucket": static_bucket(c, command, mode),
                        "static_dir": str(static_dir),
                        "proxied": mode == "p",
                        "command": command,
                    }
                    res = run("collectstatic", c, spec)
                    if res is not None:
                        results["collectstatic"].setdefault(variant, {})[
                            "timed" if mode == "d" else "counted"
                        ] = res
            shutil.rmtree(static_dir, ignore_errors=True)

            # 3. Large files, each operation in a fresh process, rounds in rotated order. Every
            # contender saves an object of its own, then reads the one shared object of that size,
            # written once by the SDK before the rounds: all reads see the same layout on the server.
            results["settings"]["read_object"] = READ_OBJECT
            for size, rounds in profile["large"] if "large" in args.tasks else []:
                label = report.size_label(size)
                shared = f"large/shared-{label}.bin"
                log(f"[{time.monotonic() - started:6.1f}s] writing the shared read object {shared}")
                sdk.put_object(
                    PRIVATE_BUCKET, shared, Pattern(size), size, part_size=READ_OBJECT["part_size"]
                )
                for r in range(rounds):
                    for c in rotated(contenders, r):
                        own = f"large/{c}-{label}-{r}.bin"
                        for op, name in (("save", own), ("read", shared)):
                            os.sync()  # let the last write's dirty pages reach the disk first, untimed
                            log(f"[{time.monotonic() - started:6.1f}s] {op} {label} round {r + 1}: {c}")
                            res = run("large", c, {**base, "op": op, "size": size, "name": name})
                            if res is not None:
                                results["large"].setdefault(c, {}).setdefault(f"{op}_{label}", []).append(res)
                        with contextlib.suppress(Exception):
                            sdk.remove_object(PRIVATE_BUCKET, own)
                with contextlib.suppress(Exception):
                    sdk.remove_object(PRIVATE_BUCKET, shared)

            # 4. Many threads (and processes) sharing one storage.
            if "concurrent" in args.tasks:
                results["concurrent"] = concurrency.run_all(
                    contenders, {**base, "probe_name": PROBE}, profile_name, run.env, failures, log, started
                )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)

    results["elapsed_s"] = time.monotonic() - started
    if set(args.tasks) != set(TASKS) and out.exists():
        # A partial run (--tasks) keeps the other measurements of the results file it rewrites.
        previous = json.loads(out.read_text())
        for section in TASKS:
            if section not in args.tasks and previous.get(section):
                results[section] = previous[section]
                results.setdefault("kept_from_previous_run", {})[section] = previous.get("machine", {}).get(
                    "commit"
                )
        if "large" not in args.tasks and "settings" in previous:
            results["settings"]["large"] = previous["settings"].get("large", results["settings"]["large"])
            if "read_object" in previous["settings"]:
                results["settings"]["read_object"] = previous["settings"]["read_object"]
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["failures"] = failures
    summary = report.summarize(results)
    results["summary"] = summary
    for c, checks in summary["checks"].items():  # a wrong answer counts as a crash
        bad = [k for k, v in checks.items() if v is False or (k.endswith("_status") and v != 200)]
        if bad:
            failures.append({"task": "checks", "contender": c, "error": ", ".join(bad)})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    print(report.text_table(summary))
    report.plot(summary, plot)
    concurrency_plot = plot.with_name(plot.stem + "-concurrency.png")
    concurrency.plot(summary["concurrent"], concurrency_plot)
    if args.docs:
        report.update_docs(args.docs, summary, plot)
    log(f"wrote {out} and {plot} in {results['elapsed_s']:.0f}s")
    if failures:
        log(
            f"{len(failures)} measurement(s) crashed: "
            + ", ".join(f"{f['contender']}/{f['task']}" for f in failures)
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
