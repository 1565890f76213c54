#!/usr/bin/env bash
# Run every test of triton-core from a clean clone: installs what it needs, then
#   lint (rustfmt, clippy), Rust tests (engine, C ABI, headers), the release library,
#   the C test suite through the CMake package (ctest), a reduced sanitizer pass
#   (scripts/sanitize.sh --reduced), and the ABI checks.
#
#   scripts/test.sh              everything above (what .ci/run runs)
#   scripts/test.sh --sanitize   only the full sanitizer run (scripts/sanitize.sh --full):
#                                the release library, the C tests under ASan + UBSan and under
#                                valgrind memcheck, and with a nightly toolchain the library
#                                under ASan and the engine's concurrency tests under TSan
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TERM_COLOR=never

sanitize=0
case "${1:-}" in
  "") ;;
  --sanitize) sanitize=1 ;;
  *) echo "usage: $0 [--sanitize]" >&2; exit 2 ;;
esac

step() { printf '\n==== %s\n' "$*"; }

step "dependencies"
scripts/install-deps.sh

if [[ $sanitize -eq 1 ]]; then
  step "release library and install prefix"
  cargo build --release --quiet --lib
  scripts/stage-prefix.sh target/release target/stage

  step "python backend (PyPI nvidia-pytriton 0.7.0 = Triton 2.51)"
  eval "$(scripts/fetch-pytriton.sh)"

  step "C tests (build only; the sanitizer run uses it for valgrind)"
  cmake -S c_tests -B target/c_tests -DCMAKE_PREFIX_PATH="$repo/target/stage" -DCMAKE_BUILD_TYPE=Debug \
    -DTC_PYTHON_BACKEND_DIR="$TC_PYTHON_BACKEND_DIR" -DTC_PYTHON_VENV_BIN="$TC_PYTHON_VENV_BIN" >/dev/null
  cmake --build target/c_tests -j2 >/dev/null

  step "sanitizers, full run"
  TC_PYTHON_BACKEND_DIR="$TC_PYTHON_BACKEND_DIR" TC_PYTHON_VENV_BIN="$TC_PYTHON_VENV_BIN" \
    exec scripts/sanitize.sh --full
fi

step "format and lint"
cargo fmt --all -- --check
# Twice: the shipped build (the engine is crate-private, so its dead code is an error) and the
# test build (the integration tests that drive the engine directly need the testing feature).
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy --workspace --all-targets --features triton-core/testing --quiet -- -D warnings

step "Rust tests"
cargo test --workspace --features triton-core/testing --quiet

step "release library and install prefix"
cargo build --release --quiet --lib
scripts/stage-prefix.sh target/release target/stage

step "python backend (PyPI nvidia-pytriton 0.7.0 = Triton 2.51)"
eval "$(scripts/fetch-pytriton.sh)"

step "C tests (ctest)"
cmake -S c_tests -B target/c_tests -DCMAKE_PREFIX_PATH="$repo/target/stage" -DCMAKE_BUILD_TYPE=Debug \
  -DTC_PYTHON_BACKEND_DIR="$TC_PYTHON_BACKEND_DIR" -DTC_PYTHON_VENV_BIN="$TC_PYTHON_VENV_BIN" >/dev/null
cmake --build target/c_tests -j2 >/dev/null
ctest --test-dir target/c_tests --output-on-failure -j2

step "sanitizers, reduced (ASan + UBSan and valgrind memcheck: int_lifetime, int_readiness, int_readiness_bounded)"
scripts/sanitize.sh --reduced

step "drop-in: the real Triton 2.51 tritonserver on its own core and on ours (compared)"
scripts/dropin-test.sh --core both

step "HTTP server against tritonclient (PyPI)"
scripts/test-http-client.sh

step "ABI"
scripts/check-abi.sh target/release/libtritonserver.so
