/* Example backend 'identity': every input INPUTn comes back as output OUTPUTn with the same
 * data type, shape and bytes (any data type, BYTES included).
 *
 * - When the request names outputs, only those are produced.
 * - Every request parameter comes back as a response parameter of the same name and type,
 *   and the response carries the INT parameter "batch_size": how many requests the execution
 *   that produced it batched together.
 * - Reports per-request and per-execution statistics (/v2/models/identity/stats).
 * - The INT request parameter "delay_ms" sleeps before responding (to watch graceful shutdown
 *   drain in-flight requests).
 * - Every instance is always ready (TRITONBACKEND_ModelInstanceReady).
 *
 * Self-contained (no state, no helpers) so it reads as a minimal Triton backend. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "triton/core/tritonbackend.h"
#include "triton/core/tritonserver.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelInstanceReady(
    TRITONBACKEND_ModelInstance* instance);

EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceReady(TRITONBACKEND_ModelInstance* instance)
{
  (void)instance;
  return NULL;
}

static uint64_t
now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
ignore(TRITONSERVER_Error* err)
{
  if (err != NULL) {
    TRITONSERVER_ErrorDelete(err);
  }
}

static void
sleep_ms(int64_t ms)
{
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* "OUTPUT<suffix>" for "INPUT<suffix>", else the input's own name. */
static void
output_name_for(const char* input, char* out, size_t n)
{
  if (strncmp(input, "INPUT", 5) == 0) {
    snprintf(out, n, "OUTPUT%s", input + 5);
  } else {
    snprintf(out, n, "%s", input);
  }
}

static bool
output_requested(TRITONBACKEND_Request* request, const char* name)
{
  uint32_t count = 0;
  if (TRITONBACKEND_RequestOutputCount(request, &count) != NULL || count == 0) {
    return true;
  }
  for (uint32_t i = 0; i < count; ++i) {
    const char* n = NULL;
    if (TRITONBACKEND_RequestOutputName(request, i, &n) == NULL && n != NULL &&
        strcmp(n, name) == 0) {
      return true;
    }
  }
  return false;
}

static TRITONSERVER_Error*
copy_input(TRITONBACKEND_Request* request, TRITONBACKEND_Response* response, uint32_t index)
{
  TRITONBACKEND_Input* input = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_RequestInputByIndex(request, index, &input);
  if (err != NULL) {
    return err;
  }
  const char* name = NULL;
  TRITONSERVER_DataType dtype;
  const int64_t* shape = NULL;
  uint32_t dims = 0;
  uint64_t byte_size = 0;
  uint32_t buffers = 0;
  err = TRITONBACKEND_InputProperties(
      input, &name, &dtype, &shape, &dims, &byte_size, &buffers);
  if (err != NULL) {
    return err;
  }
  char out_name[256];
  output_name_for(name, out_name, sizeof(out_name));
  if (!output_requested(request, out_name)) {
    return NULL;
  }
  TRITONBACKEND_Output* output = NULL;
  err = TRITONBACKEND_ResponseOutput(response, &output, out_name, dtype, shape, dims);
  if (err != NULL) {
    return err;
  }
  void* dst = NULL;
  TRITONSERVER_MemoryType mt = TRITONSERVER_MEMORY_CPU;
  int64_t mt_id = 0;
  err = TRITONBACKEND_OutputBuffer(output, &dst, byte_size, &mt, &mt_id);
  if (err != NULL) {
    return err;
  }
  size_t offset = 0;
  for (uint32_t b = 0; b < buffers; ++b) {
    const void* src = NULL;
    uint64_t size = 0;
    TRITONSERVER_MemoryType smt = TRITONSERVER_MEMORY_CPU;
    int64_t smt_id = 0;
    err = TRITONBACKEND_InputBuffer(input, b, &src, &size, &smt, &smt_id);
    if (err != NULL) {
      return err;
    }
    if (offset + size > byte_size) {
      return TRITONSERVER_ErrorNew(
          TRITONSERVER_ERROR_INTERNAL, "identity: input buffers exceed the byte size");
    }
    memcpy((char*)dst + offset, src, size);
    offset += size;
  }
  return NULL;
}

