"""Concurrent work: many threads (and processes) sharing one storage, as a busy Django site does.

Each configuration is ``processes x threads``; every process is a fresh worker
(``worker.py concurrent ...``) with one contender built once and shared by all its
threads. Per operation (4 KiB saves with fresh names, ``exists()`` of a stored
file, private ``url()``, 4 KiB reads) every thread makes the same number of calls,
all threads (of all processes) released together; the figures are

- ops/s: all calls of the phase over the wall time from the first start to the last end,
- p50 / p99: latency of one call (ms), over the calls of every thread and process,
- CPU per op: user + system CPU of the client processes (all threads) over the phase,
  divided by its calls (the server's CPU is not counted),
- pool discards: urllib3's "Connection pool is full, discarding connection" warnings.

The raw SDK also runs ``put_plain`` and ``put_conditional`` in one phase: the same
one PUT (``Minio._put_object``) without and with ``If-None-Match: *``, alternating
call by call in every thread, so both see the same load; their latencies show what
the server alone charges for a create-only write.

Processes of one configuration are started together and kept in step: before each
phase a worker prints ``READY <op>`` and waits for a ``GO`` line on stdin.
"""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

OPS = ("save", "exists", "url", "read")
SDK_OPS = ("put_plain", "put_conditional")
OP_LABELS = {
    "save": "4 KiB saves",
    "exists": "exists()",
    "url": "url() (private)",
    "read": "4 KiB reads",
    "put_plain": "server only: plain PUT",
    "put_conditional": "server only: PUT If-None-Match",
    "put_pair": "server only: plain and conditional PUTs, alternating",
}
# url() is local work (microseconds): more calls for a measurable phase.
CALLS_FACTOR = {"url": 20, "put_pair": 2}  # put_pair: each kind as many calls as a save phase
PROFILES = {
    # (processes, threads) per configuration; calls per op over all threads; rounds.
    "full": {"configs": [(1, 1), (1, 4), (1, 16), (1, 64), (4, 16)], "calls": 512, "rounds": 2},
    "smoke": {"configs": [(1, 2), (2, 2)], "calls": 8, "rounds": 1},
}


def config_label(processes: int, threads: int) -> str:
    return f"{threads} threads" if processes == 1 else f"{processes} proc x {threads} threads"


def calls_per_thread(op: str, total_threads: int, calls: int) -> int:
    return max(2, math.ceil(calls * CALLS_FACTOR.get(op, 1) / total_threads))


# -- in the worker ------------------------------------------------------------------


