"""Turning raw results into figures, ratios, targets, a table, a plot and docs."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

import concurrency
from contenders import CONTENDERS

MiB = 1024 * 1024
OURS, BASE = "ours", "sdk"
SHORT = {
    "ours": "ours",
    "sdk": "minio SDK",
    "django-storages": "django-storages",
    "django-minio-storage": "django-minio-storage",
}
COLORS = {
    "ours": "#2a9d8f",
    "sdk": "#8d99ae",
    "django-storages": "#457b9d",
    "django-minio-storage": "#e9a03b",
}
PACKAGES = [
    "django-minio-backend",
    "Django",
    "minio",
    "urllib3",
    "django-storages",
    "boto3",
    "botocore",
    "s3transfer",
    "django-minio-storage",
    "matplotlib",
]
RUNS = ("first", "second", "touched")
RUN_LABELS = {"first": "first run", "second": "no-change run", "touched": "mtimes touched"}
VARIANTS = {
    "ours/django": "ours, Django's collectstatic",
    "ours/ours": "ours, our collectstatic",
    "django-storages/django": "django-storages",
    "django-minio-storage/django": "django-minio-storage",
}
BEGIN, END = "<!-- BEGIN GENERATED: benchmarks/run.py -->", "<!-- END GENERATED -->"


# -- machine --------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine() -> dict:
    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mem = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo"), re.M)
    osname = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', _read("/etc/os-release"), re.M)
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parents[1]), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": model.group(1).strip() if model else platform.processor(),
        "memory_gib": round(int(mem.group(1)) / 2**20, 1) if mem else None,
        "os": osname.group(1) if osname else platform.platform(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "commit": commit,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def weed_version() -> str:
    from django_minio_backend.testing.seaweedfs import find_weed_binary

    try:
        out = subprocess.run(
            [find_weed_binary(), "version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, RuntimeError):
        return "?"
    return _version_only(out.strip()[:80])


def _version_only(text: str) -> str:
    found = re.search(r"\b(\d+\.\d+(?:\.\d+)?)\b", text or "")
    return found.group(1) if found else text


def size_label(size: int) -> str:
    return f"{size // 1024**3}GiB" if size >= 1024**3 and size % 1024**3 == 0 else f"{size // MiB}MiB"


def _pretty_size(label: str) -> str:
    return label.replace("MiB", " MiB").replace("GiB", " GiB")


# -- figures --------------------------------------------------------------------


def _best(runs: list[dict], key: str, better: str):
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return None
    return min(values) if better == "lower" else max(values)


def summarize(results: dict) -> dict:
    contenders = results["contenders"]
    figures: list[dict] = []

    def add(key, label, unit, better, values, group, fmt, samples=None, ratios=None):
        values = {c: v for c, v in values.items() if v is not None}
        base = values.get(BASE)
        if ratios is None:
            ratios = {c: (v / base if base else None) for c, v in values.items()}
        figures.append(
            {
                "key": key,
                "label": label,
                "unit": unit,
                "better": better,
                "group": group,
                "fmt": fmt,
                "values": values,
                "ratio_to_sdk": ratios,
                **({"samples": samples} if samples else {}),
            }
        )

    micro = results["micro"]
    timed = [
        ("url_private_us", "url(), private object (presigned)", "µs/call", "lower", ".2f"),
        ("url_public_us", "url(), public object", "µs/call", "lower", ".2f"),
        ("save_fresh_per_s", "save() 4 KiB, fresh name", "saves/s", "higher", ".0f"),
        ("save_taken_per_s", "save() 4 KiB, taken name", "saves/s", "higher", ".0f"),
        ("exists_us", "exists(), object present", "µs/call", "lower", ".0f"),
        ("exists_missing_us", "exists(), object missing", "µs/call", "lower", ".0f"),
        ("size_us", "size()", "µs/call", "lower", ".0f"),
        ("read_small_us", "open()+read() 4 KiB", "µs/call", "lower", ".0f"),
    ]
    for key, label, unit, better, fmt in timed:
        values = {c: _best(micro[c], key, better) for c in contenders if micro.get(c)}
        add(key, label, unit, better, values, "speed", fmt)
    counted = [
        ("save_fresh", "HTTP requests per save(), fresh name"),
        ("save_taken", "HTTP requests per save(), taken name"),
        ("exists", "HTTP requests per exists(), present"),
        ("exists_missing", "HTTP requests per exists(), missing"),
        ("size", "HTTP requests per size()"),
        ("read_small", "HTTP requests per open()+read() 4 KiB"),
        ("url_private", "HTTP requests per url() (private)"),
    ]
    for op, label in counted:
        values = {c: micro[c][0]["requests"][op]["per_call"] for c in contenders if micro.get(c)}
        add(f"requests_{op}", label, "requests", "lower", values, "requests", ".2f")

    large = results["large"]
    sizes = [size_label(s) for s, _ in results["settings"]["large"]]
    # Since reads share one SDK-written object per size (run.py, READ_OBJECT); older results
    # files, where each contender read the object it had saved, keep the plain label.
    read_object = results["settings"].get("read_object")
    for op in ("save", "read"):
        for label in sizes:
            key = f"{op}_{label}"
            what = f"{op} {_pretty_size(label)}"
            if op == "read" and read_object:
                what += " (same object for all)"
            runs = {c: rs for c in contenders if (rs := large.get(c, {}).get(key))}
            # Median of the rounds, and the ratio as the median of per-round ratios (each
            # round's contenders run back to back): robust to the noise of a shared machine.
            speed = {c: statistics.median(r["mib_per_s"] for r in rs) for c, rs in runs.items()}
            paired = _paired_ratios(runs, "mib_per_s")
            samples = {
                c: {
                    "mib_per_s": [round(r["mib_per_s"], 1) for r in rs],
                    "best_mib_per_s": round(max(r["mib_per_s"] for r in rs), 1),
                    **({"ratio_to_sdk_per_round": [round(x, 3) for x in paired[c]]} if c in paired else {}),
                }
                for c, rs in runs.items()
            }
            growth = {c: max(r["growth_mib"] for r in rs) for c, rs in runs.items()}
            add(
                f"{key}_mib_s",
                f"{what}: throughput",
                "MiB/s",
                "higher",
                speed,
                "large",
                ".0f",
                samples,
                ratios={c: statistics.median(x) for c, x in paired.items()},
            )
            add(
                f"{key}_growth_mib",
                f"{what}: peak RSS growth",
                "MiB",
                "lower",
                growth,
                "memory",
                ".1f",
            )
            if label == sizes[-1]:
                cpu = {
                    c: min(r["cpu_s_per_gib"] for r in rs)
                    for c, rs in runs.items()
                    if "cpu_s_per_gib" in rs[0]
                }
                add(
                    f"{key}_cpu_s_per_gib",
                    f"{what}: client CPU",
                    "s/GiB",
                    "lower",
                    cpu,
                    "cpu",
                    ".2f",
                )

    collect = {}
    n = results["settings"]["static_files"]
    for variant, entry in results["collectstatic"].items():
        timed_run, counted_run = entry.get("timed") or {}, entry.get("counted") or {}
        c, command = variant.split("/")
        item = {"contender": c, "command": command, "files": n}
        if "skipped" in timed_run or not timed_run:
            item["skipped"] = timed_run.get("skipped", "crashed")
            collect[variant] = item
            continue
        item["backend"] = timed_run["backend"]
        item["command_from"] = timed_run["command_from"]
        for run in RUNS:
            item[f"{run}_s"] = timed_run[run]["seconds"]
            counted = counted_run.get(run) or {}
            item[f"{run}_requests_per_file"] = counted["requests"] / n if counted else None
            item[f"{run}_by_kind"] = counted.get("by_kind")
        collect[variant] = item

    checks = {c: micro[c][0]["checks"] for c in contenders if micro.get(c)}
    summary = {
        "contenders": contenders,
        "labels": {c: CONTENDERS[c].label for c in contenders},
        "figures": figures,
        "collectstatic": collect,
        "checks": checks,
        "sizes": sizes,
        "machine": results["machine"],
        "profile": results["profile"],
        "read_object": read_object,
        "failures": results.get("failures", []),
        "concurrent": concurrency.summarize(results.get("concurrent") or {"rounds": {}}, contenders),
    }
    summary["targets"] = targets(summary) + concurrency.targets(summary["concurrent"])
    return summary


def _paired_ratios(runs: dict[str, list[dict]], key: str) -> dict[str, list[float]]:
    """Per round, each contender's value over the SDK's value in the same round."""
    base = runs.get(BASE)
    if not base:
        return {}
    return {
        c: [r[key] / b[key] for r, b in zip(rs, base, strict=False) if b[key]]
        for c, rs in runs.items()
        if len(rs) == len(base)
    }


def _fig(summary: dict, key: str) -> dict:
    for f in summary["figures"]:
        if f["key"] == key:
            return f
    return {"values": {}, "ratio_to_sdk": {}}


def targets(summary: dict) -> list[dict]:
    """The issue's targets for ours, each with the measured value and a verdict."""
    out = []

    def check(name, goal, value, ok, shown):
        out.append({"target": name, "goal": goal, "value": value, "met": ok, "shown": shown})

    def value(key, c=OURS):
        return _fig(summary, key)["values"].get(c)

    def ratio(key, c=OURS):
        return _fig(summary, key)["ratio_to_sdk"].get(c)

    r = ratio("url_private_us")
    if r is not None:
        check(
            "private url() time vs SDK presigned_get_object", "≤ 0.33\u00d7", r, r <= 1 / 3, f"{r:.2f}\u00d7"
        )
    v = value("url_public_us")
    if v is not None:
        check("public url() time", "< 2 µs", v, v < 2.0, f"{v:.2f} µs")
        ds = value("url_public_us", "django-storages")
        if ds:
            check(
                "public url() speed-up over django-storages",
                "≥ 30\u00d7",
                ds / v,
                ds / v >= 30,
                f"{ds / v:.0f}\u00d7",
            )
    v = value("requests_save_fresh")
    if v is not None:
        check("HTTP requests per save(), fresh name", "1.0", v, v <= 1.0, f"{v:.2f}")
    v = value("requests_save_taken")
    if v is not None:
        check("HTTP requests per save(), taken name", "≤ 2.0", v, v <= 2.0, f"{v:.2f}")
    for op in ("save", "read"):
        for label in summary["sizes"]:
            r = ratio(f"{op}_{label}_mib_s")
            shared = " (same object for all)" if op == "read" and summary.get("read_object") else ""
            if r is not None:
                check(
                    f"{op} {_pretty_size(label)} throughput vs SDK{shared}",
                    "≥ 0.9\u00d7",
                    r,
                    r >= 0.9,
                    f"{r:.2f}\u00d7",
                )
            g = value(f"{op}_{label}_growth_mib")
            if g is not None:
                check(f"{op} {_pretty_size(label)} peak RSS growth", "< 64 MiB", g, g < 64, f"{g:.1f} MiB")
        small, big = summary["sizes"][0], summary["sizes"][-1]
        g0, g1 = value(f"{op}_{small}_growth_mib"), value(f"{op}_{big}_growth_mib")
        if g0 is not None and g1 is not None and small != big:
            d = g1 - g0
            check(
                f"{op}: RSS growth flat in file size ({_pretty_size(small)} → {_pretty_size(big)})",
                "< +16 MiB",
                d,
                d < 16,
                f"{d:+.1f} MiB",
            )
    plain, fast = summary["collectstatic"].get("ours/django"), summary["collectstatic"].get("ours/ours")
    if plain and fast and "skipped" not in plain and "skipped" not in fast:
        for run in RUNS:
            x = plain[f"{run}_s"] / fast[f"{run}_s"]
            check(
                f"collectstatic {RUN_LABELS[run]}: our command vs Django's, on ours",
                "report",
                x,
                None,
                f"{x:.1f}\u00d7 faster" if x >= 1 else f"{1 / x:.1f}\u00d7 slower",
            )
    elif plain and fast and "skipped" in fast:
        check("collectstatic: our skip-unchanged command", "report", None, None, fast["skipped"])
    return out