/* Echo the request parameters; returns the "delay_ms" value (0 when absent). */
static int64_t
echo_parameters(TRITONBACKEND_Request* request, TRITONBACKEND_Response* response)
{
  int64_t delay = 0;
  uint32_t count = 0;
  if (TRITONBACKEND_RequestParameterCount(request, &count) != NULL) {
    return 0;
  }
  for (uint32_t i = 0; i < count; ++i) {
    const char* key = NULL;
    TRITONSERVER_ParameterType type;
    const void* value = NULL;
    if (TRITONBACKEND_RequestParameter(request, i, &key, &type, &value) != NULL ||
        key == NULL || value == NULL) {
      continue;
    }
    TRITONSERVER_Error* err = NULL;
    switch (type) {
      case TRITONSERVER_PARAMETER_STRING:
        err = TRITONBACKEND_ResponseSetStringParameter(response, key, (const char*)value);
        break;
      case TRITONSERVER_PARAMETER_INT:
        if (strcmp(key, "delay_ms") == 0) {
          delay = *(const int64_t*)value;
        }
        err = TRITONBACKEND_ResponseSetIntParameter(response, key, *(const int64_t*)value);
        break;
      case TRITONSERVER_PARAMETER_BOOL:
        err = TRITONBACKEND_ResponseSetBoolParameter(response, key, *(const bool*)value);
        break;
      case TRITONSERVER_PARAMETER_DOUBLE:
        err = TRITONBACKEND_ResponseSetDoubleParameter(response, key, *(const double*)value);
        break;
      default:
        break;
    }
    if (err != NULL) {
      TRITONSERVER_ErrorDelete(err);
    }
  }
  return delay;
}

EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceExecute(
    TRITONBACKEND_ModelInstance* instance, TRITONBACKEND_Request** requests,
    const uint32_t request_count)
{
  uint64_t exec_start = now_ns();
  for (uint32_t r = 0; r < request_count; ++r) {
    TRITONBACKEND_Request* request = requests[r];
    uint64_t compute_start = now_ns();
    bool ok = false;
    TRITONBACKEND_Response* response = NULL;
    TRITONSERVER_Error* err = TRITONBACKEND_ResponseNew(&response, request);
    if (err == NULL) {
      int64_t delay = echo_parameters(request, response);
      if (delay > 0) {
        sleep_ms(delay);
      }
      TRITONSERVER_Error* e = TRITONBACKEND_ResponseSetIntParameter(
          response, "batch_size", (int64_t)request_count);
      if (e != NULL) {
        TRITONSERVER_ErrorDelete(e);
      }
      uint32_t inputs = 0;
      err = TRITONBACKEND_RequestInputCount(request, &inputs);
      for (uint32_t i = 0; err == NULL && i < inputs; ++i) {
        err = copy_input(request, response, i);
      }
      ok = (err == NULL);
      TRITONSERVER_Error* send_err = TRITONBACKEND_ResponseSend(
          response, TRITONSERVER_RESPONSE_COMPLETE_FINAL, err);
      if (err != NULL) {
        TRITONSERVER_ErrorDelete(err);
      }
      if (send_err != NULL) {
        TRITONSERVER_ErrorDelete(send_err);
      }
    } else {
      TRITONSERVER_ErrorDelete(err);
    }
    uint64_t end = now_ns();
    /* Statistics before the release: the request must still be alive. */
    ignore(TRITONBACKEND_ModelInstanceReportStatistics(
        instance, request, ok, exec_start, compute_start, end, end));
    ignore(TRITONBACKEND_RequestRelease(request, TRITONSERVER_REQUEST_RELEASE_ALL));
  }
  uint64_t exec_end = now_ns();
  ignore(TRITONBACKEND_ModelInstanceReportBatchStatistics(
      instance, request_count, exec_start, exec_start, exec_end, exec_end));
  return NULL;
}
