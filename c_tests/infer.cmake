# Inference C tests: the identity / repeat / execfail test backends and the tests
# api_infer, int_infer, int_decoupled, int_unload_inflight, int_churn.
# Included at the end of CMakeLists.txt (uses TC_BACKEND_DIR, TC_WARNINGS, tc_add_backend,
# tc_common).
#
# Environment at run time: TC_CHURN_SECONDS (int_churn duration, default 5).
find_package(Threads REQUIRED)

set(TC_INFER_BACKENDS identity repeat execfail)
foreach(name IN LISTS TC_INFER_BACKENDS)
  tc_add_backend(${name} CUSTOM_EXECUTE THREADS)
endforeach()

add_library(tc_infer_common STATIC infer_common.c)
target_compile_options(tc_infer_common PRIVATE ${TC_WARNINGS})
target_compile_definitions(tc_infer_common PUBLIC _POSIX_C_SOURCE=200809L)
target_link_libraries(tc_infer_common PUBLIC tc_common Threads::Threads)

set(TC_INFER_TESTS api_infer int_infer int_decoupled int_unload_inflight int_churn)
foreach(test IN LISTS TC_INFER_TESTS)
  add_executable(${test} ${test}.c)
  target_compile_options(${test} PRIVATE ${TC_WARNINGS})
  target_link_libraries(${test} PRIVATE tc_infer_common ${CMAKE_DL_LIBS})
  add_test(NAME ${test} COMMAND ${test})
  set_tests_properties(${test} PROPERTIES TIMEOUT ${TC_TEST_TIMEOUT} SKIP_RETURN_CODE 77)
  foreach(name IN LISTS TC_INFER_BACKENDS)
    add_dependencies(${test} triton_${name})
  endforeach()
endforeach()