# -- text and markdown ----------------------------------------------------------


def _cell(fig: dict, c: str, with_ratio: bool = True) -> str:
    v = fig["values"].get(c)
    if v is None:
        return "—"
    text = format(v, fig["fmt"])
    r = fig["ratio_to_sdk"].get(c)
    if with_ratio and c != BASE and r is not None:
        text += f" ({r:.2f}\u00d7)" if r < 100 else f" ({r:.0f}\u00d7)"
    return text


def rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    header = ["figure", "unit"] + [SHORT[c] for c in summary["contenders"]]
    body = []
    for fig in summary["figures"]:
        if fig["key"] == "requests_url_private":
            continue
        body.append([fig["label"], fig["unit"]] + [_cell(fig, c) for c in summary["contenders"]])
    return header, body


def text_table(summary: dict) -> str:
    header, body = rows(summary)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        )

    out = [line(header), "  ".join("-" * w for w in widths), *map(line, body)]
    out.append("(value (ratio to the raw minio SDK in the same run))")
    if summary["collectstatic"]:
        n = next(iter(summary["collectstatic"].values()))["files"]
        out += [
            "",
            f"collectstatic of {n} files: s (requests per file), first / no-change / mtimes-touched run",
        ]
        for variant, cs in summary["collectstatic"].items():
            if "skipped" in cs:
                out.append(f"  {VARIANTS.get(variant, variant):30s} not measured: {cs['skipped']}")
                continue
            cells = [f"{cs[f'{r}_s']:6.2f} s ({_num(cs[f'{r}_requests_per_file'])})" for r in RUNS]
            out.append(f"  {VARIANTS.get(variant, variant):30s} " + " / ".join(cells))
    if summary["concurrent"].get("table"):
        out += [
            "",
            "concurrent calls: per second (ratio to the SDK) and p99 ms",
            concurrency.text_table(summary["concurrent"]),
        ]
    if summary["targets"]:
        out.append("")
        out.append("targets (ours):")
        for t in summary["targets"]:
            verdict = "info" if t["met"] is None else ("met " if t["met"] else "MISS")
            out.append(f"  [{verdict}] {t['target']}: {t['shown']} (goal {t['goal']})")
    for c, checks in summary["checks"].items():
        bad = [k for k, v in checks.items() if v is False or (k.endswith("_status") and v != 200)]
        if bad:
            out.append(f"  !! {SHORT[c]}: failed sanity checks: {', '.join(bad)}")
    return "\n".join(out)


