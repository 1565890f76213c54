/* Test backend 'repeat' (decoupled: model_transaction_policy { decoupled: true }).
 *
 * Input IN INT32 [1] = n, optional DELAY INT32 [1] = milliseconds between responses.
 * For each request: create a response factory, report statistics, release the request,
 * then from a separate thread send n responses with output OUT INT32 [1] = 0 .. n-1
 * (TRITONBACKEND_ResponseNewFromFactory + ResponseSend without flags), then
 * TRITONBACKEND_ResponseFactorySendFlags(FINAL) and ResponseFactoryDelete. n = 0 sends
 * only the FINAL flag. A bad input gets one error response with FINAL (sent before the
 * release). Instance finalization waits (up to 10 s) for the sender threads; if any is
 * still running then, <model_dir>/FINALIZED_WITH_ACTIVE_FACTORIES is written (the core
 * finalized the instance while a response factory was alive). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend_common.h"

typedef struct repeat_instance {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int active; /* sender threads still running */
} repeat_instance;

typedef struct repeat_job {
  repeat_instance* owner;
  TRITONBACKEND_ResponseFactory* factory;
  int32_t n;
  int32_t delay_ms;
} repeat_job;

static void
log_err(const char* what, TRITONSERVER_Error* err)
{
  if (err != NULL) {
    fprintf(stderr, "repeat: %s failed: %s\n", what, TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
  }
}

TRITONSERVER_Error*
tb_hook_instance_initialize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  (void)instance;
  repeat_instance* ri = calloc(1, sizeof(*ri));
  if (ri == NULL) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "out of memory");
  }
  pthread_mutex_init(&ri->mu, NULL);
  pthread_cond_init(&ri->cv, NULL);
  state->user = ri;
  return NULL;
}

void
tb_hook_instance_finalize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  (void)instance;
  repeat_instance* ri = state->user;
  if (ri == NULL) {
    return;
  }
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  pthread_mutex_lock(&ri->mu);
  if (ri->active > 0 && state->model != NULL) {
    /* The core finalizes the instance while response factories are still alive (upstream
     * keeps the model, and so its instances, alive until the last factory is deleted).
     * Leave a mark for the tests: <model_dir>/FINALIZED_WITH_ACTIVE_FACTORIES. */
    char path[2200];
    snprintf(path, sizeof(path), "%s/FINALIZED_WITH_ACTIVE_FACTORIES", state->model->repository);
    FILE* f = fopen(path, "a");
    if (f != NULL) {
      fprintf(f, "%s: %d sender(s) active\n", state->name, ri->active);
      fclose(f);
    }
    fprintf(stderr, "repeat: instance '%s' finalized with %d sender thread(s) active\n",
            state->name, ri->active);
  }
  while (ri->active > 0) {
    if (pthread_cond_timedwait(&ri->cv, &ri->mu, &deadline) == ETIMEDOUT) {
      break;
    }
  }
  int left = ri->active;
  pthread_mutex_unlock(&ri->mu);
  if (left > 0) {
    /* Leak the state: the threads still use it. */
    fprintf(stderr, "repeat: %d sender thread(s) still running at finalize\n", left);
  } else {
    pthread_cond_destroy(&ri->cv);
    pthread_mutex_destroy(&ri->mu);
    free(ri);
  }
  state->user = NULL;
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceReady(TRITONBACKEND_ModelInstance* instance)
{
  tb_instance_state* state = NULL;
  return tb_instance_state_get(instance, &state);
}

static void*
sender(void* arg)
{
  repeat_job* job = arg;
  for (int32_t i = 0; i < job->n; ++i) {
    if (job->delay_ms > 0) {
      tb_sleep_ms(job->delay_ms);
    }
    TRITONBACKEND_Response* response = NULL;
    TRITONSERVER_Error* err = TRITONBACKEND_ResponseNewFromFactory(&response, job->factory);
    if (err != NULL) {
      log_err("ResponseNewFromFactory", err);
      break;
    }
    TRITONBACKEND_Output* output = NULL;
    const int64_t shape[1] = {1};
    err = TRITONBACKEND_ResponseOutput(
        response, &output, "OUT", TRITONSERVER_TYPE_INT32, shape, 1);
    void* buf = NULL;
    if (err == NULL) {
      TRITONSERVER_MemoryType mt = TRITONSERVER_MEMORY_CPU;
      int64_t mt_id = 0;
      err = TRITONBACKEND_OutputBuffer(output, &buf, sizeof(int32_t), &mt, &mt_id);
      if (err == NULL && (buf == NULL || mt == TRITONSERVER_MEMORY_GPU)) {
        err = tb_error(TRITONSERVER_ERROR_INTERNAL, "unusable output buffer");
      }
    }
    if (err == NULL) {
      memcpy(buf, &i, sizeof(i));
    }
    log_err("ResponseSend", TRITONBACKEND_ResponseSend(response, 0, err));
    TRITONSERVER_ErrorDelete(err);
  }
  log_err(
      "ResponseFactorySendFlags",
      TRITONBACKEND_ResponseFactorySendFlags(
          job->factory, TRITONSERVER_RESPONSE_COMPLETE_FINAL));
  /* Count this sender out before deleting its factory: the factory keeps the model (and so
   * this instance) alive, and once it is gone the core may finalize the instance at any
   * moment, so nothing of the instance may be touched after the delete. */
  repeat_instance* ri = job->owner;
  TRITONBACKEND_ResponseFactory* factory = job->factory;
  free(job);
  pthread_mutex_lock(&ri->mu);
  ri->active--;
  pthread_cond_broadcast(&ri->cv);
  pthread_mutex_unlock(&ri->mu);
  log_err("ResponseFactoryDelete", TRITONBACKEND_ResponseFactoryDelete(factory));
  return NULL;
}

