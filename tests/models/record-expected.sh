#!/usr/bin/env bash
# Record what the real Triton 2.51 core answers for every model of the corpus, into
# tests/models/expected/. The corpus test (tests/repository_corpus.rs) compares our core with
# these files field by field.
#
# Usage:  tests/models/record-expected.sh [PYTRITON_DIR]
#   PYTRITON_DIR: the unpacked nvidia-pytriton 0.7.0 wheel (default
#   $HOME/.cache/triton-core/pytriton-0.7.0). The python backend's stub needs numpy for the
#   system python 3.11 (Debian: apt-get install python3-numpy).
#
# For each strict-model-config setting (off = the tritonserver default, on) one real server runs
# in EXPLICIT mode over tests/models/corpus and tests/models/corpus2 (loopback ports only). Each
# model in tests/models/load-order.txt is loaded in turn through the HTTP frontend; the load
# result, the model configuration and the model metadata are written to
# expected/<mode>/<model>.json, the repository index (all, and READY only) to
# expected/<mode>/_index.json. Absolute corpus paths are replaced by @CORPUS@ / @CORPUS2@.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PYTRITON=${1:-$HOME/.cache/triton-core/pytriton-0.7.0}
LIBS=$PYTRITON/nvidia_pytriton.libs
[ -d "$LIBS" ] || { echo "no pytriton at $PYTRITON" >&2; exit 1; }
/usr/bin/python3 -c 'import numpy' 2>/dev/null ||
  { echo "the python backend stub needs numpy: apt-get install python3-numpy" >&2; exit 1; }

WORK=$(mktemp -d /tmp/tc-record.XXXXXX)
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

CORPUS=$HERE/corpus
CORPUS2=$HERE/corpus2
PORT=18931

for mode in strict_off strict_on; do
  strict=false
  [ "$mode" = strict_on ] && strict=true
  out=$HERE/expected/$mode
  rm -rf "$out"
  mkdir -p "$out"
  LD_LIBRARY_PATH=$LIBS "$WORK/tritonserver" \
    --model-repository="$CORPUS" --model-repository="$CORPUS2" \
    --backend-directory="$WORK/backends" --model-control-mode=explicit \
    --strict-model-config=$strict --http-address=127.0.0.1 --http-port=$PORT \
    --allow-grpc=false --allow-metrics=false --log-verbose=0 \
    >"$WORK/server-$mode.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/v2/health/live" >/dev/null && break
    sleep 0.2
  done
  python3 - "$PORT" "$out" "$CORPUS" "$CORPUS2" "$HERE/load-order.txt" <<'PY'
import json, sys, urllib.request, urllib.error

port, out, corpus, corpus2, order_file = sys.argv[1:]
base = f"http://127.0.0.1:{port}"

def norm(v):
    text = json.dumps(v)
    text = text.replace(corpus2, "@CORPUS2@").replace(corpus, "@CORPUS@")
    return json.loads(text)

def call(method, path):
    req = urllib.request.Request(base + path, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            body = r.read()
            return r.status, (json.loads(body) if body else None)
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, {"error": body.decode(errors="replace")}

order = [l.strip() for l in open(order_file) if l.strip() and not l.startswith("#")]
for name in order:
    status, body = call("POST", f"/v2/repository/models/{name}/load")
    rec = {"name": name, "load": {"http": status, "error": (body or {}).get("error", "")}}
    status, body = call("GET", f"/v2/models/{name}/config")
    rec["config"] = body if status == 200 else {"http": status, "error": (body or {}).get("error", "")}
    status, body = call("GET", f"/v2/models/{name}")
    rec["metadata"] = body if status == 200 else {"http": status, "error": (body or {}).get("error", "")}
    with open(f"{out}/{name}.json", "w") as f:
        json.dump(norm(rec), f, indent=2, sort_keys=False)
        f.write("\n")
index = {}
for key, payload in (("all", b"{}"), ("ready", b'{"ready": true}')):
    req = urllib.request.Request(base + "/v2/repository/index", method="POST", data=payload)
    with urllib.request.urlopen(req, timeout=60) as r:
        index[key] = json.loads(r.read())
with open(f"{out}/_index.json", "w") as f:
    json.dump(norm(index), f, indent=2)
    f.write("\n")
PY
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  echo "recorded $mode: $(ls "$out" | wc -l) files"
done
