#!/usr/bin/env bash
# The sanitizer runs of triton-core (scripts/test.sh runs the reduced one after ctest; 
# scripts/test.sh --sanitize runs the full one).
#
#   scripts/sanitize.sh [--full | --reduced]        (default --full)
#
# Parts (each timed; every report of a tool fails the run):
#   asan      the C tests and C test backends built with -fsanitize=address,undefined
#             (target/c_tests_asan, c_tests/sanitize.cmake sets ASAN/UBSAN/LSAN_OPTIONS and
#             PROBE_FREE=1), run against the release library. Catches what the C side does
#             wrong and what the core makes a backend do wrong (a backend call with a finalized
#             state is a heap-use-after-free in the probe backend).
#   valgrind  the uninstrumented C tests (target/c_tests) under valgrind memcheck
#             (--error-exitcode=99): checks the Rust library itself, which ASan does not
#             instrument. Forked scenario children are followed (same program, no exec).
#   asan-lib  (full, nightly toolchain) the library itself built with -Zsanitizer=address
#             (-Zbuild-std, target/asan-lib) and the asan tests run again against it.
#   tsan      (full, nightly toolchain) the engine's unit tests, its concurrency tests among
#             them (cargo test -p triton-core --lib), built with -Zsanitizer=thread
#             (-Zbuild-std, target/tsan).
#
# --reduced (CI, a few minutes): asan for int_lifetime, int_readiness and
# int_readiness_bounded, valgrind for int_lifetime scenarios 1 and 4, int_readiness and
# int_readiness_bounded; no nightly parts.
#
# Environment: TC_NIGHTLY=<toolchain> (default nightly; installed with rust-src through rustup
# when missing; "none" skips asan-lib and tsan), TC_SANITIZE_JOBS (parallel valgrind tests,
# default 2), TC_SANITIZE_PYTHON=0 (full: no int_python under ASan, no PyPI download).
# Logs: target/sanitize-logs/.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
mode=full
case "${1:-}" in
  "" | --full) mode=full ;;
  --reduced) mode=reduced ;;
  *) echo "usage: $0 [--full | --reduced]" >&2; exit 2 ;;
esac
nightly="${TC_NIGHTLY:-nightly}"
jobs="${TC_SANITIZE_JOBS:-2}"
logs="$repo/target/sanitize-logs"
mkdir -p "$logs"
host_target=x86_64-unknown-linux-gnu

