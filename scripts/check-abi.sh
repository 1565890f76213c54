#!/usr/bin/env bash
# ABI guards for a built libtritonserver.so:
#  1. every exported function's signature equals upstream's (compile check in C++ against the
#     pristine upstream headers carried by the crates.io package tritonserver-rs 0.4.1);
#  2. SONAME libtritonserver.so and only TRITON* symbols exported;
#  3. coverage of the 2.51 export and import lists (../shared/abi/check-exports), reported.
# usage: scripts/check-abi.sh [path/to/libtritonserver.so]   (default target/release)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
lib="${1:-$repo/target/release/libtritonserver.so}"
profile_dir="$(dirname "$lib")"

# 1. signatures
cargo fetch --quiet --manifest-path "$repo/tests/abi/upstream-headers/Cargo.toml"
registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"
upstream_inc="$(find "$registry" -maxdepth 4 -type d -path '*tritonserver-rs-0.4.1/core/include' | head -n 1)"
if [[ -z "$upstream_inc" ]]; then
  echo "check-abi: upstream headers not found in $registry" >&2
  exit 1
fi
decl="$(ls -t "$profile_dir"/build/triton-core-*/out/include/triton/core/declarations_only.h | head -n 1)"
g++ -std=c++17 -fsyntax-only -I"$upstream_inc" -I"$(dirname "$decl")" "$repo/tests/abi/signatures.cc"
n=$(grep -oE '\bTRITON[A-Z]+_[A-Za-z0-9_]+\(' "$decl" | sort -u | wc -l)
echo "check-abi: $n exported signatures match upstream's headers"

# 2. SONAME and symbol hygiene
soname="$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
if [[ "$soname" != "libtritonserver.so" ]]; then
  echo "check-abi: SONAME is '$soname', expected libtritonserver.so" >&2
  exit 1
fi
extra="$(nm -D --defined-only "$lib" | awk '$2 == "T" && $3 !~ /^TRITON/ {print $3}')"
if [[ -n "$extra" ]]; then
  echo "check-abi: exported non-TRITON functions: $extra" >&2
  exit 1
fi
versioned="$(nm -D --defined-only "$lib" | awk '$3 ~ /^TRITON.*@/' | head -n 3)"
if [[ -n "$versioned" ]]; then
  echo "check-abi: symbols carry versions: $versioned" >&2
  exit 1
fi
echo "check-abi: SONAME libtritonserver.so, only unversioned TRITON* functions exported"

# 3. coverage against real Triton 2.51 (reported, not enforced until every API lands)
shared_abi="${TRITON_SHARED_ABI:-$repo/../shared/abi}"
if [[ -x "$shared_abi/check-exports" ]]; then
  "$shared_abi/check-exports" "$lib" || true
else
  echo "check-abi: $shared_abi/check-exports not found; coverage not reported"
fi
