/* Test backend 'slowready': a readiness hook that blocks, like a python backend whose stub
 * process hangs.
 *
 * TRITONBACKEND_ModelInstanceReady blocks while <model directory>/BLOCK_READY exists (looking
 * every 10 ms, for at most 30 s), and meanwhile keeps <model directory>/IN_READY_HOOK, so a
 * test knows when the hook is blocking. Then the instance is ready. Execute answers every
 * request with an error (the tests never infer on it). */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "triton/core/tritonbackend.h"
#include "triton/core/tritonserver.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelInstanceReady(
    TRITONBACKEND_ModelInstance* instance);

static void
sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceReady(TRITONBACKEND_ModelInstance* instance)
{
  TRITONBACKEND_Model* model = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_ModelInstanceModel(instance, &model);
  if (err != NULL) {
    return err;
  }
  TRITONBACKEND_ArtifactType type;
  const char* dir = NULL;
  err = TRITONBACKEND_ModelRepository(model, &type, &dir);
  if (err != NULL) {
    return err;
  }
  char block[4096];
  char marker[4096];
  snprintf(block, sizeof(block), "%s/BLOCK_READY", dir);
  snprintf(marker, sizeof(marker), "%s/IN_READY_HOOK", dir);
  if (access(block, F_OK) != 0) {
    return NULL;
  }
  FILE* f = fopen(marker, "w");
  if (f != NULL) {
    fclose(f);
  }
  for (int i = 0; i < 3000 && access(block, F_OK) == 0; ++i) {
    sleep_ms(10);
  }
  unlink(marker);
  return NULL;
}

EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceExecute(
    TRITONBACKEND_ModelInstance* instance, TRITONBACKEND_Request** requests,
    const uint32_t request_count)
{
  (void)instance;
  for (uint32_t r = 0; r < request_count; ++r) {
    TRITONBACKEND_Response* response = NULL;
    if (TRITONBACKEND_ResponseNew(&response, requests[r]) == NULL) {
      TRITONSERVER_Error* e = TRITONSERVER_ErrorNew(
          TRITONSERVER_ERROR_UNSUPPORTED, "slowready: no inference here");
      TRITONSERVER_Error* sent = TRITONBACKEND_ResponseSend(
          response, TRITONSERVER_RESPONSE_COMPLETE_FINAL, e);
      TRITONSERVER_ErrorDelete(e);
      if (sent != NULL) {
        TRITONSERVER_ErrorDelete(sent);
      }
    }
    TRITONSERVER_Error* rel =
        TRITONBACKEND_RequestRelease(requests[r], TRITONSERVER_REQUEST_RELEASE_ALL);
    if (rel != NULL) {
      TRITONSERVER_ErrorDelete(rel);
    }
  }
  return NULL;
}