step() { printf '\n---- sanitize (%s): %s\n' "$mode" "$*"; }
now() { echo "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }
declare -a summary=()
failed=0
t_all=$(now)

# ---- prerequisites: the release library, staged as scripts/test.sh stages it ----
if [[ ! -e target/release/libtritonserver.so ]]; then
  step "release library"
  cargo build --release --quiet --lib
fi
if [[ ! -e target/stage/lib/libtritonserver.so ||
      target/release/libtritonserver.so -nt target/stage/lib/libtritonserver.so ]]; then
  scripts/stage-prefix.sh target/release target/stage >/dev/null
fi
command -v valgrind >/dev/null 2>&1 || { echo "valgrind missing: run scripts/install-deps.sh" >&2; exit 1; }

py_flags=(-DTC_PYTHON_BACKEND_DIR= -DTC_PYTHON_VENV_BIN=)
if [[ $mode == full && "${TC_SANITIZE_PYTHON:-1}" != 0 ]]; then
  if [[ -z "${TC_PYTHON_BACKEND_DIR:-}" ]]; then
    eval "$(scripts/fetch-pytriton.sh)"
  fi
  py_flags=(-DTC_PYTHON_BACKEND_DIR="$TC_PYTHON_BACKEND_DIR"
            -DTC_PYTHON_VENV_BIN="${TC_PYTHON_VENV_BIN:-}")
fi

# Not run under the sanitizers: they test no code at run time (headers_compile compiles the
# headers, null_args_exports reads the export table) or build a program of their own without
# the sanitizer runtime (pkgconfig_consumer), which can not load an ASan-instrumented library.
ctest_exclude='^(headers_compile|pkgconfig_consumer|null_args_exports)$'
ctest_reduced='^(int_lifetime|int_readiness|int_readiness_bounded)$'

# ---- part asan: C tests and backends with ASan + UBSan ----
asan_build() {
  cmake -S c_tests -B target/c_tests_asan -DCMAKE_PREFIX_PATH="$repo/target/stage" \
    -DCMAKE_BUILD_TYPE=Debug -DTC_SANITIZE=ON "${py_flags[@]}" >"$logs/asan-cmake.log"
  if [[ $mode == reduced ]]; then
    cmake --build target/c_tests_asan -j2 --target int_lifetime int_readiness int_readiness_bounded \
      >"$logs/asan-build.log"
  else
    cmake --build target/c_tests_asan -j2 >"$logs/asan-build.log"
  fi
}
# What a sanitizer prints when it reports (ASan, LSan, UBSan).
san_report='(ERROR|WARNING): (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:|Sanitizer:DEADLYSIGNAL'
# run_asan_ctest <label> [LD_LIBRARY_PATH]
# Tests that failed only checks of their own ("***Failed", no sanitizer report in the output,
# e.g. a latency bound of int_readiness_bounded missed on a loaded machine) run once more,
# alone. A sanitizer report, a timeout or a crash is never retried.
run_asan_ctest() {
  local label="$1" libdir="${2:-}" sel=(-E "$ctest_exclude")
  [[ $mode == reduced ]] && sel=(-R "$ctest_reduced")
  local t0 rc=0 log="$logs/$1.log"
  local ldp="${libdir}${libdir:+${LD_LIBRARY_PATH:+:}}${LD_LIBRARY_PATH:-}"
  t0=$(now)
  LD_LIBRARY_PATH="$ldp" ctest --test-dir target/c_tests_asan --output-on-failure -j2 "${sel[@]}" \
    >"$log" 2>&1 || rc=$?
  grep -E '^ *[0-9]+/[0-9]+ Test ' "$log" || true
  if [[ $rc -ne 0 ]] && ! grep -qE "$san_report" "$log" &&
     ! grep -E '^ *[0-9]+/[0-9]+ Test .*\*\*\*' "$log" | grep -qvE '\*\*\*Failed'; then
    echo "  failed only checks of their own, without a sanitizer report:"
    grep -E '^(FAIL|FAILED) ' "$log" | head -20 | sed 's/^/    /' || true
    echo "  once more, alone (first log: $log)"
    log="$logs/$1.rerun.log"
    rc=0
    LD_LIBRARY_PATH="$ldp" ctest --test-dir target/c_tests_asan --output-on-failure -j1 \
      --rerun-failed >"$log" 2>&1 || rc=$?
    grep -E '^ *[0-9]+/[0-9]+ Test ' "$log" | sed 's/$/ (rerun)/' || true
  fi
  local took
  took=$(since "$t0")
  if [[ $rc -ne 0 ]]; then
    failed=1
    echo "FAIL: $label (ctest exit $rc, ${took} s); the reports:"
    grep -E -A60 "$san_report" "$log" | head -400 || true
    grep -E '^(FAIL|FAILED) ' "$log" | head -40 || true
    echo "(full log: $log)"
    summary+=("$label: FAIL in ${took} s")
  else
    summary+=("$label: pass in ${took} s")
  fi
}

step "asan: C tests and test backends built with -fsanitize=address,undefined (target/c_tests_asan)"
t0=$(now)
asan_build
echo "built in $(since "$t0") s"
run_asan_ctest asan

# ---- part valgrind: the uninstrumented C tests under memcheck ----
# Leak checking (definite and indirect leaks are errors) for the tests whose processes tear
# everything down; not for the API tests that fork one child per case and _exit() it with the
# case's objects alive and server threads running (api_null_args, api_infer, api_null_all),
# nor for int_readiness_bounded, whose stubinfer backend forks its stub processes from the
# server (no exec) and lets them exit: the threads of the server are gone in those children,
# so what they held reads as lost. There a leak report says nothing about the core; memory
# errors are still checked.
# Not run under valgrind: int_python. Its python stubs are other processes (not under
# valgrind) that write into memory shared with the backend, so memcheck flags correct output
# values as uninitialised, and it reports uninitialised reads inside the 2.51 python backend's
# own code (ExecuteBLSRequest after the stub is killed). It runs under ASan (part asan).
# No valgrind suppressions are needed: memcheck reports nothing in glibc or Rust's std here.
vg_common=(--tool=memcheck --error-exitcode=99 --num-callers=40 --fair-sched=yes)
vg_leak=(--leak-check=full --show-leak-kinds=definite,indirect
         --errors-for-leak-kinds=definite,indirect)
vg_noleak=(--leak-check=no)
if [[ $mode == reduced ]]; then
  # name|leak|timeout s|environment
  vg_tests=(
    "int_lifetime|leak|300|PROBE_FREE=1 TC_LIFETIME_ONLY=1,4"
    "int_readiness_bounded|noleak|300|"
    "int_readiness|leak|120|"
  )
else
  vg_tests=(  # longest first
    "api_null_all|noleak|1200|"
    "int_lifetime|leak|600|PROBE_FREE=1"
    "int_soak|leak|300|PROBE_FREE=1 TC_SOAK_SECONDS=20"
    "int_readiness_bounded|noleak|300|"
    "api_null_args|noleak|300|"
    "api_infer|noleak|300|"
    "int_plugins|leak|300|"
    "int_unload_inflight|leak|300|"
    "int_churn|leak|300|"
    "int_nonstrict|leak|300|"
    "int_lifecycle|leak|300|"
    "int_decoupled|leak|300|"
    "int_infer|leak|300|"
    "int_readiness|leak|300|"
    "api_error|leak|300|"
  )
fi

step "valgrind: uninstrumented C tests under memcheck (target/c_tests, the release library)"
t_vg=$(now)
# The build scripts/test.sh makes for ctest (configured here only if it does not exist yet).
if [[ ! -e target/c_tests/CMakeCache.txt ]]; then
  cmake -S c_tests -B target/c_tests -DCMAKE_PREFIX_PATH="$repo/target/stage" \
    -DCMAKE_BUILD_TYPE=Debug "${py_flags[@]}" >"$logs/vg-cmake.log"
fi
cmake --build target/c_tests -j2 >"$logs/vg-build.log"
rm -rf "$logs/valgrind" && mkdir -p "$logs/valgrind"
vg_one() {  # vg_one <test> <leak> <timeout> <env> [<log suffix>]: <log>, <log>.rc, <log>.time
  local name="$1" leak="$2" tmo="$3" envs="$4" log="$logs/valgrind/$1${5:-}.log" t0 rc=0
  local -a opts=("${vg_common[@]}")
  if [[ $leak == leak ]]; then opts+=("${vg_leak[@]}"); else opts+=("${vg_noleak[@]}"); fi
  t0=$(now)
  (cd target/c_tests && env $envs timeout -k 10 "$tmo" valgrind "${opts[@]}" "./$name") \
    >"$log" 2>&1 || rc=$?
  echo "$rc" >"$log.rc"
  since "$t0" >"$log.time"
}
running=0
for spec in "${vg_tests[@]}"; do
  IFS='|' read -r name leak tmo envs <<<"$spec"
  if [[ ! -x target/c_tests/$name ]]; then
    echo "missing target/c_tests/$name" >&2
    failed=1
    continue
  fi
  vg_one "$name" "$leak" "$tmo" "$envs" &
  running=$((running + 1))
  if [[ $running -ge $jobs ]]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true
vg_fail=0
for spec in "${vg_tests[@]}"; do
  IFS='|' read -r name leak tmo envs <<<"$spec"
  log="$logs/valgrind/$name.log"
  [[ -e $log.rc ]] || continue
  rc=$(cat "$log.rc")
  took=$(cat "$log.time")
  errs=$(grep -E '^==[0-9]+== ERROR SUMMARY: [1-9]' "$log" | wc -l || true)
  procs=$(grep -cE '^==[0-9]+== ERROR SUMMARY' "$log" || true)
  printf '  %-20s %-6s %5s s  exit %-3s %s process(es) checked%s\n' "$name" "$leak" "$took" \
    "$rc" "$procs" "$([[ -n $envs ]] && echo ", $envs")"
  # A test that failed one of its own checks with no memcheck report in any of its processes
  # (exit 1, every ERROR SUMMARY 0: a timing precondition of the test missed on a slow,
  # loaded machine, e.g. int_lifetime's 300 ms warm-up before a stop) runs once more, alone.
  # A memcheck report, a timeout or a crash is never retried.
  if [[ $rc -eq 1 && $errs -eq 0 ]] && ! grep -qE '^==[0-9]+== (Process terminating|Invalid|Conditional|Use of uninit)' "$log"; then
    echo "  $name: failed a check of its own without a memcheck report:"
    grep -E '^(FAIL|FAILED) ' "$log" | head -10 | sed 's/^/    /' || true
    echo "  $name: once more, alone (first log: $log)"
    vg_one "$name" "$leak" "$tmo" "$envs" .rerun
    log="$logs/valgrind/$name.rerun.log"
    rc=$(cat "$log.rc")
    errs=$(grep -E '^==[0-9]+== ERROR SUMMARY: [1-9]' "$log" | wc -l || true)
    procs=$(grep -cE '^==[0-9]+== ERROR SUMMARY' "$log" || true)
    printf '  %-20s %-6s %5s s  exit %-3s %s process(es) checked (rerun)\n' "$name" "$leak" \
      "$(cat "$log.time")" "$rc" "$procs"
  fi
  if [[ $rc -ne 0 || $errs -ne 0 ]]; then
    vg_fail=1
    echo "FAIL: $name under valgrind (exit $rc, $errs process(es) with errors); the reports:"
    # Each memcheck error block: from its headline to the blank ==pid== line that ends it.
    awk '/^==[0-9]+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and destination|Argument|Jump to|Process terminating|.* are (definitely|indirectly) lost)/ {p=1}
         p {print} /^==[0-9]+== $/ {p=0}' "$log" | head -300
    grep -E '^(FAIL|FAILED) ' "$log" | head -20 || true
    [[ $rc -eq 124 || $rc -eq 137 ]] && echo "(timed out after $tmo s)"
    echo "(full log: $log)"
  fi
done
took=$(since "$t_vg")
if [[ $vg_fail -ne 0 ]]; then
  failed=1
  summary+=("valgrind: FAIL in ${took} s")
else
  summary+=("valgrind: pass in ${took} s")
fi

# ---- nightly parts (full only) ----
nightly_ok() {
  [[ $nightly != none ]] || return 1
  command -v rustup >/dev/null 2>&1 || return 1
  if ! rustup run "$nightly" rustc --version >/dev/null 2>&1; then
    echo "installing Rust toolchain $nightly (minimal, rust-src)"
    rustup toolchain install "$nightly" --profile minimal --component rust-src >/dev/null 2>&1 ||
      return 1
  fi
  local sysroot
  sysroot=$(rustup run "$nightly" rustc --print sysroot)
  if [[ ! -d $sysroot/lib/rustlib/src/rust/library ]]; then
    rustup component add rust-src --toolchain "$nightly" >/dev/null 2>&1 || return 1
  fi
}

if [[ $mode == full ]]; then
  if nightly_ok; then
    echo
    echo "nightly toolchain: $(rustup run "$nightly" rustc --version)"

    step "asan-lib: the library built with -Zsanitizer=address (target/asan-lib), asan tests again"
    t0=$(now)
    if RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes" CARGO_TARGET_DIR=target/asan-lib \
        cargo "+$nightly" build --release --quiet --lib -Zbuild-std --target "$host_target" \
        >"$logs/asan-lib-build.log" 2>&1; then
      echo "built in $(since "$t0") s"
      run_asan_ctest asan-lib "$repo/target/asan-lib/$host_target/release"
    else
      failed=1
      tail -30 "$logs/asan-lib-build.log"
      summary+=("asan-lib: build FAILED in $(since "$t0") s")
    fi

    step "tsan: the engine's unit tests with -Zsanitizer=thread (target/tsan)"
    # All of cargo test -p triton-core --lib: the concurrency tests (instance gate, version
    # life, sync, workers, readiness under churn, concurrent loads, hooks) and the rest cost
    # about 40 s together once built. std is rebuilt with TSan too (-Zbuild-std), so its locks
    # and channels are seen and give no false reports. A report makes the test binary exit 66.
    # RUST_BACKTRACE=0: symbolizing the backtrace of a test's deliberate panic takes over 20 s
    # under TSan, past the 5 s that test waits for it.
    t0=$(now)
    rc=0
    RUSTFLAGS="-Zsanitizer=thread -Cforce-frame-pointers=yes" CARGO_TARGET_DIR=target/tsan \
      TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0 second_deadlock_stack=1 exitcode=66}" \
      RUST_BACKTRACE=0 RUST_TEST_THREADS=2 \
      cargo "+$nightly" test --quiet -Zbuild-std --target "$host_target" -p triton-core --lib \
      >"$logs/tsan.log" 2>&1 || rc=$?
    grep -E '^test result:|running [0-9]+ tests' "$logs/tsan.log" || true
    took=$(since "$t0")
    if [[ $rc -ne 0 ]]; then
      failed=1
      echo "FAIL: tsan (exit $rc, ${took} s); the reports:"
      grep -E -A40 'WARNING: ThreadSanitizer' "$logs/tsan.log" | head -400 || true
      grep -E '^(failures:|    [a-z_:]+$|error)' "$logs/tsan.log" | head -40 || true
      echo "(full log: $logs/tsan.log)"
      summary+=("tsan: FAIL in ${took} s (build included)")
    else
      summary+=("tsan: pass in ${took} s (build included)")
    fi
  else
    echo
    echo "no usable nightly toolchain ($nightly): asan-lib and tsan SKIPPED"
    summary+=("asan-lib, tsan: skipped (no nightly toolchain)")
  fi
fi

printf '\n---- sanitize (%s) summary, %s s in all\n' "$mode" "$(since "$t_all")"
printf '  %s\n' "${summary[@]}"
exit "$failed"
