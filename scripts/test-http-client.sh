#!/usr/bin/env bash
# tritonserver-rs against NVIDIA's Python HTTP client (tritonclient[http], PyPI): installs the
# Python test requirements if missing, builds the server and the example backends (debug),
# starts the server on loopback ports over a copy of examples/model_repository, runs pytest,
# and stops the server. Bounded: the server start waits at most 60 s, pytest at most 300 s.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
req=server/tests/python/requirements.txt
if ! python3 -c 'import tritonclient.http, numpy, pytest' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check -r "$req"
fi

cargo build --quiet --lib
cargo build --quiet -p tritonserver-http
scripts/stage-prefix.sh target/debug target/http-client-test/stage >/dev/null
cmake -S examples -B target/http-client-test/examples \
  -DCMAKE_PREFIX_PATH="$repo/target/http-client-test/stage" >/dev/null
cmake --build target/http-client-test/examples -j2 >/dev/null

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
cp -r examples/model_repository "$work/models"
rm -f "$work"/models/*/*.pid
target/debug/tritonserver-rs \
  --model-repository "$work/models" \
  --backend-directory "$repo/target/http-client-test/examples/backends" \
  --strict-model-config=true --exit-timeout-secs 5 \
  --http-address 127.0.0.1 --http-port 0 --metrics-port 0 \
  --log-file "$work/server.log" &
server_pid=$!
port=""
for _ in $(seq 1 600); do
  port="$(sed -n 's/.*Started HTTPService at 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.log" 2>/dev/null | head -1 || true)"
  [[ -n "$port" ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.1
done
[[ -n "$port" ]] || { echo "server did not start"; cat "$work/server.log"; exit 1; }
TRITON_URL="127.0.0.1:$port" TRITON_MODELS="$work/models" \
  timeout 300 python3 -m pytest -q -p no:cacheprovider server/tests/python
