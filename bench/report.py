#!/usr/bin/env python3
"""Aggregate tcbench / http.sh outputs into the results table (stdout + Markdown file).

    report.py <results-dir> <out.md>

<results-dir>/<set>/<ours|upstream>/<scenario>.<rep>.out hold "RESULT <figure> <stat> <value>"
lines; <results-dir>/http/{ours,upstream}.<rep>.out hold the same for the HTTP section (or
http/skipped.txt says why it did not run); <results-dir>/meta.txt holds key=value lines.
Each figure is the median over the repetitions (fresh processes); the spread column is the
largest deviation of one repetition from that median, ours / upstream.
"""
import os
import statistics
import sys
from collections import defaultdict

HOOK_NOTE = "ours calls every instance's readiness hook ({n}), 2.51 calls none"

# (figure, stat, label, unit, better, target)
# target: ("ratio<=", x) | ("ratio>=", x) | ("abs<=", x) | ("self<=", other_figure, x) | None
ROWS = [
    ("infer_fp32", "p50_us", "InferAsync round trip, FP32[16], 1 in flight: median", "us", "lower", ("ratio<=", 0.5)),
    ("infer_fp32", "p99_us", "InferAsync round trip, FP32[16], 1 in flight: p99", "us", "lower", None),
    ("infer_1mb", "p50_us", "InferAsync round trip, UINT8 1 MB, 1 in flight: median", "us", "lower", ("ratio<=", 0.7)),
    ("infer_1mb", "p99_us", "InferAsync round trip, UINT8 1 MB, 1 in flight: p99", "us", "lower", None),
    ("tput8", "rps", "Throughput, 8 in flight, 2 instances", "req/s", "higher", ("ratio>=", 2.0)),
    ("tput8", "p50_us", "  latency at 8 in flight: median", "us", "lower", None),
    ("tput8", "p99_us", "  latency at 8 in flight: p99", "us", "lower", None),
    ("tput64", "rps", "Throughput, 64 in flight, 2 instances", "req/s", "higher", ("ratio>=", 2.0)),
    ("tput64", "p50_us", "  latency at 64 in flight: median", "us", "lower", None),
    ("tput64", "p99_us", "  latency at 64 in flight: p99", "us", "lower", None),
    ("ready1", "p50_us", "ServerIsReady, 1 model: median (" + HOOK_NOTE.format(n="1 hook") + ")", "us", "lower", None),
    ("ready1", "p99_us", "ServerIsReady, 1 model: p99", "us", "lower", None),
    ("ready100", "p50_us", "ServerIsReady, 100 models: median (" + HOOK_NOTE.format(n="100 hooks") + ")", "us", "lower", None),
    ("ready100", "p99_us", "ServerIsReady, 100 models: p99", "us", "lower", None),
    ("ready1000", "p50_us", "ServerIsReady, 1000 models: median (" + HOOK_NOTE.format(n="1000 hooks") + ")", "us", "lower", ("ratio<=", 0.2)),
    ("ready1000", "p99_us", "ServerIsReady, 1000 models: p99", "us", "lower", None),
    ("modelready1", "p50_us", "ServerModelIsReady, 1 model loaded: median", "us", "lower", ("ratio<=", 1.0)),
    ("modelready100", "p50_us", "ServerModelIsReady, 100 models loaded: median", "us", "lower", ("ratio<=", 1.0)),
    ("modelready1000", "p50_us", "ServerModelIsReady, 1000 models loaded: median", "us", "lower", ("ratio<=", 1.0)),
    ("readyidle", "p50_us", "ServerIsReady idle, 3 models, probe every 200 us: median", "us", "lower", None),
    ("readyidle", "p99_us", "ServerIsReady idle, 3 models, probe every 200 us: p99", "us", "lower", None),
    ("readyinfer", "p50_us", "ServerIsReady while 64 inferences in flight: median", "us", "lower", None),
    ("readyinfer", "p99_us", "ServerIsReady while 64 inferences in flight: p99 (target: <= 2x idle p99)", "us", "lower", ("self<=", "readyidle", 2.0)),
    ("readyidle2", "p50_us", "ServerIsReady idle, 100 models (EXPLICIT), probe every 200 us: median", "us", "lower", None),
    ("readyidle2", "p99_us", "ServerIsReady idle, 100 models (EXPLICIT), probe every 200 us: p99", "us", "lower", None),
    ("readyloading", "p50_us", "ServerIsReady while 10 other models load/unload in a loop: median", "us", "lower", None),
    ("readyloading", "p99_us", "ServerIsReady while 10 other models load/unload in a loop: p99 (target: <= 2x idle p99)", "us", "lower", ("self<=", "readyidle2", 2.0)),
    ("readyloading", "loads", "  models loaded by the loader thread during that window", "loads", "higher", None),
    ("startup1000", "ms", "Startup to ready, 1000 models (ServerNew until ServerIsReady)", "ms", "lower", ("ratio<=", 0.5)),
    ("stop1000", "ms", "ServerStop + ServerDelete, 1000 models", "ms", "lower", ("abs<=", 50.0)),
    ("rss1000", "MiB", "VmRSS, 1000 models ready", "MiB", "lower", None),
    ("rss1000", "delta_MiB", "VmRSS growth from before ServerNew to ready, 1000 models", "MiB", "lower", None),
    ("rss1000", "hwm_MiB", "VmHWM (peak RSS), 1000 models", "MiB", "lower", None),
]

