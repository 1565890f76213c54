# Bounded readiness and self-healing instances (triton-core extensions, tritonrs.h): the
# slowhook / stubinfer test backends and the test int_readiness_bounded.
# Included at the end of CMakeLists.txt (uses TC_BACKEND_DIR, TC_WARNINGS, tc_add_backend,
# tc_infer_common).
#
# Environment at run time: TC_RB_ONLY=<n>[,<n>] runs only those scenarios.
find_package(Threads REQUIRED)

tc_add_backend(slowhook THREADS)
tc_add_backend(stubinfer CUSTOM_EXECUTE THREADS)

add_executable(int_readiness_bounded int_readiness_bounded.c)
target_compile_options(int_readiness_bounded PRIVATE ${TC_WARNINGS})
target_link_libraries(int_readiness_bounded PRIVATE tc_infer_common ${CMAKE_DL_LIBS})
add_dependencies(int_readiness_bounded triton_slowhook triton_stubinfer triton_healthy)
add_test(NAME int_readiness_bounded COMMAND int_readiness_bounded)
# Hung scenarios are killed by alarm() in their child; this bounds the worst case.
set_tests_properties(int_readiness_bounded PROPERTIES TIMEOUT 240)
