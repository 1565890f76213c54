#!/usr/bin/env bash
# Benchmarks of triton-core against the real Triton 2.51 core (issue 7). One command:
#
#   scripts/bench.sh                 full run (3 fresh processes per figure, pinned and
#                                    unpinned; about 5 minutes on the 2-core machine)
#   BENCH_QUICK=1 scripts/bench.sh   smoke run (1 process per figure, short loops; < 2 min
#                                    once built)
#
# Installs what it needs (idempotent), builds our release library and the bench (bench/:
# the driver tcbench and the identity backend), runs the same two binaries against both
# cores, prints for each figure ours, upstream's and the ratio, and writes the table with
# the machine, its load and the date to bench/RESULTS.md (BENCH_OUT to write elsewhere).
#
# Environment:
#   BENCH_QUICK=1          short loops, 1 repetition
#   BENCH_REPS=N           repetitions in fresh processes (default 3; quick 1)
#   BENCH_SETS="pinned unpinned"   which sets to run (pinned = taskset -c $BENCH_CPU)
#   BENCH_CPU=0            the CPU of the pinned set
#   BENCH_SCENARIOS="..."  subset of: infer_fp32 infer_1mb tput models1 models100
#                          models1000 ready_infer ready_loading
#   BENCH_OUT=path         where the Markdown report goes (default bench/RESULTS.md)
#   TC_UPSTREAM_CORE=path  the real core (default: the nvidia-pytriton 0.7.0 wheel's
#                          libtritonserver-717102f0.so, fetched by scripts/fetch-pytriton.sh)
#   TC_OUR_CORE=path       our core (default target/release/libtritonserver.so, built here)
#   BENCH_NO_BUILD=1       do not run cargo (use TC_OUR_CORE as it is)
# HTTP section (bench/http.sh; runs only when our server binary exists, else says why):
#   TC_HTTP_SERVER_BIN     our HTTP server (default target/release/tritonserver-rs, built
#                          here from the `server` workspace member when it exists)
#   TC_REAL_TRITONSERVER_BIN  the real tritonserver (default: the wheel's
#                          pytriton/tritonserver/bin/tritonserver)
#   BENCH_HTTP=0           skip the HTTP section
#
# Benchmarks are never part of the test suite (scripts/test.sh, .ci/run).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

quick="${BENCH_QUICK:-0}"
[ "$quick" = 1 ] && default_reps=1 || default_reps=3
reps="${BENCH_REPS:-$default_reps}"
sets="${BENCH_SETS:-pinned unpinned}"
cpu="${BENCH_CPU:-0}"
scenarios="${BENCH_SCENARIOS:-infer_fp32 infer_1mb tput models1 models100 models1000 ready_infer ready_loading}"
out_md="${BENCH_OUT:-$repo/bench/RESULTS.md}"
cache="$HOME/.cache/triton-core"

log() { printf 'bench: %s\n' "$*" >&2; }
step() { printf '\n==== %s\n' "$*" >&2; }

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_before="$(loadavg)"
busy_before="$(ps -eo pcpu=,comm= --sort=-pcpu | head -n 5 | awk '{printf "%s%s %s%%", (NR>1?", ":""), $2, $1}')"

step "dependencies"
need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v make >/dev/null 2>&1 || need+=(make)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" >&2
fi

step "our core (release) and its install prefix"
our_core="${TC_OUR_CORE:-$repo/target/release/libtritonserver.so}"
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  cargo build --release --quiet --lib
  # Our HTTP server (workspace member server/, package tritonserver-http), when main has it.
  if [ -z "${TC_HTTP_SERVER_BIN:-}" ] && [ -f server/Cargo.toml ] && [ "${BENCH_HTTP:-1}" != 0 ]; then
    cargo build --release --quiet -p tritonserver-http --bin tritonserver-rs \
      || log "building tritonserver-rs failed: the HTTP section will say so"
  fi
fi
[ -f "$our_core" ] || { log "error: $our_core not found"; exit 1; }
# The prefix only provides headers and the backend's link-time libtritonserver.so.
scripts/stage-prefix.sh "$(dirname "$our_core")" target/bench/prefix >&2

step "the real Triton 2.51 core (PyPI nvidia-pytriton 0.7.0)"
up_core="${TC_UPSTREAM_CORE:-}"
if [ -z "$up_core" ]; then
  up_core="$cache/pytriton-0.7.0/nvidia_pytriton.libs/libtritonserver-717102f0.so"
  [ -f "$up_core" ] || scripts/fetch-pytriton.sh "$cache" >/dev/null
