#!/usr/bin/env bash
# Regenerate the committed C headers in include/triton/core/ from the Rust sources.
set -euo pipefail
cd "$(dirname "$0")/.."
touch build.rs
TRITON_CORE_UPDATE_HEADERS=1 cargo build --quiet --lib
echo "headers updated in include/triton/core/"