/* The single INT32 value of an input (absent → `dflt` when `optional`). */
static TRITONSERVER_Error*
read_int32(
    TRITONBACKEND_Request* request, const char* name, bool optional, int32_t dflt,
    int32_t* value)
{
  TRITONBACKEND_Input* input = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_RequestInput(request, name, &input);
  if (err != NULL) {
    if (optional) {
      TRITONSERVER_ErrorDelete(err);
      *value = dflt;
      return NULL;
    }
    return tb_wrap(err, "TRITONBACKEND_RequestInput");
  }
  TRITONSERVER_DataType dt;
  uint64_t byte_size = 0;
  uint32_t buffers = 0;
  err = TRITONBACKEND_InputProperties(input, NULL, &dt, NULL, NULL, &byte_size, &buffers);
  if (err != NULL) {
    return tb_wrap(err, "TRITONBACKEND_InputProperties");
  }
  if (dt != TRITONSERVER_TYPE_INT32 || byte_size != sizeof(int32_t) || buffers < 1) {
    return tb_error(
        TRITONSERVER_ERROR_INVALID_ARG, "input '%s' must be one INT32 (type %s, %llu bytes)",
        name, TRITONSERVER_DataTypeString(dt), (unsigned long long)byte_size);
  }
  /* The 4 bytes may be split over several buffers. */
  unsigned char bytes[4];
  uint64_t got = 0;
  for (uint32_t b = 0; b < buffers && got < 4; ++b) {
    const void* base = NULL;
    uint64_t size = 0;
    TRITONSERVER_MemoryType mt = TRITONSERVER_MEMORY_CPU;
    int64_t id = 0;
    err = TRITONBACKEND_InputBuffer(input, b, &base, &size, &mt, &id);
    if (err != NULL) {
      return tb_wrap(err, "TRITONBACKEND_InputBuffer");
    }
    if (size > 4 - got) {
      size = 4 - got;
    }
    memcpy(bytes + got, base, (size_t)size);
    got += size;
  }
  memcpy(value, bytes, sizeof(*value));
  return NULL;
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceExecute(
    TRITONBACKEND_ModelInstance* instance, TRITONBACKEND_Request** requests,
    const uint32_t request_count)
{
  tb_instance_state* state = NULL;
  TB_RETURN_IF_ERROR(tb_instance_state_get(instance, &state));
  repeat_instance* ri = state->user;
  uint64_t start = tb_now_ns();
  for (uint32_t r = 0; r < request_count; ++r) {
    TRITONBACKEND_Request* request = requests[r];
    int32_t n = 0, delay = 0;
    TRITONSERVER_Error* err = read_int32(request, "IN", false, 0, &n);
    if (err == NULL) {
      err = read_int32(request, "DELAY", true, 0, &delay);
    }
    if (err == NULL && n < 0) {
      err = tb_error(TRITONSERVER_ERROR_INVALID_ARG, "IN must be >= 0, got %d", (int)n);
    }
    TRITONBACKEND_ResponseFactory* factory = NULL;
    if (err == NULL) {
      err = tb_wrap(
          TRITONBACKEND_ResponseFactoryNew(&factory, request),
          "TRITONBACKEND_ResponseFactoryNew");
    }
    if (err != NULL) {
      TRITONBACKEND_Response* response = NULL;
      if (TRITONBACKEND_ResponseNew(&response, request) == NULL) {
        log_err(
            "ResponseSend",
            TRITONBACKEND_ResponseSend(response, TRITONSERVER_RESPONSE_COMPLETE_FINAL, err));
      }
      TRITONSERVER_ErrorDelete(err);
      uint64_t end = tb_now_ns();
      log_err(
          "ReportStatistics", TRITONBACKEND_ModelInstanceReportStatistics(
                                  instance, request, false, start, start, end, end));
      log_err(
          "RequestRelease",
          TRITONBACKEND_RequestRelease(request, TRITONSERVER_REQUEST_RELEASE_ALL));
      continue;
    }
    repeat_job* job = calloc(1, sizeof(*job));
    job->owner = ri;
    job->factory = factory;
    job->n = n;
    job->delay_ms = delay;
    uint64_t end = tb_now_ns();
    log_err(
        "ReportStatistics", TRITONBACKEND_ModelInstanceReportStatistics(
                                instance, request, true, start, start, end, end));
    /* Release first: the responses come after the request is gone. */
    log_err(
        "RequestRelease",
        TRITONBACKEND_RequestRelease(request, TRITONSERVER_REQUEST_RELEASE_ALL));
    pthread_mutex_lock(&ri->mu);
    ri->active++;
    pthread_mutex_unlock(&ri->mu);
    pthread_t tid;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&tid, &attr, sender, job) != 0) {
      /* Send inline instead. */
      sender(job);
    }
    pthread_attr_destroy(&attr);
  }
  uint64_t end = tb_now_ns();
  log_err(
      "ReportBatchStatistics", TRITONBACKEND_ModelInstanceReportBatchStatistics(
                                   instance, request_count, start, start, end, end));
  return NULL;
}
