#!/usr/bin/env bash
# HTTP section of the benchmarks (issue 7), called by scripts/bench.sh:
#
#   bench/http.sh <out-dir> <upstream-core> <backend-dir>
#
# Serves target/bench/work/repos/infer (identity models fp32, u8mb, tput2) with our HTTP
# server binary and with the real tritonserver 2.51 (on its own core), one after the other,
# each on 127.0.0.1 only, and loads them with wrk (Debian): /v2/health/ready idle and during
# a 16-connection inference load, and JSON inference on fp32 at 1, 16 and 64 connections.
# Every wrk run is bounded in time (BENCH_HTTP_SECONDS, default 10, quick 3).
#
#   TC_HTTP_SERVER_BIN        our server (default <repo>/target/release/tritonserver-rs, the
#                             `server` workspace member); when it does not exist the section
#                             is skipped and <out-dir>/skipped.txt says why
#   TC_REAL_TRITONSERVER_BIN  the real tritonserver (default: the nvidia-pytriton 0.7.0
#                             wheel's pytriton/tritonserver/bin/tritonserver)
#   BENCH_HTTP_PORT           first of the 4 ports used (default 18100)
#
# Writes <out-dir>/{ours,upstream}.<rep>.out ("HTTP <figure> <stat> <value>"), info.txt, and the
# raw wrk outputs and server logs.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="$1"
up_core="$2"
backends="$3"
mkdir -p "$out"
cache="$HOME/.cache/triton-core"
ours_bin="${TC_HTTP_SERVER_BIN:-$repo/target/release/tritonserver-rs}"
real_bin="${TC_REAL_TRITONSERVER_BIN:-$cache/pytriton-0.7.0/pytriton/tritonserver/bin/tritonserver}"
port0="${BENCH_HTTP_PORT:-18100}"
[ "${BENCH_QUICK:-0}" = 1 ] && secs_default=3 || secs_default=10
secs="${BENCH_HTTP_SECONDS:-$secs_default}"
[ "${BENCH_QUICK:-0}" = 1 ] && reps_default=1 || reps_default=3
http_reps="${BENCH_HTTP_REPS:-$reps_default}"
work="$repo/target/bench/work"
models="$work/repos/infer"

log() { printf 'bench/http: %s\n' "$*" >&2; }
skip() {
  log "skipping the HTTP section: $*"
  printf '%s\n' "$*" > "$out/skipped.txt"
  exit 0
}

[ -x "$ours_bin" ] || skip "our HTTP server binary $ours_bin does not exist (cargo build --release -p tritonserver-http; or set TC_HTTP_SERVER_BIN)."
[ -f "$real_bin" ] || skip "the real tritonserver $real_bin does not exist (scripts/fetch-pytriton.sh unpacks it; or set TC_REAL_TRITONSERVER_BIN)."
# The wheel is unpacked without execute bits: run the binary through the dynamic loader then.
real_cmd=("$real_bin")
if [ ! -x "$real_bin" ]; then
  ld_so="$(readelf -l "$real_bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')"
  real_cmd=("$ld_so" "$real_bin")
fi
if ! command -v wrk >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  log "installing wrk and curl with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq wrk curl >/dev/null
fi
rm -f "$out/skipped.txt"

# A directory whose libtritonserver.so is the upstream core, for the backend's DT_NEEDED.
up_link="$work/cores/http-upstream"
mkdir -p "$up_link"
ln -sfn "$(readlink -f "$up_core")" "$up_link/libtritonserver.so"
up_libs="$(dirname "$(readlink -f "$up_core")")"

server_pid=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
trap stop_server EXIT

# "<n><unit>" from wrk (us, ms, s) -> microseconds
to_us() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "ms") n *= 1000; else if (u == "s") n *= 1000000; else if (u == "m") n *= 60000000;
    printf "%.3f", n }'
}

# run_wrk <figure> <connections> <path> [lua]  -> HTTP lines on stdout
run_wrk() {
  local fig="$1" conns="$2" path="$3" lua="${4:-}" threads=2 raw
  [ "$conns" = 1 ] && threads=1
  raw="$out/$which.$fig.$rep.wrk.txt"
  local args=(-t"$threads" -c"$conns" -d"${secs}s" --latency --timeout 5s)
  [ -n "$lua" ] && args+=(-s "$lua")
  wrk "${args[@]}" "http://127.0.0.1:$port$path" > "$raw" 2>&1 || true
  local rps p50 p99 bad
  rps="$(awk '/^Requests\/sec:/ {print $2}' "$raw")"
  p50="$(awk '$1 == "50%" {print $2}' "$raw")"
  p99="$(awk '$1 == "99%" {print $2}' "$raw")"
  bad="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$raw")"
  [ -n "$rps" ] && echo "HTTP $fig rps $rps"
  [ -n "$p50" ] && echo "HTTP $fig p50_us $(to_us "$p50")"
  [ -n "$p99" ] && echo "HTTP $fig p99_us $(to_us "$p99")"
  echo "HTTP $fig non2xx ${bad:-0}"
  if [ -n "${bad:-}" ] && [ "$bad" != 0 ]; then
    log "$which $fig: $bad non-2xx responses (see $raw)"
  fi
}

