/* Test backend 'failinit': TRITONBACKEND_ModelInitialize fails. */
#include "backend_common.h"

TRITONSERVER_Error*
tb_hook_model_initialize(TRITONBACKEND_Model* model, tb_model_state* state)
{
  (void)model;
  return TRITONSERVER_ErrorNew(
      TRITONSERVER_ERROR_INTERNAL, state->name[0] != '\0'
                                       ? "failinit: ModelInitialize fails on purpose"
                                       : "failinit: ModelInitialize fails (no name)");
}
