"""One measurement in one fresh process: ``worker.py TASK CONTENDER SPEC_JSON``.

Tasks:

- ``micro``: url() private/public per call, 4 KiB saves per second with a fresh
  and a taken name, exists()/size()/small read per call, and, through the
  counting proxy, HTTP requests per call of each.
- ``large``: one save or read of ``spec["size"]`` bytes: MiB/s, the process's
  CPU time (all threads) and peak RSS growth (VmHWM after, minus VmRSS before;
  the high-water mark is reset just before the operation, after a warm-up that
  loaded every lazy import).
- ``concurrent``: one process of a ``processes x threads`` configuration (see
  ``concurrency.py``): saves, exists(), url() and reads from many threads at once.
- ``collectstatic``: Django's collectstatic of ``spec["static_dir"]`` onto the
  contender's static storage: a first run, a no-change run and a run after
  every source mtime was touched; times, or request counts when ``spec["proxied"]``.

The result is printed as one ``RESULT {json}`` line on stdout.
"""

from __future__ import annotations

import gc
import json
import os
import re
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from contenders import CONTENDERS, Pattern
from countproxy import ProxyControl

SMALL = Pattern.BLOCK[:4096]


# -- process memory -------------------------------------------------------------


def _status_kib(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1))


def _cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# -- Django ---------------------------------------------------------------------