bench_server() {
  local res="$out/$which.$rep.out"
  : > "$res"
  local ok=0
  for _ in $(seq 1 600); do
    if curl -sf -o /dev/null "http://127.0.0.1:$port/v2/health/ready"; then ok=1; break; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ "$ok" != 1 ]; then
    log "$which: server not ready (log: $out/$which.server.log)"
    tail -n 20 "$out/$which.server.log" >&2 || true
    return 1
  fi
  local cores
  cores="$(grep -o '/[^ ]*libtritonserver[^ ]*' "/proc/$server_pid/maps" | sort -u)"
  if [ "$(printf '%s\n' "$cores" | grep -c .)" != 1 ]; then
    log "$which: expected exactly one libtritonserver mapped, got: $cores"
    return 1
  fi
  [ "$rep" != 1 ] || echo "- $which: \`$1\` on core \`$cores\`" >> "$out/info.txt"
  # Check one inference end to end before loading the server.
  curl -sf -X POST -H 'Content-Type: application/json' \
    -d '{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[16],"data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}]}' \
    "http://127.0.0.1:$port/v2/models/fp32/infer" > "$out/$which.infer.json" || {
      log "$which: inference request failed"; return 1; }
  grep -q '"OUTPUT0"' "$out/$which.infer.json" || { log "$which: no OUTPUT0 in response"; return 1; }
  lua="$repo/bench/http/infer.lua"
  run_wrk health_idle 1 /v2/health/ready >> "$res"
  # Inference load in the background, readiness probed alongside.
  local bg="$out/$which.bg.$rep.wrk.txt"
  wrk -t1 -c16 -d"$((secs + 2))s" --timeout 5s -s "$lua" \
    "http://127.0.0.1:$port/v2/models/fp32/infer" > "$bg" 2>&1 &
  local bgpid=$!
  sleep 1
  run_wrk health_load 1 /v2/health/ready >> "$res"
  wait "$bgpid" || true
  for c in 1 16 64; do
    run_wrk "infer_c$c" "$c" /v2/models/fp32/infer "$lua" >> "$res"
  done
}

: > "$out/info.txt"
echo "Servers run one after the other, unpinned, on 127.0.0.1, each ${http_reps} time(s) in fresh processes (alternating which goes first; medians below); wrk from Debian, ${secs} s per figure; model repository \`target/bench/work/repos/infer\` with the bench identity backend." >> "$out/info.txt"
echo "" >> "$out/info.txt"
status=0

run_ours() {
  which=ours
  port=$port0
  log "ours (repetition $rep): $ours_bin"
  "$ours_bin" --model-repository "$models" --backend-directory "$backends" \
    --http-address 127.0.0.1 --http-port "$port" --metrics-port "$((port0 + 1))" \
    --strict-model-config true > "$out/ours.server.log" 2>&1 &
  server_pid=$!
  bench_server "$ours_bin" || status=1
  stop_server
}

run_upstream() {
  which=upstream
  port=$((port0 + 2))
  log "upstream (repetition $rep): $real_bin"
  LD_LIBRARY_PATH="$up_link:$up_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  "${real_cmd[@]}" --model-repository "$models" --backend-directory "$backends" \
    --http-address 127.0.0.1 --http-port "$port" --metrics-port "$((port0 + 3))" \
    --allow-grpc false --allow-gpu-metrics false --pinned-memory-pool-byte-size 0 \
    --disable-auto-complete-config --log-info false --log-warning false \
    > "$out/upstream.server.log" 2>&1 &
  server_pid=$!
  bench_server "$real_bin" || status=1
  stop_server
}

# Each server in fresh processes BENCH_HTTP_REPS times (full 3, quick 1), alternating which
# goes first: single wrk runs on this VM swing by tens of percent and their p99 by 10x.
rm -f "$out"/ours.*.out "$out"/upstream.*.out
for rep in $(seq 1 "$http_reps"); do
  if [ $((rep % 2)) = 1 ]; then run_ours; run_upstream; else run_upstream; run_ours; fi
done
exit $status