fi
[ -f "$up_core" ] || { log "error: upstream core $up_core not found"; exit 1; }

step "bench build (bench/ -> target/bench/build)"
cmake -S bench -B target/bench/build -DCMAKE_PREFIX_PATH="$repo/target/bench/prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build target/bench/build -j2 >/dev/null
tcbench="$repo/target/bench/build/tcbench"
backends="$repo/target/bench/build/backends"
work="$repo/target/bench/work"
mkdir -p "$work"
[ -f "$work/repos/.prepared" ] || "$tcbench" --work "$work" --prepare

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
results="$repo/target/bench/results/$stamp"
mkdir -p "$results"
log "raw results in $results"

# One untimed pass over the 1000-model repository per core first: the first process to read
# it after a while pays for cold file-system caches (2x its startup), and without this pass
# that is whichever core happens to go first.
for core in "$our_core" "$up_core"; do
  taskset -c "$cpu" "$tcbench" --core "$core" --backend-dir "$backends" --work "$work" \
    --scenario models1000 --quick >/dev/null 2>&1 || log "warm-up pass failed for $core"
done

step "in-process figures: sets [$sets], $reps repetition(s), quick=$quick"
quick_flag=()
[ "$quick" = 1 ] && quick_flag=(--quick)
failures=0
for set in $sets; do
  case "$set" in
    pinned) prefix=(taskset -c "$cpu") ;;
    unpinned) prefix=() ;;
    *) log "error: unknown set $set"; exit 2 ;;
  esac
  for rep in $(seq 1 "$reps"); do
    for scenario in $scenarios; do
      # Alternate which core goes first, so that drift in the machine's load is shared.
      if [ $((rep % 2)) = 1 ]; then order="ours upstream"; else order="upstream ours"; fi
      # Our opt-in caller-thread execution, on the inference figures of the pinned set.
      case "$set:$scenario" in
        pinned:infer_fp32 | pinned:infer_1mb | pinned:tput) order="$order ours-caller" ;;
      esac
      for which in $order; do
        [ "$which" = upstream ] && core="$up_core" || core="$our_core"
        env_=()
        [ "$which" = ours-caller ] && env_=(env TRITON_CORE_CALLER_EXECUTES=1)
        dir="$results/$set/$which"
        mkdir -p "$dir"
        o="$dir/$scenario.$rep.out"
        e="$dir/$scenario.$rep.err"
        log "$set rep $rep $scenario $which"
        if ! timeout 600 "${env_[@]}" "${prefix[@]}" "$tcbench" --core "$core" --backend-dir "$backends" \
            --work "$work" --scenario "$scenario" "${quick_flag[@]}" >"$o" 2>"$e"; then
          log "FAILED: $set rep $rep $scenario $which (see $e):"
          tail -n 5 "$e" >&2 || true
          failures=$((failures + 1))
        fi
      done
    done
  done
done

# What the machine itself costs (pinned): a futex hand-off over and back, a 1 MiB memcpy.
mkdir -p "$results/floors"
for rep in $(seq 1 "$reps"); do
  taskset -c "$cpu" "$repo/target/bench/build/floors" >"$results/floors/floors.$rep.out" \
    2>/dev/null || log "floors run $rep failed"
done

if [ "${BENCH_HTTP:-1}" != 0 ]; then
  step "HTTP section"
  BENCH_QUICK="$quick" bench/http.sh "$results/http" "$up_core" "$backends" || {
    log "HTTP section failed"
    failures=$((failures + 1))
  }
fi

load_after="$(loadavg)"
busy_after="$(ps -eo pcpu=,comm= --sort=-pcpu | head -n 5 | awk '{printf "%s%s %s%%", (NR>1?", ":""), $2, $1}')"
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "mode=$([ "$quick" = 1 ] && echo quick || echo full)"
  echo "reps=$reps"
  echo "sets=$sets"
  echo "cpu_pinned=$cpu"
  echo "cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "nproc=$(nproc)"
  echo "mem=$(free -h | awk '/^Mem:/ {print $2}')"
  echo "kernel=$(uname -r)"
  echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')"
  echo "our_core=$our_core"
  echo "upstream_core=$up_core"
  echo "load_before=$load_before"
  echo "load_after=$load_after"
  echo "busy_before=$busy_before"
  echo "busy_after=$busy_after"
  echo "failures=$failures"
} > "$results/meta.txt"

step "report"
python3 bench/report.py "$results" "$out_md"
log "report written to $out_md"
[ "$failures" = 0 ] || { log "$failures run(s) failed"; exit 1; }