class _PoolFullCounter(logging.Handler):
    """Counts urllib3's warnings that a connection was dropped because its pool was full."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "pool is full" in record.getMessage():
            self.count += 1


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _wait_for_go(op: str, synced: bool) -> None:
    if not synced:
        return
    print(f"READY {op}", flush=True)
    if sys.stdin.readline().strip() != "GO":
        raise RuntimeError("the coordinator went away")


def task_concurrent(cls: Any, spec: dict) -> dict:
    """One process of a ``processes x threads`` configuration: every op, all threads at once."""
    from django.core.files.base import ContentFile
    from worker import SMALL, setup_django

    setup_django()
    threads, calls = spec["threads"], spec["calls"]
    total_threads = threads * spec["processes"]
    counter = _PoolFullCounter()
    logging.getLogger("urllib3").addHandler(counter)
    contender = cls(spec["s3"], spec["endpoint"])
    contender.connect()
    tag = f"{cls.name}-{spec['config']}-{spec['round']}-{spec['index']}-{os.getpid()}"
    stored = f"conc/{tag}/stored.bin"
    contender.save(stored, ContentFile(SMALL))
    probe = spec["probe_name"]

    put_plain = put_conditional = None
    if cls.name == "sdk":
        client, bucket = contender.client, contender.private_bucket

        def put_plain(name: str) -> None:
            client._put_object(bucket, name, SMALL, {"Content-Type": "application/octet-stream"})

        def put_conditional(name: str) -> None:
            client._put_object(
                bucket, name, SMALL, {"Content-Type": "application/octet-stream", "If-None-Match": "*"}
            )

    def save(name: str) -> None:
        if contender.save(name, ContentFile(SMALL)) != name:
            raise RuntimeError(f"{name!r} was free but saved under another name")

    actions = {
        "save": save,
        "exists": lambda name: contender.exists(stored) or _fail("exists() of a stored file is False"),
        "url": lambda name: contender.url_private(probe),
        "read": lambda name: contender.read(stored) == len(SMALL) or _fail("short read"),
        "put_plain": put_plain,
        "put_conditional": put_conditional,
    }
    if put_plain and put_conditional:
        # Even calls plain, odd conditional (threads start on alternate kinds): the same moments.
        actions["put_pair"] = lambda name, i: (put_plain if i % 2 == 0 else put_conditional)(name)
    ops = list(OPS) + (["put_pair"] if cls.name == "sdk" else [])

    # Warm-up: every thread makes every call once, so each pool holds its connections.
    def warm(t: int) -> None:
        for op in ops:
            if op == "put_pair":
                actions[op](f"conc/{tag}/warm-{op}-{t}-0.bin", 0)
                actions[op](f"conc/{tag}/warm-{op}-{t}-1.bin", 1)
            else:
                actions[op](f"conc/{tag}/warm-{op}-{t}.bin")

    _run_threads(threads, warm)
    counter.count = 0

    out: dict = {"ops": {}}
    for op in ops:
        n = calls_per_thread(op, total_threads, calls)
        action = actions[op]
        latencies: list[list[float]] = [[] for _ in range(threads)]

        kinds: list[list[int]] = [[] for _ in range(threads)]

        def work(t: int, action=action, n=n, op=op, latencies=latencies, kinds=kinds) -> None:
            lat = latencies[t]
            for i in range(n):
                name = f"conc/{tag}/{op}-{t}-{i}.bin"
                t0 = time.perf_counter()
                if op == "put_pair":
                    action(name, i + t)
                    kinds[t].append((i + t) % 2)
                else:
                    action(name)
                lat.append(time.perf_counter() - t0)

        _wait_for_go(op, spec["processes"] > 1)
        discards0 = counter.count
        cpu0, start = _cpu(), time.time()
        _run_threads(threads, work)
        end, cpu1 = time.time(), _cpu()
        phase = {
            "calls": n * threads,
            "start": start,
            "end": end,
            "cpu_s": cpu1 - cpu0,
            "pool_discards": counter.count - discards0,
            "latencies_ms": [round(x * 1000, 4) for lat in latencies for x in lat],
        }
        if op != "put_pair":
            out["ops"][op] = phase
            continue
        for kind, label in enumerate(SDK_OPS):  # the phase's CPU and wall time are shared: halves
            picked = [
                round(x * 1000, 4)
                for lat, ks in zip(latencies, kinds, strict=True)
                for x, k in zip(lat, ks, strict=True)
                if k == kind
            ]
            out["ops"][label] = {
                **phase,
                "calls": len(picked),
                "cpu_s": phase["cpu_s"] / 2,
                "latencies_ms": picked,
            }
    return out


def _fail(message: str) -> bool:
    raise RuntimeError(message)


def _run_threads(threads: int, fn: Any) -> None:
    """Run ``fn(t)`` in ``threads`` threads released together; re-raise the first failure."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def body(t: int) -> None:
        try:
            barrier.wait()
            fn(t)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=body, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    if errors:
        raise errors[0]


# -- in run.py ----------------------------------------------------------------------


