#!/usr/bin/env bash
# Install what building and testing triton-core needs, idempotently: a C/C++ toolchain, CMake,
# pkg-config, binutils and valgrind from Debian, and the Rust components used by the checks.
# (gcc brings libasan / libubsan for the sanitizer builds; scripts/sanitize.sh --full installs
# a nightly Rust toolchain itself if it needs one.)
set -euo pipefail
need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v nm >/dev/null 2>&1 || need+=(binutils)
command -v readelf >/dev/null 2>&1 || need+=(binutils)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
if [[ ${#need[@]} -gt 0 ]]; then
  echo "install-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi
