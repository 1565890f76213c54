# Run-time options of the sanitizers, for the tests of a TC_SANITIZE=ON build: ctest in such a
# build directory runs every test with them, so that any report fails the test.
# Included at the end of CMakeLists.txt (after every add_test). scripts/sanitize.sh uses it.
#
#   ASAN_OPTIONS   halt_on_error: the first report ends the process with exitcode 1 (a forked
#                  scenario child then fails its scenario, the driver fails the test);
#                  detect_leaks: LeakSanitizer at exit; detect_stack_use_after_return: also
#                  stack frames used after their function returned; fast_unwind_on_malloc=0:
#                  full allocation stacks also through code built without frame pointers (the
#                  Rust library, the python backend).
#   UBSAN_OPTIONS  print_stacktrace; halt_on_error (the build also has -fno-sanitize-recover).
#   PROBE_FREE=1   the probe backend frees its states at finalize (backends/probe.c), so a
#                  backend call with a finalized object is a heap-use-after-free report.
#
# LeakSanitizer runs at exit(), not at _exit(): forked scenario children that _exit() are not
# leak-checked, their parents are. Per-test exceptions, each with its reason:
#   int_python     LSAN_OPTIONS suppressions=sanitizers/lsan-int_python.supp (the objects the
#                  2.51 python backend never frees after its stub is killed, and the test's own
#                  leak; see the file).
if(NOT TC_SANITIZE)
  return()
endif()

set(TC_ASAN_OPTIONS
    "halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:fast_unwind_on_malloc=0"
    CACHE STRING "ASAN_OPTIONS for the tests of a TC_SANITIZE=ON build")
set(TC_UBSAN_OPTIONS "halt_on_error=1:print_stacktrace=1"
    CACHE STRING "UBSAN_OPTIONS for the tests of a TC_SANITIZE=ON build")
set(TC_SANITIZER_DIR "${CMAKE_CURRENT_SOURCE_DIR}/sanitizers")

get_property(tc_all_tests DIRECTORY PROPERTY TESTS)
foreach(test IN LISTS tc_all_tests)
  set(lsan "")
  if(EXISTS "${TC_SANITIZER_DIR}/lsan-${test}.supp")
    set(lsan "suppressions=${TC_SANITIZER_DIR}/lsan-${test}.supp:print_suppressions=1")
  endif()
  set_property(TEST ${test} APPEND PROPERTY ENVIRONMENT
    "ASAN_OPTIONS=${TC_ASAN_OPTIONS}" "UBSAN_OPTIONS=${TC_UBSAN_OPTIONS}"
    "LSAN_OPTIONS=${lsan}" "PROBE_FREE=1")
endforeach()