def run_config(contender: str, spec: dict, env: dict, failures: list, log: Any) -> dict | None:
    """Start ``spec["processes"]`` workers together, keep them in step, merge their figures."""
    processes = spec["processes"]
    procs = []
    # stderr into files: a full pipe would block a worker mid-phase.
    logs = [tempfile.TemporaryFile("w+") for _ in range(processes)]  # noqa: SIM115
    for index in range(processes):
        cmd = [
            sys.executable,
            str(HERE / "worker.py"),
            "concurrent",
            contender,
            json.dumps({**spec, "index": index}),
        ]
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logs[index], text=True
            )
        )
    results: list[dict] = []
    try:
        for p in procs:
            results.append(_follow(p, procs))
    except RuntimeError as exc:
        for p in procs:
            p.kill()
        errors = []
        for f in logs:
            f.seek(0)
            errors.append(f.read())
        tail = "\n".join("\n".join(e.strip().splitlines()[-12:]) for e in errors if e.strip())
        failures.append(
            {"task": f"concurrent {spec['config']}", "contender": contender, "error": f"{exc}\n{tail}"}
        )
        log(f"  !! {contender} concurrent {spec['config']} failed: {exc}\n{tail}")
        return None
    finally:
        for p in procs:
            p.wait(timeout=60)
        for f in logs:
            f.close()
    return merge(results)


def _follow(proc: subprocess.Popen, group: list[subprocess.Popen]) -> dict:
    """Read one worker's output to its RESULT; when every worker of the group is READY, say GO."""
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited ({proc.wait()}) without a result")
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
        if line.startswith("READY "):
            # This worker waits; the others reach the same phase (their READY lines) before GO.
            for other in group:
                if other is not proc:
                    _await_ready(other, line.split()[1])
            for p in group:
                assert p.stdin is not None
                p.stdin.write("GO\n")
                p.stdin.flush()


def _await_ready(proc: subprocess.Popen, op: str) -> None:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited ({proc.wait()}) before phase {op}")
        if line.strip() == f"READY {op}":
            return


def merge(results: list[dict]) -> dict:
    """One figure set per op over the processes of a configuration."""
    out = {}
    for op in results[0]["ops"]:
        parts = [r["ops"][op] for r in results]
        calls = sum(p["calls"] for p in parts)
        wall = max(p["end"] for p in parts) - min(p["start"] for p in parts)
        lat = sorted(x for p in parts for x in p["latencies_ms"])
        out[op] = {
            "calls": calls,
            "wall_s": wall,
            "ops_per_s": calls / wall if wall > 0 else None,
            "p50_ms": _percentile(lat, 0.50),
            "p99_ms": _percentile(lat, 0.99),
            "mean_ms": sum(lat) / len(lat) if lat else None,
            "cpu_ms_per_op": sum(p["cpu_s"] for p in parts) / calls * 1000,
            "pool_discards": sum(p["pool_discards"] for p in parts),
        }
    return out


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def round_order(contenders: list[str], r: int) -> list[str]:
    """Ours and the SDK back to back (alternating who goes first), the peers after, in round 0 only.

    On a shared machine the load drifts over minutes: pairs measured seconds apart
    give ratios that mean something; the peers are context, measured once.
    """
    pair = [c for c in ("ours", "sdk") if c in contenders]
    if r % 2:
        pair.reverse()
    return pair + ([c for c in contenders if c not in pair] if r == 0 else [])


def run_all(
    contenders: list[str], base: dict, profile_name: str, env: dict, failures: list, log: Any, started: float
) -> dict:
    """Every configuration of the profile for every contender, rounds as :func:`round_order` says."""
    profile = PROFILES[profile_name]
    raw: dict = {}
    for r in range(profile["rounds"]):
        for processes, threads in profile["configs"]:
            config = config_label(processes, threads)
            for c in round_order(contenders, r):
                log(f"[{time.monotonic() - started:6.1f}s] concurrent {config} round {r + 1}: {c}")
                spec = {
                    **base,
                    "processes": processes,
                    "threads": threads,
                    "calls": profile["calls"],
                    "config": config.replace(" ", ""),
                    "round": r,
                }
                res = run_config(c, spec, env, failures, log)
                if res is not None:
                    raw.setdefault(config, {}).setdefault(c, []).append(res)
    return {"profile": profile, "rounds": raw}


# -- report -------------------------------------------------------------------------


