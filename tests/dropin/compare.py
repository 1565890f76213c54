"""Compare the answers recorded by test_dropin.py on two cores (scripts/dropin-test.sh --core both).

    compare.py target/dropin/real target/dropin/ours

artifacts/*.json: the JSON answers (timings/timestamps already replaced by "<volatile>")
must be equal. metrics.txt: the same # HELP / # TYPE lines and the same series (metric name
+ labels); values are not compared (timings, CPU, memory). Exit status 1 on a difference.
"""

import difflib
import json
import os
import re
import sys


# Differences accepted on purpose: artifact name -> why. Listed ones are reported, not fatal.
KNOWN_DIFFERENCES = {
    "metrics_final.json": (
        "2.51 keeps nv_inference_request_failure of a model across its unload and reload while "
        "the other counters restart; triton-core restarts all of a version's counters"
    ),
}


# Metric families only triton-core has, on purpose (its readiness extensions, README "Readiness
# beyond upstream"): extra lines and series of these are reported, not fatal.
EXTENSION_FAMILIES = ("nv_instance_",)


def is_extension(text):
    name = re.sub(r"^# (HELP|TYPE) ", "", text)
    return name.startswith(EXTENSION_FAMILIES)


def load_json_dir(d):
    out = {}
    for name in sorted(os.listdir(d)):
        if name.endswith(".json"):
            with open(os.path.join(d, name)) as f:
                out[name] = json.load(f)
    return out


def metric_shape(path):
    meta, series = set(), set()
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            if line.startswith("#"):
                meta.add(line)
                continue
            m = re.match(r"^(\S+?)(\{[^}]*\})?\s", line)
            if m:
                labels = ",".join(sorted(re.findall(r'[a-zA-Z_]\w*="(?:[^"\\]|\\.)*"', m.group(2) or "")))
                series.add(f"{m.group(1)}{{{labels}}}")
    return meta, series


def main(ref, got):
    problems = []
    a = load_json_dir(os.path.join(ref, "artifacts"))
    b = load_json_dir(os.path.join(got, "artifacts"))
    for name in sorted(set(a) | set(b)):
        if name not in b:
            problems.append(f"{name}: only in {ref}")
        elif name not in a:
            problems.append(f"{name}: only in {got}")
        elif a[name] != b[name] and name in KNOWN_DIFFERENCES:
            print(f"compare: {name} differs (known: {KNOWN_DIFFERENCES[name]})")
        elif a[name] != b[name]:
            da = json.dumps(a[name], indent=2, sort_keys=True).splitlines()
            db = json.dumps(b[name], indent=2, sort_keys=True).splitlines()
            diff = "\n".join(difflib.unified_diff(da, db, ref, got, lineterm="", n=2))
            problems.append(f"{name} differs:\n{diff}")
    ma, sa = metric_shape(os.path.join(ref, "metrics.txt"))
    mb, sb = metric_shape(os.path.join(got, "metrics.txt"))
    for line in sorted(ma - mb):
        problems.append(f"metrics.txt: missing {line!r}")
    extension = sorted(x for x in (mb - ma) | (sb - sa) if is_extension(x))
    if extension:
        print(f"compare: {len(extension)} metric line(s)/series of triton-core's extension "
              f"families ({', '.join(EXTENSION_FAMILIES)}) only in {got} (expected)")
    for line in sorted(mb - ma):
        if is_extension(line):
            continue
        problems.append(f"metrics.txt: extra {line!r}")
    for s in sorted(sa - sb):
        problems.append(f"metrics.txt: missing series {s}")
    for s in sorted(sb - sa):
        if is_extension(s):
            continue
        problems.append(f"metrics.txt: extra series {s}")
    n = len(a)
    if problems:
        print(f"compare: {len(problems)} difference(s) between {ref} and {got}:")
        for p in problems:
            print("  " + p.replace("\n", "\n    "))
        return 1
    print(f"compare: {n} JSON answers and {len(sa)} metric series identical ({ref} vs {got})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