HTTP_ROWS = [
    ("health_idle", "p50_us", "GET /v2/health/ready idle (1 connection): median", "us", "lower", None),
    ("health_idle", "p99_us", "GET /v2/health/ready idle (1 connection): p99", "us", "lower", ("ratio<=", 0.5)),
    ("health_load", "p50_us", "GET /v2/health/ready during 16-connection inference load: median", "us", "lower", None),
    ("health_load", "p99_us", "GET /v2/health/ready during 16-connection inference load: p99", "us", "lower", ("ratio<=", 0.5)),
    ("infer_c1", "rps", "JSON inference FP32[16], 1 connection", "req/s", "higher", ("ratio>=", 2.0)),
    ("infer_c1", "p99_us", "  p99", "us", "lower", ("ratio<=", 0.5)),
    ("infer_c16", "rps", "JSON inference FP32[16], 16 connections", "req/s", "higher", ("ratio>=", 2.0)),
    ("infer_c16", "p99_us", "  p99", "us", "lower", ("ratio<=", 0.5)),
    ("infer_c64", "rps", "JSON inference FP32[16], 64 connections", "req/s", "higher", ("ratio>=", 2.0)),
    ("infer_c64", "p99_us", "  p99", "us", "lower", ("ratio<=", 0.5)),
]


def parse(path, data):
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and parts[0] in ("RESULT", "HTTP"):
                data[(parts[1], parts[2])].append(float(parts[3]))


def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "req/s" or unit == "loads":
        return f"{v:,.0f}"
    a = abs(v)
    if a < 1:
        return f"{v:.3f}"
    if a < 10:
        return f"{v:.2f}"
    if a < 100:
        return f"{v:.1f}"
    return f"{v:,.0f}"


def med(vals):
    return statistics.median(vals) if vals else None


def spread(vals):
    if not vals or len(vals) < 2:
        return None
    m = statistics.median(vals)
    if m == 0:
        return 0.0
    return max(abs(v - m) for v in vals) / abs(m) * 100.0


def verdict(target, ours, up, ours_data):
    if target is None or ours is None:
        return ""
    kind = target[0]
    if kind == "abs<=":
        return ("met" if ours <= target[1] else "missed") + f" (<= {target[1]:g} ms)"
    if kind == "self<=":
        idle = med(ours_data.get((target[1], "p99_us"), []))
        if not idle:
            return ""
        r = ours / idle
        return ("met" if r <= target[2] else "missed") + f" ({r:.1f}x idle)"
    if up in (None, 0):
        return ""
    r = ours / up
    if kind == "ratio<=":
        return ("met" if r <= target[1] else "missed") + f" (<= {target[1]:g}x)"
    return ("met" if r >= target[1] else "missed") + f" (>= {target[1]:g}x)"


def table(rows, ours_data, up_data, show_targets):
    head = "| figure | ours | upstream 2.51 | ours/upstream | better | spread ours/up |"
    sep = "|---|---:|---:|---:|---|---|"
    if show_targets:
        head += " target |"
        sep += "---|"
    out = [head, sep]
    for fig, stat, label, unit, better, target in rows:
        ov = med(ours_data.get((fig, stat), []))
        uv = med(up_data.get((fig, stat), []))
        if ov is None and uv is None:
            continue
        ratio = f"{ov / uv:.2f}x" if ov is not None and uv not in (None, 0) else "n/a"
        so, su = spread(ours_data.get((fig, stat), [])), spread(up_data.get((fig, stat), []))
        sp = "/".join("-" if s is None else f"{s:.0f}%" for s in (so, su))
        line = f"| {label} [{unit}] | {fmt(ov, unit)} | {fmt(uv, unit)} | {ratio} | {better} | {sp} |"
        if show_targets:
            line += f" {verdict(target, ov, uv, ours_data)} |"
        out.append(line)
    return "\n".join(out)


