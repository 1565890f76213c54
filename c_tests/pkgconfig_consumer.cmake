# ctest script: build and run a program using only pkg-config's flags for tritonserver.
#   cmake -DPKG_CONFIG=... -DPREFIX=... -DCC=... -DSRC=... -DOUT=... -P pkgconfig_consumer.cmake
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/lib/pkgconfig")
execute_process(COMMAND "${PKG_CONFIG}" --cflags --libs tritonserver
                OUTPUT_VARIABLE flags RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config --cflags --libs tritonserver failed (${rc})")
endif()
execute_process(COMMAND "${PKG_CONFIG}" --modversion tritonserver
                OUTPUT_VARIABLE version OUTPUT_STRIP_TRAILING_WHITESPACE)
message(STATUS "tritonserver.pc ${version}: ${flags}")
separate_arguments(flags UNIX_COMMAND "${flags}")
execute_process(COMMAND "${CC}" -std=c11 -Wall -Wextra -Werror "${SRC}" -o "${OUT}" ${flags}
                        "-Wl,-rpath,${PREFIX}/lib"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compiling ${SRC} with pkg-config flags failed")
endif()
execute_process(COMMAND "${OUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${OUT} failed (${rc})")
endif()
