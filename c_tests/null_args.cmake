# Test api_null_all (c_tests/null_args/): NULL for every pointer parameter of every function the
# installed headers declare. gen_cases.py writes the case table from the headers at build time;
# the table is compiled into the test program and into the nullargs backend, repository agent
# and cache, which run the cases that need their objects from inside their callbacks.
# Test null_args_exports: every TRITON* function the library exports is declared in a header
# (so it has cases). Included at the end of CMakeLists.txt (after infer.cmake and
# plugins.cmake: uses tc_infer_common, TC_BACKEND_DIR and TC_PLUGIN_DIR).
find_package(Python3 COMPONENTS Interpreter)
if(NOT Python3_Interpreter_FOUND)
  message(WARNING "python3 not found: tests api_null_all and null_args_exports skipped")
  return()
endif()

set(NC_DIR "${CMAKE_CURRENT_SOURCE_DIR}/null_args")
set(NC_HEADERS)
foreach(hdr tritonserver tritonbackend tritonrepoagent tritoncache tritonrs)
  list(APPEND NC_HEADERS "${TritonCore_INCLUDE_DIRS}/triton/core/${hdr}.h")
endforeach()
set(NC_CASES "${CMAKE_BINARY_DIR}/null_args/nc_cases.c")
add_custom_command(
  OUTPUT "${NC_CASES}"
  COMMAND "${CMAKE_COMMAND}" -E make_directory "${CMAKE_BINARY_DIR}/null_args"
  COMMAND Python3::Interpreter "${NC_DIR}/gen_cases.py" "${TritonCore_INCLUDE_DIRS}" "${NC_CASES}"
  DEPENDS "${NC_DIR}/gen_cases.py" ${NC_HEADERS}
  COMMENT "Generating the NULL-argument cases from the installed headers"
  VERBATIM)

# The runner, the fixtures every context has and the case table, once per binary.
set(NC_COMMON_SOURCES "${NC_DIR}/nc_runner.c" "${NC_DIR}/nc_plain.c" "${NC_CASES}")
# The generated calls pass string literals and compound literals: no extra warnings needed
# beyond TC_WARNINGS.
function(nc_plugin target source outdir)
  add_library(${target} SHARED "${NC_DIR}/${source}" ${NC_COMMON_SOURCES})
  target_compile_options(${target} PRIVATE ${TC_WARNINGS})
  target_compile_definitions(${target} PRIVATE _POSIX_C_SOURCE=200809L)
  target_include_directories(${target} PRIVATE "${NC_DIR}")
  target_link_libraries(${target} PRIVATE
    TritonCore::triton-core-backendapi TritonCore::triton-core-repoagentapi
    TritonCore::triton-core-cacheapi TritonCore::triton-core-serverstub)
  set_target_properties(${target} PROPERTIES
    LIBRARY_OUTPUT_DIRECTORY "${outdir}" C_VISIBILITY_PRESET default)
endfunction()
nc_plugin(triton_nullargs nc_backend.c "${TC_BACKEND_DIR}/nullargs")
nc_plugin(tritonrepoagent_nullargs nc_repoagent.c "${TC_PLUGIN_DIR}/repoagents/nullargs")
nc_plugin(tritoncache_nullargs nc_cache.c "${TC_PLUGIN_DIR}/caches/nullargs")

add_executable(api_null_all "${NC_DIR}/api_null_all.c" ${NC_COMMON_SOURCES})
target_compile_options(api_null_all PRIVATE ${TC_WARNINGS})
target_compile_definitions(api_null_all PRIVATE TC_PLUGIN_DIR="${TC_PLUGIN_DIR}")
target_include_directories(api_null_all PRIVATE "${NC_DIR}")
target_link_libraries(api_null_all PRIVATE tc_infer_common TritonCore::triton-core-backendapi
                                           TritonCore::triton-core-repoagentapi
                                           TritonCore::triton-core-cacheapi)
add_dependencies(api_null_all triton_nullargs tritonrepoagent_nullargs tritoncache_nullargs)
add_test(NAME api_null_all COMMAND api_null_all)
# Some 500 forked cases, most starting a server of their own.
math(EXPR NC_TIMEOUT "${TC_TEST_TIMEOUT} * 5")
set_tests_properties(api_null_all PROPERTIES TIMEOUT ${NC_TIMEOUT})

add_test(NAME null_args_exports
         COMMAND Python3::Interpreter "${NC_DIR}/gen_cases.py" --check-exports
                 "${TritonCore_INCLUDE_DIRS}" "$<TARGET_FILE:TritonCore::tritonserver>")
