#!/usr/bin/env bash
# Lay out an install prefix for triton-core as a user would get it:
#
#   <prefix>/lib/libtritonserver.so
#   <prefix>/include/triton/core/*.h
#   <prefix>/lib/cmake/TritonCore/TritonCoreConfig.cmake (+ TritonCoreConfigVersion.cmake)
#   <prefix>/lib/pkgconfig/tritonserver.pc
#
# Usage: scripts/stage-prefix.sh <cargo-target-profile-dir> <prefix>
#   e.g. scripts/stage-prefix.sh target/release /tmp/triton-prefix
#
# Idempotent: rerunning replaces the staged files (atomically per file) and removes
# headers that no longer exist in the source include directory.
#
# Environment overrides (for testing the package against other builds):
#   STAGE_INCLUDE_DIR  directory holding triton/core/*.h (default: <repo>/include)
#   STAGE_VERSION      package version (default: [package] version from <repo>/Cargo.toml)
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 <cargo-target-profile-dir> <prefix>" >&2
  exit 2
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
profile_dir="$1"
prefix="$2"
include_src="${STAGE_INCLUDE_DIR:-$repo/include}"
upstream_version="2.51.0"

lib_src="$profile_dir/libtritonserver.so"
if [[ ! -e "$lib_src" ]]; then
  echo "error: $lib_src not found (run 'cargo build --release' first?)" >&2
  exit 1
fi
if ! compgen -G "$include_src/triton/core/*.h" >/dev/null; then
  echo "error: no headers in $include_src/triton/core" >&2
  exit 1
fi

version="${STAGE_VERSION:-}"
if [[ -z "$version" ]]; then
  # First 'version = "..."' after the [package] table header.
  version="$(awk '
    /^\[/ { in_pkg = ($0 == "[package]") }
    in_pkg && /^version *= *"/ { gsub(/^version *= *"|".*$/, ""); print; exit }
  ' "$repo/Cargo.toml")"
fi
if [[ -z "$version" ]]; then
  echo "error: cannot determine package version from $repo/Cargo.toml" >&2
  exit 1
fi

# install_file <src> <dst>: copy (dereferencing symlinks) via a temp file + rename,
# so a library that is in use is never rewritten in place.
install_file() {
  local src="$1" dst="$2" mode="$3"
  local tmp
  tmp="$(mktemp "$(dirname "$dst")/.stage.XXXXXX")"
  cp -L "$src" "$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$dst"
}

# configure_file <template> <dst>: substitute @TRITONCORE_VERSION@ / @TRITON_UPSTREAM_VERSION@.
configure_file() {
  local src="$1" dst="$2"
  local tmp
  tmp="$(mktemp "$(dirname "$dst")/.stage.XXXXXX")"
  sed -e "s|@TRITONCORE_VERSION@|$version|g" \
      -e "s|@TRITON_UPSTREAM_VERSION@|$upstream_version|g" "$src" > "$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$dst"
}

mkdir -p "$prefix/lib/cmake/TritonCore" "$prefix/lib/pkgconfig" "$prefix/include/triton/core"

install_file "$lib_src" "$prefix/lib/libtritonserver.so" 0755

# Headers: mirror include/triton/core exactly.
for h in "$prefix/include/triton/core/"*.h; do
  [[ -e "$h" ]] || continue
  [[ -e "$include_src/triton/core/$(basename "$h")" ]] || rm -f "$h"
done
for h in "$include_src/triton/core/"*.h; do
  install_file "$h" "$prefix/include/triton/core/$(basename "$h")" 0644
done

configure_file "$repo/cmake/TritonCoreConfig.cmake.in" \
  "$prefix/lib/cmake/TritonCore/TritonCoreConfig.cmake"
configure_file "$repo/cmake/TritonCoreConfigVersion.cmake.in" \
  "$prefix/lib/cmake/TritonCore/TritonCoreConfigVersion.cmake"
configure_file "$repo/cmake/tritonserver.pc.in" "$prefix/lib/pkgconfig/tritonserver.pc"

echo "staged triton-core $version into $prefix"
