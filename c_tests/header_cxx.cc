// Both public headers must compile as C++ (and together with each other).
#include "triton/core/tritonserver.h"
#include "triton/core/tritonbackend.h"

#include <type_traits>

static_assert(
    std::is_same<decltype(&TRITONSERVER_ErrorNew),
                 TRITONSERVER_Error* (*)(TRITONSERVER_Error_Code, const char*)>::value,
    "TRITONSERVER_ErrorNew signature");
static_assert(
    std::is_same<decltype(&TRITONBACKEND_ModelInstanceName),
                 TRITONSERVER_Error* (*)(TRITONBACKEND_ModelInstance*, const char**)>::value,
    "TRITONBACKEND_ModelInstanceName signature");
static_assert(TRITONSERVER_API_VERSION_MAJOR == 1, "server API major");
static_assert(TRITONBACKEND_API_VERSION_MAJOR == 1, "backend API major");

int tc_header_cxx();
int
tc_header_cxx()
{
  return 0;
}
