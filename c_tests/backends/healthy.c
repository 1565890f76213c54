/* Test backend 'healthy': full lifecycle; ModelInstanceReady always reports ready. */
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
TRITONBACKEND_ModelInstanceReady(TRITONBACKEND_ModelInstance* instance)
{
  /* Still check that the handle is the one whose state we set. */
  tb_instance_state* state = NULL;
  return tb_instance_state_get(instance, &state);
}
