#!/usr/bin/env bash
# The main job: build triton-core and the example backends, start a server on
# examples/model_repository, and print liveness, readiness and each model's readiness.
# Extra arguments go to the probe, e.g. `--watch 30` to keep printing while you
# `kill -9 $(cat examples/model_repository/stub/stub_0_0.pid)`.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
scripts/install-deps.sh
cargo build --release --quiet --lib
scripts/stage-prefix.sh target/release target/stage >/dev/null
cmake -S examples -B target/examples -DCMAKE_PREFIX_PATH="$repo/target/stage" >/dev/null
cmake --build target/examples -j2 >/dev/null
exec target/examples/readiness_probe "$repo/examples/model_repository" "$repo/target/examples/backends" "$@"
