/* triton-core extensions to the Triton C API: readiness you can bound and watch, self-healing
 * instances, request deadlines. NOT part of upstream Triton. Every name starts with TRITONRS_,
 * which cannot collide with upstream's TRITONSERVER_/TRITONBACKEND_/TRITONREPOAGENT_/
 * TRITONCACHE_ names. Code that may also run on upstream's core should look these functions up
 * with dlsym() and do without them when they are missing. */
#include "triton/core/tritonserver.h"