def summarize(concurrent: dict, contenders: list[str]) -> dict:
    """Best round per contender (highest ops/s; its p50/p99/CPU), ratios to the SDK's best."""
    table: dict = {}
    for config, by_contender in concurrent["rounds"].items():
        for c, rounds in by_contender.items():
            for op in rounds[0]:
                best = max(rounds, key=lambda r, op=op: r[op]["ops_per_s"] or 0)[op]
                entry = dict(best)
                entry["p99_ms"] = min(r[op]["p99_ms"] for r in rounds)
                entry["cpu_ms_per_op"] = min(r[op]["cpu_ms_per_op"] for r in rounds)
                entry["pool_discards"] = max(r[op]["pool_discards"] for r in rounds)
                entry["rounds_ops_per_s"] = [r[op]["ops_per_s"] for r in rounds]
                table.setdefault(config, {}).setdefault(op, {})[c] = entry
    for ops in table.values():
        for by_c in ops.values():
            base = by_c.get("sdk")
            for entry in by_c.values():
                entry["ratio_ops"] = entry["ops_per_s"] / base["ops_per_s"] if base else None
                # Round by round (ours and the SDK ran back to back): the spread the best hides.
                entry["ratio_ops_per_round"] = (
                    [a / b for a, b in zip(entry["rounds_ops_per_s"], base["rounds_ops_per_s"], strict=False)]
                    if base
                    else None
                )
                entry["ratio_p99"] = entry["p99_ms"] / base["p99_ms"] if base and base["p99_ms"] else None
                entry["ratio_cpu"] = (
                    entry["cpu_ms_per_op"] / base["cpu_ms_per_op"] if base and base["cpu_ms_per_op"] else None
                )
    return {"contenders": contenders, "table": table}


def targets(summary: dict) -> list[dict]:
    """The issue's concurrency targets for ours."""
    out = []
    table = summary.get("table", {})

    def entry(config: str, op: str) -> dict | None:
        return table.get(config, {}).get(op, {}).get("ours")

    for config, goal in (("1 threads", 0.9), ("16 threads", 0.9)):
        e = entry(config, "save")
        if e:
            out.append(
                {
                    "target": f"4 KiB saves (create-only), {config.replace('1 threads', '1 thread')}",
                    "goal": f">= {goal}x SDK saves/s",
                    "shown": f"{e['ops_per_s']:.0f}/s ({e['ratio_ops']:.2f}x)",
                    "met": e["ratio_ops"] >= goal,
                }
            )
    e = entry("16 threads", "save")
    if e and e["ratio_p99"] is not None:
        out.append(
            {
                "target": "p99 save latency, 16 threads",
                "goal": "<= 1.2x SDK",
                "shown": f"{e['p99_ms']:.1f} ms ({e['ratio_p99']:.2f}x)",
                "met": e["ratio_p99"] <= 1.2,
            }
        )
    discards = sum(
        e.get("pool_discards", 0)
        for ops in table.values()
        for e in [ops.get(o, {}).get("ours") or {} for o in ops]
    )
    if table:
        out.append(
            {
                "target": "connections dropped because the pool was full",
                "goal": "none",
                "shown": str(discards),
                "met": discards == 0,
            }
        )
    return out