def _num(v) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" if 0 < v < 0.1 else f"{v:.2f}"


def markdown(summary: dict, plot_rel: str) -> str:
    m = summary["machine"]
    pk = m["packages"]
    lines = [
        f"![Benchmark results]({plot_rel})",
        "",
        f"**Machine:** {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB RAM, {m['os']}, "
        f"Linux {m['kernel']}; Python {m['python']}; "
        f"SeaweedFS {_version_only(m.get('seaweedfs', '?'))} on 127.0.0.1 "
        "(same machine, sharing the CPUs)."
        + (
            f" Load average {m['load_average_at_start'][0]:.1f} at the start and "
            f"{m.get('load_average_at_end', ['?'])[0]} at the end of the run (other jobs shared the machine)."
            if m.get("load_average_at_start")
            else ""
        ),
        "",
        "**Versions:** "
        + ", ".join(f"{k} {v}" for k, v in pk.items() if v and k != "matplotlib")
        + (f" (ours at `{m['commit']}`)" if m.get("commit") else "")
        + ".",
        "",
        "Each cell: the value, then in brackets its ratio to the raw minio SDK in the same run "
        "(for µs and requests lower is better, for saves/s and MiB/s higher is better).",
        "",
    ]
    header, body = rows(summary)
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in body]
    spread = [f for f in summary["figures"] if f.get("samples")]
    if spread:
        lines += [
            "",
            "Large files, every round (MiB/s, in the order run; the table shows the median, and the "
            "ratio is the median of the per-round ratios to the SDK, which ran in the same round)"
            + (
                f". Each contender saves an object of its own; every read, of every contender, is of "
                f"one and the same object per size, written once before the rounds by the "
                f"{summary['read_object']['writer']} with {summary['read_object']['part_size'] // MiB} "
                "MiB parts:"
                if summary.get("read_object")
                else ":"
            ),
            "",
            "| | " + " | ".join(SHORT[c] for c in summary["contenders"]) + " |",
            "|---|" + "---|" * len(summary["contenders"]),
        ]
        for f in spread:
            cells = [
                " ".join(f"{x:.0f}" for x in f["samples"][c]["mib_per_s"]) if c in f["samples"] else "—"
                for c in summary["contenders"]
            ]
            lines.append(f"| {f['label'].replace(': throughput', '')} | " + " | ".join(cells) + " |")
    if summary["collectstatic"]:
        n = next(iter(summary["collectstatic"].values()))["files"]
        lines += [
            "",
            f"**collectstatic of {n} small files**: a first run into an empty bucket, a run with nothing "
            "changed, and a run after every source file's mtime was touched (same content, as after a "
            "fresh git checkout). Seconds, then HTTP requests per file counted on the wire:",
            "",
            "| storage, command | first run | no-change run | mtimes touched |",
            "|---|---:|---:|---:|",
        ]
        for variant, cs in summary["collectstatic"].items():
            name = VARIANTS.get(variant, variant)
            if "skipped" in cs:
                lines.append(f"| {name} | not measured: {cs['skipped']} | | |")
                continue
            cells = [
                f"{cs[f'{r}_s']:.2f} s<br>{_num(cs[f'{r}_requests_per_file'])} req/file"
                f" ({_kinds(cs[f'{r}_by_kind'], n)})"
                for r in RUNS
            ]
            lines.append(f"| {name} (`{cs['backend'].rsplit('.', 1)[-1]}`) | " + " | ".join(cells) + " |")
    concurrency_plot = Path(plot_rel).with_name(Path(plot_rel).stem + "-concurrency.png")
    lines += concurrency.markdown(summary["concurrent"], str(concurrency_plot))
    if summary["targets"]:
        lines += ["", "**Targets for ours** (from the issue; ratios from the same run):", ""]
        lines += ["| target | goal | measured | |", "|---|---|---:|---|"]
        for t in summary["targets"]:
            verdict = "" if t["met"] is None else ("met" if t["met"] else "**missed**")
            lines.append(f"| {t['target']} | {t['goal']} | {t['shown']} | {verdict} |")
    return "\n".join(lines)