def main():
    results, out_md = sys.argv[1], sys.argv[2]
    meta = {}
    mp = os.path.join(results, "meta.txt")
    if os.path.exists(mp):
        with open(mp) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    meta[k] = v
    sets = {}
    for s in ("pinned", "unpinned"):
        d = os.path.join(results, s)
        if not os.path.isdir(d):
            continue
        per = {}
        for which in ("ours", "upstream", "ours-caller"):
            data = defaultdict(list)
            wd = os.path.join(d, which)
            if os.path.isdir(wd):
                for name in sorted(os.listdir(wd)):
                    if name.endswith(".out"):
                        parse(os.path.join(wd, name), data)
            per[which] = data
        sets[s] = per

    md = []
    md.append("# Benchmark results: triton-core vs the real Triton 2.51 core")
    md.append("")
    md.append(
        "Written by `scripts/bench.sh` (issue 7). The same driver (`bench/driver/tcbench.c`) and "
        "identity backend (`bench/backends/identity`) binaries run against our "
        "`libtritonserver.so` and against upstream's `libtritonserver-717102f0.so` from PyPI "
        "`nvidia-pytriton==0.7.0` (Triton 2.51); each run checks that exactly one core is mapped. "
        "Each figure is the median over repetitions in fresh processes; *spread* is the largest "
        "deviation of one repetition from that median. Ratios are ours / upstream: below 1 is "
        "better for times and memory, above 1 for req/s. Targets (issue 7) are judged on the "
        "pinned set."
    )
    md.append("")
    md.append("## Machine and run")
    md.append("")
    for k, label in [
        ("date", "date"), ("mode", "mode"), ("reps", "repetitions (fresh processes)"),
        ("cpu_model", "CPU"), ("nproc", "CPUs"), ("mem", "memory"), ("kernel", "kernel"),
        ("cpu_pinned", "pinned set: taskset -c"), ("commit", "commit"),
        ("load_before", "load average before (1/5/15 min)"),
        ("load_after", "load average after"), ("busy_before", "busiest processes before"),
        ("busy_after", "busiest processes after"), ("failures", "failed runs"),
    ]:
        if k in meta:
            md.append(f"- {label}: {meta[k]}")
    md.append("")
    for s, title in (("pinned", "Pinned to one CPU (stable set)"), ("unpinned", "Unpinned (2 CPUs)")):
        if s not in sets:
            continue
        md.append(f"## {title}")
        md.append("")
        md.append(table(ROWS, sets[s]["ours"], sets[s]["upstream"], s == "pinned"))
        md.append("")
        caller = sets[s].get("ours-caller")
        if caller:
            md.append(f"### {title}: ours with caller-thread execution (opt-in)")
            md.append("")
            md.append(
                "Our core with `TRITON_CORE_CALLER_EXECUTES=1`: a request that finds its queue "
                "empty and an instance idle executes on the thread that called `InferAsync` "
                "(no hand-off to the instance thread and back); off by default because "
                "`InferAsync` then returns only after the backend's execute. Same upstream "
                "figures as above."
            )
            md.append("")
            rows = [r for r in ROWS if (r[0], r[1]) in caller]
            md.append(table(rows, caller, sets[s]["upstream"], s == "pinned"))
            md.append("")

    fd = os.path.join(results, "floors")
    if os.path.isdir(fd):
        floors = defaultdict(list)
        for name in sorted(os.listdir(fd)):
            if name.endswith(".out"):
                parse(os.path.join(fd, name), floors)
        up = sets.get("pinned", {}).get("upstream", {})
        md.append("## Floors of this machine (pinned, `bench/driver/floors.c`)")
        md.append("")
        for fig, ref, label in (
            ("floor_pingpong", "infer_fp32",
             "two threads handing a token over and back through futexes (no work): the least a "
             "request that goes to an instance thread and returns can cost"),
            ("floor_memcpy_1mib", "infer_1mb",
             "one 1 MiB memcpy between warm buffers: the copy the identity backend makes"),
        ):
            v = med(floors.get((fig, "p50_us"), []))
            if v is None:
                continue
            line = f"- {label}: {fmt(v, 'us')} µs"
            r = med(up.get((ref, "p50_us"), []))
            if r:
                line += f" = {v / r:.2f}x of upstream's round-trip median ({fmt(r, 'us')} µs)"
            md.append(line)
        md.append("")

    md.append("## HTTP (our server binary vs the real tritonserver, wrk on loopback)")
    md.append("")
    hd = os.path.join(results, "http")
    skipped = os.path.join(hd, "skipped.txt")
    if os.path.exists(skipped):
        with open(skipped) as f:
            md.append("Not run: " + f.read().strip())
    elif os.path.isdir(hd):
        od, ud = defaultdict(list), defaultdict(list)
        for name in sorted(os.listdir(hd)):
            if name.endswith(".out") and name.startswith("ours."):
                parse(os.path.join(hd, name), od)
            elif name.endswith(".out") and name.startswith("upstream."):
                parse(os.path.join(hd, name), ud)
        info = os.path.join(hd, "info.txt")
        if os.path.exists(info):
            with open(info) as f:
                md.append(f.read().strip())
                md.append("")
        md.append(table(HTTP_ROWS, od, ud, True))
    else:
        md.append("Not run (BENCH_HTTP=0).")
    md.append("")

    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "NOTES.md")
    if os.path.exists(notes):
        with open(notes) as f:
            md.append(f.read().strip())
            md.append("")

    text = "\n".join(md)
    with open(out_md, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
