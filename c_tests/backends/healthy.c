/* Test backend 'healthy': full lifecycle; ModelInstanceReady always reports ready. */
#include "backend_common.h"

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceReady(TRITONBACKEND_ModelInstance* instance)
{
  /* Still check that the handle is the one whose state we set. */
  tb_instance_state* state = NULL;
  return tb_instance_state_get(instance, &state);
}