def _kinds(by_kind: dict | None, n: int) -> str:
    if not by_kind:
        return "—"
    return ", ".join(f"{k} \u00d7{v / n:.3g}" for k, v in by_kind.items())


def update_docs(path: Path, summary: dict, plot: Path) -> None:
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    rel = os.path.relpath(plot, path.parent)
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{markdown(summary, rel)}\n{END}{tail}")


# -- plot -----------------------------------------------------------------------


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    contenders = summary["contenders"]
    others = [c for c in contenders if c != BASE]
    fig, axes = plt.subplots(2, 2, figsize=(15, 11), gridspec_kw={"height_ratios": [1.35, 1]})
    fig.suptitle(
        f"django-minio-backend vs peers on SeaweedFS (loopback, {summary['machine']['nproc']} CPUs)",
        fontsize=15,
        fontweight="bold",
    )

    # A: speed relative to the SDK (higher is better), log scale.
    ax = axes[0][0]
    speed_keys = [
        "url_private_us",
        "url_public_us",
        "save_fresh_per_s",
        "save_taken_per_s",
        "exists_us",
        "size_us",
        "read_small_us",
    ] + [f"{op}_{s}_mib_s" for op in ("save", "read") for s in summary["sizes"]]
    speed_keys += [f"{op}_{summary['sizes'][-1]}_cpu_s_per_gib" for op in ("save", "read")]
    short = {
        "url_private_us": "url() private",
        "url_public_us": "url() public",
        "save_fresh_per_s": "save 4 KiB, fresh",
        "save_taken_per_s": "save 4 KiB, taken",
        "exists_us": "exists()",
        "size_us": "size()",
        "read_small_us": "open+read 4 KiB",
    }
    shared = " (same object)" if summary.get("read_object") else ""
    for op in ("save", "read"):
        for s in summary["sizes"]:
            short[f"{op}_{s}_mib_s"] = f"{op} {_pretty_size(s)}" + (shared if op == "read" else "")
        short[f"{op}_{summary['sizes'][-1]}_cpu_s_per_gib"] = f"{op}: client CPU/GiB"
    figs = [_fig(summary, k) for k in speed_keys]
    _grouped(
        ax,
        [short[k] for k in speed_keys],
        others,
        lambda c, f: _speedup(f, c),
        figs=figs,
        log=True,
        fmt=lambda v: f"{v:.2g}\u00d7" if v < 10 else f"{v:.0f}\u00d7",
    )
    ax.axvline(1.0, color="#333", lw=1.2, ls="--")
    ax.set_title(
        "Speed relative to the raw minio SDK (\u00d7, higher is better; dashed line = SDK)", fontsize=11
    )

    # B: HTTP requests per call.
    ax = axes[0][1]
    req_keys = ["save_fresh", "save_taken", "exists", "exists_missing", "size", "read_small"]
    req_short = [
        "save, fresh name",
        "save, taken name",
        "exists(), present",
        "exists(), missing",
        "size()",
        "open+read 4 KiB",
    ]
    _grouped(
        ax,
        req_short,
        contenders,
        lambda c, f: f["values"].get(c),
        figs=[_fig(summary, f"requests_{k}") for k in req_keys],
        fmt=lambda v: f"{v:g}",
    )
    ax.set_title("HTTP requests per call, counted on the wire (lower is better)", fontsize=11)
    ax.xaxis.get_major_locator().set_params(integer=True)

    # C: peak RSS growth.
    ax = axes[1][0]
    mem_keys = [f"{op}_{s}_growth_mib" for op in ("save", "read") for s in summary["sizes"]]
    mem_short = [
        f"{op} {_pretty_size(s)}" + (shared if op == "read" else "")
        for op in ("save", "read")
        for s in summary["sizes"]
    ]
    _grouped(
        ax,
        mem_short,
        contenders,
        lambda c, f: max(f["values"].get(c, 0) or 0, 0.1) if c in f["values"] else None,
        figs=[_fig(summary, k) for k in mem_keys],
        log=True,
        fmt=lambda v: f"{v:.0f}" if v >= 10 else f"{v:.1f}",
    )
    target = ax.axvline(64, color="#c1121f", lw=1.2, ls="--", label="64 MiB target")
    ax.legend(handles=[target], loc="lower right", fontsize=9)
    ax.set_title("Peak RSS growth during one large save / read, MiB (log; lower is better)", fontsize=11)

    # D: collectstatic, horizontal like the others: one group per storage/command, one bar per run.
    ax = axes[1][1]
    cs = {v: x for v, x in summary["collectstatic"].items() if "skipped" not in x}
    if cs:
        names = list(cs)
        shades = dict(zip(RUNS, (1.0, 0.6, 0.3), strict=True))
        height = 0.8 / len(RUNS)
        for j, run in enumerate(RUNS):
            ys = [i + (j - 1) * height for i in range(len(names))]
            vals = [cs[v][f"{run}_s"] for v in names]
            bars = ax.barh(
                ys,
                vals,
                height,
                color=[COLORS[cs[v]["contender"]] for v in names],
                alpha=shades[run],
                edgecolor="#333",
                linewidth=0.5,
            )
            for b, v in zip(bars, names, strict=True):
                rpf = cs[v][f"{run}_requests_per_file"]
                per_file = "" if rpf is None else f" \u00b7 {rpf:.3f}" if rpf < 0.1 else f" \u00b7 {rpf:.1f}"
                text = f" {b.get_width():.2f} s" + (f"{per_file} req/file" if per_file else "")
                ax.annotate(text, (b.get_width(), b.get_y() + b.get_height() / 2), va="center", fontsize=7.5)
        ax.set_yticks(range(len(names)), [VARIANTS.get(v, v).replace(", ", ",\n") for v in names])
        ax.invert_yaxis()
        ax.set_xlabel("seconds")
        ax.margins(x=0.3)
        ax.grid(axis="x", alpha=0.3)
        n = next(iter(cs.values()))["files"]
        ax.set_title(
            f"collectstatic of {n} small files: seconds, requests per file (lower is better)", fontsize=11
        )
        from matplotlib.patches import Patch

        ax.legend(
            handles=[
                Patch(facecolor="#777", alpha=shades[r], edgecolor="#333", label=RUN_LABELS[r]) for r in RUNS
            ],
            loc="upper right",
            fontsize=9,
        )
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(False)
    else:
        ax.set_axis_off()

    handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[c]) for c in contenders]
    fig.legend(
        handles,
        [summary["labels"][c] for c in contenders],
        loc="lower center",
        ncol=len(contenders),
        fontsize=10,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _speedup(fig: dict, c: str):
    r = fig["ratio_to_sdk"].get(c)
    if not r:
        return None
    return 1 / r if fig["better"] == "lower" else r


def _grouped(ax, labels, contenders, value, *, figs=None, log=False, fmt=str) -> None:
    """Horizontal grouped bars: one group per label (top to bottom), one bar per contender."""
    if figs is None:
        raise ValueError
    n = len(contenders)
    height = 0.8 / n
    for j, c in enumerate(contenders):
        ys, vs = [], []
        for i, f in enumerate(figs):
            v = value(c, f)
            if v is None:
                continue
            ys.append(i + (j - (n - 1) / 2) * height)
            vs.append(v)
        bars = ax.barh(ys, vs, height, color=COLORS[c], edgecolor="white", linewidth=0.5)
        for b, v in zip(bars, vs, strict=True):
            ax.annotate(
                " " + fmt(v), (b.get_width(), b.get_y() + b.get_height() / 2), va="center", fontsize=7.5
            )
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    ax.margins(x=0.18)
    ax.grid(axis="x", alpha=0.3)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)


if __name__ == "__main__":  # re-render from a results file: report.py results.json [docs.md]
    import json

    res = json.loads(Path(sys.argv[1]).read_text())
    s = summarize(res)
    print(text_table(s))
    png = Path(sys.argv[1]).with_suffix(".png")
    plot(s, png)
    concurrency.plot(s["concurrent"], png.with_name(png.stem + "-concurrency.png"))
    if len(sys.argv) > 2:
        update_docs(Path(sys.argv[2]), s, png)
