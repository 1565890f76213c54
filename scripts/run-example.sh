#!/usr/bin/env bash
# The main job: build triton-core, the tritonserver-rs HTTP server and the example backends, then
# serve examples/model_repository over HTTP (KServe v2) until Ctrl-C.
#
#   scripts/run-example.sh                       # HTTP on 0.0.0.0:8000, metrics on :8002
#   HTTP_PORT=9000 METRICS_PORT=9002 scripts/run-example.sh --log-verbose 1
#
# Extra arguments go to tritonserver-rs (see target/release/tritonserver-rs --help).
# Try `kill -9 $(cat examples/model_repository/stub/stub_0_0.pid)` and watch
# `curl -i localhost:8000/v2/health/ready` turn 503 and name the model that is not ready.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
http_port="${HTTP_PORT:-8000}"
metrics_port="${METRICS_PORT:-8002}"

scripts/install-deps.sh
echo "run-example: building libtritonserver.so and tritonserver-rs (release)..."
cargo build --release --quiet --lib
cargo build --release --quiet -p tritonserver-http
echo "run-example: building the example backends..."
scripts/stage-prefix.sh target/release target/stage >/dev/null
cmake -S examples -B target/examples -DCMAKE_PREFIX_PATH="$repo/target/stage" >/dev/null
cmake --build target/examples -j2 >/dev/null

host=localhost
cat <<MSG

  tritonserver-rs is starting on examples/model_repository (models: identity, simple, stub).
  Point curl at it:

    curl -i http://$host:$http_port/v2/health/ready
    curl    http://$host:$http_port/v2/models/identity
    curl -X POST http://$host:$http_port/v2/models/identity/infer \\
         -d '{"inputs":[{"name":"INPUT0","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}'
    curl -X POST http://$host:$http_port/v2/repository/index
    curl    http://$host:$metrics_port/metrics

  Kill the stub process and readiness turns 503 with the reason (liveness stays 200):
    kill -9 \$(cat examples/model_repository/stub/stub_0_0.pid)

  Ctrl-C stops the server (in-flight requests drain first).

MSG
# The example backends come from the C tests, which check the backend configuration the C
# tests use: complete model configurations, no auto-complete (--strict-model-config).
exec target/release/tritonserver-rs \
  --model-repository "$repo/examples/model_repository" \
  --backend-directory "$repo/target/examples/backends" \
  --strict-model-config=true \
  --http-port "$http_port" --metrics-port "$metrics_port" \
  "$@"
