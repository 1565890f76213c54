#!/usr/bin/env bash
# Record what the real Triton 2.51 core answers with model namespacing on, over the two
# repositories of tests/models/namespacing (the same model name `shared` in both), into
# tests/models/namespacing/expected/. tests/namespacing_corpus.rs replays the same steps on our
# core and compares.
#
# Usage:  tests/models/record-namespacing.sh [PYTRITON_DIR]
#   PYTRITON_DIR: the unpacked nvidia-pytriton 0.7.0 wheel (default
#   $HOME/.cache/triton-core/pytriton-0.7.0). The python backend's stub needs numpy for the
#   system python 3.11 (Debian: apt-get install python3-numpy).
#
# Two sessions, each one real server with --model-namespacing=true, loopback ports only, the
# repositories given as repo_b then repo_a:
#   explicit: --model-control-mode=explicit, steps from namespacing/steps-explicit.txt
#   none:     --model-control-mode=none (everything loaded at startup), steps-none.txt
# Each step goes through the HTTP frontend; its HTTP status and body (errors as text) are
# written to expected/<session>.json. Absolute repository paths become @REPO_A@ / @REPO_B@.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NS=$HERE/namespacing
PYTRITON=${1:-$HOME/.cache/triton-core/pytriton-0.7.0}
LIBS=$PYTRITON/nvidia_pytriton.libs
[ -d "$LIBS" ] || { echo "no pytriton at $PYTRITON" >&2; exit 1; }
/usr/bin/python3 -c 'import numpy' 2>/dev/null ||
  { echo "the python backend stub needs numpy: apt-get install python3-numpy" >&2; exit 1; }

WORK=$(mktemp -d /tmp/tc-record-ns.XXXXXX)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Private executable copies: the wheel ships the binaries without the executable bit.
mkdir -p "$WORK/backends"
cp "$PYTRITON/pytriton/tritonserver/bin/tritonserver" "$WORK/"
cp -r "$PYTRITON/pytriton/tritonserver/backends/python" "$WORK/backends/"
cp "$PYTRITON/pytriton/tritonserver/python_backend_stubs/3.11/triton_python_backend_stub" \
  "$WORK/backends/python/"
chmod +x "$WORK/tritonserver" "$WORK/backends/python/triton_python_backend_stub"

PORT=18941
mkdir -p "$NS/expected"
for session in explicit none; do
  LD_LIBRARY_PATH=$LIBS "$WORK/tritonserver" \
    --model-repository="$NS/repo_b" --model-repository="$NS/repo_a" \
    --model-namespacing=true --backend-directory="$WORK/backends" \
    --model-control-mode=$session --http-address=127.0.0.1 --http-port=$PORT \
    --allow-grpc=false --allow-metrics=false --log-verbose=0 \
    >"$WORK/server-$session.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$PORT/v2/health/live" >/dev/null && break
    sleep 0.2
  done
  python3 - "$PORT" "$NS/expected/$session.json" "$NS" "$NS/steps-$session.txt" <<'PY'
import json, sys, time, urllib.request, urllib.error

port, out, ns, steps_file = sys.argv[1:]
base = f"http://127.0.0.1:{port}"

def norm(v):
    text = json.dumps(v)
    text = text.replace(ns + "/repo_a", "@REPO_A@").replace(ns + "/repo_b", "@REPO_B@")
    return json.loads(text)

def call(method, path, data=None):
    if method == "POST" and data is None:
        data = b""
    req = urllib.request.Request(base + path, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            body = r.read()
            return r.status, (json.loads(body) if body else None)
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, (json.loads(body) if body else None)
        except ValueError:
            return e.code, {"error": body.decode(errors="replace")}

def result(status, body, keep_body=True):
    if status != 200:
        return {"http": status, "error": (body or {}).get("error", "")}
    return {"http": 200, "body": body} if keep_body else {"http": 200}

records = []
for line in open(steps_file):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    op, _, model = line.partition(" ")
    if op == "index":
        r = result(*call("POST", "/v2/repository/index", b"{}"))
    elif op == "index_ready":
        r = result(*call("POST", "/v2/repository/index", b'{"ready": true}'))
    elif op == "health":
        r = result(*call("GET", "/v2/health/ready"), keep_body=False)
    elif op == "wait":
        time.sleep(3)
        r = {"http": 200}
    elif op in ("load", "unload"):
        r = result(*call("POST", f"/v2/repository/models/{model}/{op}"), keep_body=False)
    elif op == "config":
        r = result(*call("GET", f"/v2/models/{model}/config"))
    elif op == "metadata":
        r = result(*call("GET", f"/v2/models/{model}"))
    elif op == "ready":
        r = result(*call("GET", f"/v2/models/{model}/ready"), keep_body=False)
    elif op == "stats":
        status, body = call("GET", f"/v2/models/{model}/stats")
        r = result(status, body, keep_body=False)
        if status == 200:
            # Only which model versions are reported: the counters are not compared.
            r["versions"] = [[s["name"], s["version"]] for s in body["model_stats"]]
    elif op == "stats_all":
        status, body = call("GET", "/v2/models/stats")
        r = result(status, body, keep_body=False)
        if status == 200:
            r["versions"] = [[s["name"], s["version"]] for s in body["model_stats"]]
    else:
        raise SystemExit(f"unknown step {line!r}")
    records.append({"step": line, **r})
with open(out, "w") as f:
    json.dump(norm(records), f, indent=2)
    f.write("\n")
PY
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  echo "recorded $session: $(grep -c '"step"' "$NS/expected/$session.json") steps"
done
