/* Test backend 'execfail': TRITONBACKEND_ModelInstanceExecute returns an error
 * (INTERNAL "execfail: Execute fails on purpose") without touching the requests, so the
 * core keeps them: it must answer each with that error and release it. */
#include "backend_common.h"

TRITONSERVER_Error*
tb_hook_backend_initialize(TRITONBACKEND_Backend* backend)
{
  (void)backend;
  return NULL;
}

TRITONSERVER_Error*
tb_hook_model_initialize(TRITONBACKEND_Model* model, tb_model_state* state)
{
  (void)model;
  (void)state;
  return NULL;
}

TRITONSERVER_Error*
tb_hook_instance_initialize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  (void)instance;
  (void)state;
  return NULL;
}

void
tb_hook_instance_finalize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  (void)instance;
  (void)state;
}

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