def setup_django(
    static: tuple[str, dict] | None = None, static_dir: str | None = None, apps: list[str] | None = None
) -> None:
    import django
    from django.conf import settings

    config = {
        "SECRET_KEY": "benchmark",
        "USE_TZ": True,
        "INSTALLED_APPS": [],
        "LOGGING_CONFIG": None,
        "STORAGES": {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    }
    if static is not None:
        backend, options = static
        config["INSTALLED_APPS"] = apps or ["django.contrib.staticfiles"]
        config["STATIC_URL"] = "/static/"
        config["STATICFILES_DIRS"] = [static_dir]
        config["STORAGES"]["staticfiles"] = {"BACKEND": backend, "OPTIONS": options}
    settings.configure(**config)
    django.setup()


def small_file():
    from django.core.files.base import ContentFile

    return ContentFile(SMALL)


# -- timing helpers -------------------------------------------------------------


def per_call_us(fn, arg, *, min_time: float, repeats: int) -> float:
    """Best per-call time over ``repeats`` loops, each at least ``min_time`` long."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn(arg)
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time:
            break
        n = max(n * 2, int(n * min_time / max(elapsed, 1e-9) * 1.2))
    best = elapsed / n
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats - 1):
            t0 = time.perf_counter()
            for _ in range(n):
                fn(arg)
            best = min(best, (time.perf_counter() - t0) / n)
    finally:
        if gc_was:
            gc.enable()
    return best * 1e6


def timed_loop(fn, items) -> float:
    t0 = time.perf_counter()
    for item in items:
        fn(item)
    return time.perf_counter() - t0


def http_status(url: str) -> int:
    import urllib3

    http = urllib3.PoolManager(retries=False, timeout=10)
    try:
        return http.request("GET", url, preload_content=True).status
    finally:
        http.clear()


# -- tasks ----------------------------------------------------------------------


def task_micro(cls, spec: dict) -> dict:
    setup_django()
    direct = cls(spec["s3"], spec["endpoint"])
    proxied = cls(spec["s3"], spec["proxy_endpoint"])
    direct.connect()
    proxied.connect()
    ctl = ProxyControl(spec["proxy_control"])
    n, k = spec["iterations"], spec["count_iterations"]
    tag = f"{cls.name}-{os.getpid()}"
    probe = spec["probe_name"]
    out: dict = {}

    # Warm-up: every code path once, on both instances (lazy imports, pools, bucket checks).
    for c in (direct, proxied):
        warm = f"warm/{tag}/{id(c)}.bin"
        c.save(warm, small_file())
        c.save_taken(warm, small_file())
        c.exists(warm)
        c.exists(f"warm/{tag}/missing.bin")
        c.size(warm)
        c.read(warm)
        c.url_private(probe)
        c.url_public(probe)

    # url(): local work only; checked to be real, working URLs.
    timing = {"min_time": spec["min_time"], "repeats": spec["repeats"]}
    out["url_private_us"] = per_call_us(direct.url_private, probe, **timing)
    out["url_public_us"] = per_call_us(direct.url_public, probe, **timing)
    private_url, public_url = direct.url_private(probe), direct.url_public(probe)
    out["checks"] = {
        "url_private": private_url,
        "url_public": public_url,
        "url_private_status": http_status(private_url),
        "url_public_status": http_status(public_url),
    }

    # 4 KiB saves: fresh names, then a taken name (each save must keep both files).
    fresh = [f"bench/{tag}/fresh-{i:05d}.bin" for i in range(n)]
    elapsed = timed_loop(lambda name: direct.save(name, small_file()), fresh)
    out["save_fresh_per_s"] = n / elapsed
    taken = f"bench/{tag}/taken.bin"
    direct.save(taken, small_file())
    names = []
    elapsed = timed_loop(lambda _: names.append(direct.save_taken(taken, small_file())), range(n))
    out["save_taken_per_s"] = n / elapsed
    out["checks"]["taken_kept_both"] = len(set(names)) == n and taken not in names

    # exists() / size() / open()+read() of the small file.
    existing = fresh[0]
    out["exists_us"] = timed_loop(lambda _: direct.exists(existing), range(n)) / n * 1e6
    out["exists_missing_us"] = (
        timed_loop(lambda _: direct.exists(f"bench/{tag}/nope.bin"), range(n)) / n * 1e6
    )
    out["size_us"] = timed_loop(lambda _: direct.size(existing), range(n)) / n * 1e6
    out["read_small_us"] = timed_loop(lambda _: direct.read(existing), range(n)) / n * 1e6
    out["checks"]["exists"] = bool(direct.exists(existing)) and not direct.exists(f"bench/{tag}/nope.bin")
    out["checks"]["size"] = direct.size(existing) == len(SMALL)

    # HTTP requests per call, counted on the wire by the proxy.
    existing_p = f"bench/{tag}/counted.bin"
    proxied.save(existing_p, small_file())
    taken_p = f"bench/{tag}/counted-taken.bin"
    proxied.save(taken_p, small_file())
    ops = {
        "save_fresh": lambda i: proxied.save(f"bench/{tag}/counted-fresh-{i:05d}.bin", small_file()),
        "save_taken": lambda i: proxied.save_taken(taken_p, small_file()),
        "exists": lambda i: proxied.exists(existing_p),
        "exists_missing": lambda i: proxied.exists(f"bench/{tag}/counted-nope.bin"),
        "size": lambda i: proxied.size(existing_p),
        "read_small": lambda i: proxied.read(existing_p),
        "url_private": lambda i: proxied.url_private(probe),
        "url_public": lambda i: proxied.url_public(probe),
    }
    requests = {}
    for op, fn in ops.items():
        ctl.reset()
        for i in range(k):
            fn(i)
        snap = ctl.snapshot()
        requests[op] = {
            "per_call": snap["requests"] / k,
            "by_kind": {kind: count / k for kind, count in snap["by_kind"].items()},
        }
    out["requests"] = requests
    return out


def task_large(cls, spec: dict) -> dict:
    from django.core.files.base import File

    setup_django()
    c = cls(spec["s3"], spec["endpoint"])
    c.connect()
    size, name, op = spec["size"], spec["name"], spec["op"]
    warm = f"warm/large-{cls.name}-{os.getpid()}.bin"
    c.save(warm, File(Pattern(1024 * 1024), name="warm.bin"))
    c.read(warm)
    c.delete(warm)
    gc.collect()
    rss_before = _status_kib("VmRSS")
    exact = reset_peak()
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    if op == "save":
        stored = c.save(name, File(Pattern(size), name=os.path.basename(name)))
        ok = stored == name
    else:
        ok = c.read(name) == size
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    peak = _status_kib("VmHWM")
    if not ok:
        raise RuntimeError(f"{op} of {size} bytes as {name!r} did not round-trip")
    return {
        "seconds": seconds,
        "mib_per_s": size / seconds / 2**20,
        "cpu_s": cpu,
        "cpu_s_per_gib": cpu / (size / 2**30),
        "rss_before_mib": rss_before / 1024,
        "peak_mib": peak / 1024,
        "growth_mib": max(0, peak - rss_before) / 1024,
        "peak_reset": exact,
    }


def task_collectstatic(cls, spec: dict) -> dict:
    """Three runs: first (empty bucket), no change, then every source mtime touched.

    ``spec["command"]`` is "django" (Django's own collectstatic, whatever the
    storage) or "ours" (django_minio_backend before django.contrib.staticfiles in
    INSTALLED_APPS, so its collectstatic command is the one that runs).
    """
    import importlib.util
    import io

    c = cls(spec["s3"], spec["proxy_endpoint"] if spec["proxied"] else spec["endpoint"])
    static = c.static_storage(spec["bucket"])
    if static is None:
        return {"skipped": "no static storage"}
    apps = ["django.contrib.staticfiles"]
    if spec["command"] == "ours":
        if importlib.util.find_spec("django_minio_backend.management.commands.collectstatic") is None:
            return {"skipped": "django_minio_backend has no collectstatic command"}
        apps = ["django_minio_backend", "django.contrib.staticfiles"]
    setup_django(static, spec["static_dir"], apps)
    from django.core.management import call_command, get_commands

    ctl = ProxyControl(spec["proxy_control"]) if spec["proxied"] else None
    runs = {}
    for run in ("first", "second", "touched"):
        if run == "touched":  # a fresh checkout: same content, every mtime newer than the uploads
            later = time.time() + 5
            for path in Path(spec["static_dir"]).rglob("*"):
                if path.is_file():
                    os.utime(path, (later, later))
        if ctl:
            ctl.reset()
        t0 = time.perf_counter()
        call_command("collectstatic", interactive=False, verbosity=0, stdout=io.StringIO())
        seconds = time.perf_counter() - t0
        runs[run] = {"seconds": seconds, **(ctl.snapshot() if ctl else {})}
    return {"backend": static[0], "command_from": get_commands()["collectstatic"], **runs}


def task_concurrent(cls, spec: dict) -> dict:
    from concurrency import task_concurrent as run

    return run(cls, spec)


TASKS = {
    "micro": task_micro,
    "large": task_large,
    "collectstatic": task_collectstatic,
    "concurrent": task_concurrent,
}


def main() -> int:
    task, contender, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    try:
        result = TASKS[task](CONTENDERS[contender], spec)
    except Exception:
        traceback.print_exc()
        return 1
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
