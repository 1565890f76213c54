/* Test backend 'nullcheck': calls every backend-side getter in scope with a NULL
 * out-parameter (valid handle) and fails the lifecycle call, listing the offenders,
 * unless each one returns TRITONSERVER_ERROR_INVALID_ARG. Used by api_null_args. */
#include <stdio.h>
#include <string.h>

#include "backend_common.h"

typedef struct nc_report {
  char failed[2048];
  int count;
} nc_report;

static void
nc_expect(nc_report* r, TRITONSERVER_Error* err, const char* what)
{
  if (err != NULL && TRITONSERVER_ErrorCode(err) == TRITONSERVER_ERROR_INVALID_ARG) {
    TRITONSERVER_ErrorDelete(err);
    return;
  }
  r->count++;
  size_t len = strlen(r->failed);
  snprintf(
      r->failed + len, sizeof(r->failed) - len, "%s%s -> %s", len ? "; " : "", what,
      err == NULL ? "success" : TRITONSERVER_ErrorCodeString(err));
  if (err != NULL) {
    TRITONSERVER_ErrorDelete(err);
  }
}

#define NC(r, call) nc_expect((r), (call), #call)

static TRITONSERVER_Error*
nc_result(const nc_report* r, const char* level)
{
  if (r->count == 0) {
    return NULL;
  }
  return tb_error(
      TRITONSERVER_ERROR_INTERNAL, "%s: %d NULL-argument call(s) did not return "
      "INVALID_ARG: %s", level, r->count, r->failed);
}

TRITONSERVER_Error*
tb_hook_backend_initialize(TRITONBACKEND_Backend* backend)
{
  nc_report r = {{0}, 0};
  TRITONBACKEND_ArtifactType atype;
  const char* location;
  NC(&r, TRITONBACKEND_ApiVersion(NULL, NULL));
  uint32_t v;
  NC(&r, TRITONBACKEND_ApiVersion(&v, NULL));
  NC(&r, TRITONBACKEND_ApiVersion(NULL, &v));
  NC(&r, TRITONBACKEND_BackendName(backend, NULL));
  NC(&r, TRITONBACKEND_BackendConfig(backend, NULL));
  NC(&r, TRITONBACKEND_BackendExecutionPolicy(backend, NULL));
  NC(&r, TRITONBACKEND_BackendArtifacts(backend, NULL, &location));
  NC(&r, TRITONBACKEND_BackendArtifacts(backend, &atype, NULL));
  NC(&r, TRITONBACKEND_BackendMemoryManager(backend, NULL));
  NC(&r, TRITONBACKEND_BackendState(backend, NULL));
  return nc_result(&r, "backend");
}

TRITONSERVER_Error*
tb_hook_model_initialize(TRITONBACKEND_Model* model, tb_model_state* state)
{
  (void)state;
  nc_report r = {{0}, 0};
  TRITONBACKEND_ArtifactType atype;
  const char* location;
  NC(&r, TRITONBACKEND_ModelName(model, NULL));
  NC(&r, TRITONBACKEND_ModelVersion(model, NULL));
  NC(&r, TRITONBACKEND_ModelRepository(model, NULL, &location));
  NC(&r, TRITONBACKEND_ModelRepository(model, &atype, NULL));
  NC(&r, TRITONBACKEND_ModelConfig(model, 1, NULL));
  NC(&r, TRITONBACKEND_ModelAutoCompleteConfig(model, NULL));
  NC(&r, TRITONBACKEND_ModelSetConfig(model, 1, NULL));
  NC(&r, TRITONBACKEND_ModelServer(model, NULL));
  NC(&r, TRITONBACKEND_ModelBackend(model, NULL));
  NC(&r, TRITONBACKEND_ModelState(model, NULL));
  return nc_result(&r, "model");
}

TRITONSERVER_Error*
tb_hook_instance_initialize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  (void)state;
  nc_report r = {{0}, 0};
  const char* kind;
  int64_t id;
  NC(&r, TRITONBACKEND_ModelInstanceName(instance, NULL));
  NC(&r, TRITONBACKEND_ModelInstanceKind(instance, NULL));
  NC(&r, TRITONBACKEND_ModelInstanceDeviceId(instance, NULL));
  NC(&r, TRITONBACKEND_ModelInstanceHostPolicy(instance, NULL));
  NC(&r, TRITONBACKEND_ModelInstanceIsPassive(instance, NULL));
  NC(&r, TRITONBACKEND_ModelInstanceProfileCount(instance, NULL));
  NC(&r, TRITONBACKEND_ModelInstanceProfileName(instance, 0, NULL));
  NC(&r, TRITONBACKEND_ModelInstanceSecondaryDeviceCount(instance, NULL));
  NC(&r, TRITONBACKEND_ModelInstanceSecondaryDeviceProperties(instance, 0, NULL, &id));
  NC(&r, TRITONBACKEND_ModelInstanceSecondaryDeviceProperties(instance, 0, &kind, NULL));
  NC(&r, TRITONBACKEND_ModelInstanceModel(instance, NULL));
  NC(&r, TRITONBACKEND_ModelInstanceState(instance, NULL));
  return nc_result(&r, "instance");
}
