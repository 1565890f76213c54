/* Test backend 'failinit': TRITONBACKEND_ModelInitialize fails. */
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
  return TRITONSERVER_ErrorNew(
      TRITONSERVER_ERROR_INTERNAL, state->name[0] != '\0'
                                       ? "failinit: ModelInitialize fails on purpose"
                                       : "failinit: ModelInitialize fails (no name)");
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
