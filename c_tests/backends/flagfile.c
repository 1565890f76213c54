/* Test backend 'flagfile': an instance is not ready while <model_dir>/NOT_READY exists. */
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "backend_common.h"

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceReady(TRITONBACKEND_ModelInstance* instance)
{
  tb_instance_state* state = NULL;
  TB_RETURN_IF_ERROR(tb_instance_state_get(instance, &state));
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/NOT_READY", state->model->repository);
  if (access(path, F_OK) == 0) {
    char msg[PATH_MAX + 64];
    snprintf(msg, sizeof(msg), "flag file present: %s", path);
    return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_UNAVAILABLE, msg);
  }
  return NULL;
}
