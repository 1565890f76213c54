# Plugin C tests: a real repository agent ('actionlog') and a real response cache ('memory'),
# built into ${TC_PLUGIN_DIR}/repoagents/<name>/ and ${TC_PLUGIN_DIR}/caches/<name>/, and
# int_plugins, which loads them through the core. Included at the end of CMakeLists.txt
# (after infer.cmake: uses tc_infer_common and the identity backend).
set(TC_PLUGIN_DIR "${CMAKE_BINARY_DIR}/plugins")

add_library(tritonrepoagent_actionlog SHARED plugins/repoagent_actionlog.c)
target_compile_options(tritonrepoagent_actionlog PRIVATE ${TC_WARNINGS})
target_link_libraries(tritonrepoagent_actionlog PRIVATE
  TritonCore::triton-core-repoagentapi TritonCore::triton-core-serverstub)
set_target_properties(tritonrepoagent_actionlog PROPERTIES
  LIBRARY_OUTPUT_DIRECTORY "${TC_PLUGIN_DIR}/repoagents/actionlog"
  C_VISIBILITY_PRESET default)

add_library(tritoncache_memory SHARED plugins/cache_memory.c)
target_compile_options(tritoncache_memory PRIVATE ${TC_WARNINGS})
target_compile_definitions(tritoncache_memory PRIVATE _POSIX_C_SOURCE=200809L)
target_link_libraries(tritoncache_memory PRIVATE
  TritonCore::triton-core-cacheapi TritonCore::triton-core-serverstub Threads::Threads)
set_target_properties(tritoncache_memory PROPERTIES
  LIBRARY_OUTPUT_DIRECTORY "${TC_PLUGIN_DIR}/caches/memory"
  C_VISIBILITY_PRESET default)

add_executable(int_plugins int_plugins.c)
target_compile_options(int_plugins PRIVATE ${TC_WARNINGS})
target_compile_definitions(int_plugins PRIVATE TC_PLUGIN_DIR="${TC_PLUGIN_DIR}")
target_link_libraries(int_plugins PRIVATE tc_infer_common)
add_dependencies(int_plugins tritonrepoagent_actionlog tritoncache_memory triton_identity)
add_test(NAME int_plugins COMMAND int_plugins)
set_tests_properties(int_plugins PROPERTIES TIMEOUT ${TC_TEST_TIMEOUT})
