/* Test backend 'execfail': TRITONBACKEND_ModelInstanceExecute returns an error
 * (INTERNAL "execfail: Execute fails on purpose") without touching the requests, so the
 * core keeps them: it must answer each with that error and release it. */
#include "backend_common.h"

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceExecute(
    TRITONBACKEND_ModelInstance* instance, TRITONBACKEND_Request** requests,
    const uint32_t request_count)
{
  (void)instance;
  (void)requests;
  (void)request_count;
  return tb_error(TRITONSERVER_ERROR_INTERNAL, "Execute fails on purpose");
}