def markdown(summary: dict, plot_rel: str | None) -> list[str]:
    from report import SHORT

    table = summary.get("table")
    if not table:
        return []
    contenders = summary["contenders"]
    lines = [
        "",
        "**Concurrency**: threads sharing one storage (and processes of 16 threads each). Per cell: "
        "calls per second (ratio to the SDK), p50 / p99 latency in ms, client CPU ms per call; "
        "best of the rounds. 4 KiB saves are create-only for ours (one conditional PUT).",
        "",
    ]
    if plot_rel:
        lines += [f"![Concurrency]({plot_rel})", ""]
    lines += [
        "| configuration | operation | " + " | ".join(SHORT[c] for c in contenders) + " |",
        "|---|---|" + "---:|" * len(contenders),
    ]
    for config, ops in table.items():
        for op, by_c in ops.items():
            if op in SDK_OPS:
                continue
            cells = []
            for c in contenders:
                e = by_c.get(c)
                if not e:
                    cells.append("—")
                    continue
                cell = (
                    f"{e['ops_per_s']:.0f}/s ({e['ratio_ops']:.2f}x)<br>"
                    f"{e['p50_ms']:.2f} / {e['p99_ms']:.2f} ms<br>{e['cpu_ms_per_op']:.3f} ms CPU"
                )
                if e.get("pool_discards"):
                    cell += f"<br>{e['pool_discards']} pool discards"
                cells.append(cell)
            lines.append(f"| {config} | {OP_LABELS[op]} | " + " | ".join(cells) + " |")
    server = [
        (config, ops["put_plain"]["sdk"], ops["put_conditional"]["sdk"])
        for config, ops in table.items()
        if "sdk" in ops.get("put_plain", {}) and "sdk" in ops.get("put_conditional", {})
    ]
    if server:
        lines += [
            "",
            "**The server alone**: the raw SDK's one PUT of 4 KiB (`Minio._put_object`), without and "
            "with `If-None-Match: *`, alternating call by call in every thread (same moments, same "
            "load). Latency in ms, mean / p50 / p99:",
            "",
            "| configuration | plain PUT | conditional PUT | conditional / plain (mean) |",
            "|---|---:|---:|---:|",
        ]
        for config, plain, cond in server:
            lines.append(
                f"| {config} | {plain['mean_ms']:.2f} / {plain['p50_ms']:.2f} / {plain['p99_ms']:.1f} "
                f"| {cond['mean_ms']:.2f} / {cond['p50_ms']:.2f} / {cond['p99_ms']:.1f} "
                f"| {cond['mean_ms'] / plain['mean_ms']:.2f}x |"
            )
    return lines


def text_table(summary: dict) -> str:
    table = summary.get("table")
    if not table:
        return ""
    contenders = summary["contenders"]
    rows = [f"{'configuration':<22} {'op':<16} " + " ".join(f"{c[:20]:>26}" for c in contenders)]
    for config, ops in table.items():
        for op, by_c in ops.items():
            cells = []
            for c in contenders:
                e = by_c.get(c)
                cells.append(
                    f"{e['ops_per_s']:8.0f}/s {e['ratio_ops']:4.2f}x p99 {e['p99_ms']:6.1f}" if e else "—"
                )
            rows.append(f"{config:<22} {op:<16} " + " ".join(f"{x:>26}" for x in cells))
    return "\n".join(rows)


def plot(summary: dict, path: Path) -> None:
    """Saves/s and p99 by configuration, one line per contender; exists/read/url ratios below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from report import COLORS, SHORT

    table = summary.get("table")
    if not table:
        return
    configs = list(table)
    contenders = summary["contenders"]
    fig, axes = plt.subplots(2, 2, figsize=(15, 9))
    fig.suptitle("Concurrent calls on one storage (SeaweedFS, loopback)", fontsize=14, fontweight="bold")
    panels = [
        (axes[0][0], "save", "ops_per_s", "4 KiB saves per second (higher is better)"),
        (axes[0][1], "save", "p99_ms", "p99 save latency, ms (lower is better)"),
        (axes[1][0], "exists", "ops_per_s", "exists() per second"),
        (axes[1][1], "read", "ops_per_s", "4 KiB reads per second"),
    ]
    xs = range(len(configs))
    for ax, op, key, title in panels:
        for c in contenders:
            ys = [table[cfg].get(op, {}).get(c, {}).get(key) for cfg in configs]
            ax.plot(xs, ys, marker="o", color=COLORS[c], label=SHORT[c])
        ax.set_xticks(list(xs), [cfg.replace(" x ", "\nx ") for cfg in configs], fontsize=8)
        ax.set_title(title, fontsize=11)
        ax.grid(alpha=0.3)
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(False)
    axes[0][0].legend(fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
