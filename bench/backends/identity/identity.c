/* Benchmark backend 'identity' (self-contained; the C test backends live in c_tests/).
 *
 * Every input INPUTn comes back as output OUTPUTn with the same data type, shape and
 * bytes, written into the buffer that TRITONBACKEND_OutputBuffer gets from the frontend's
 * response allocator (one memcpy per input buffer: the only copy the backend asks for).
 * Statistics are reported per request (ModelInstanceReportStatistics) and per execution
 * (ModelInstanceReportBatchStatistics), as a real backend does; every request is released
 * with RequestRelease(ALL). TRITONBACKEND_ModelInstanceReady is exported (always ready,
 * a constant-time check of the instance state), so a core that calls readiness hooks pays
 * for one call per instance.
 *
 * The optional lifecycle entry points are left out on purpose: the cores' own paths are
 * what is measured. Linked with DT_NEEDED libtritonserver.so and no RPATH, so it binds to
 * whichever core the process loaded first (the driver checks /proc/self/maps). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "triton/core/tritonbackend.h"
#include "triton/core/tritonserver.h"

#define EXPORT __attribute__((visibility("default")))

/* Optional entry point (upstream 2.64+); redeclared so that this also builds against
 * headers that predate it. */
EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelInstanceReady(
    TRITONBACKEND_ModelInstance* instance);

static uint64_t
now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static TRITONSERVER_Error*
err_new(const char* what, TRITONSERVER_Error* cause)
{
  char buf[512];
  snprintf(buf, sizeof(buf), "identity: %s%s%s", what, cause ? ": " : "",
           cause ? TRITONSERVER_ErrorMessage(cause) : "");
  TRITONSERVER_Error_Code code = cause ? TRITONSERVER_ErrorCode(cause)
                                       : TRITONSERVER_ERROR_INTERNAL;
  if (cause != NULL) {
    TRITONSERVER_ErrorDelete(cause);
  }
  return TRITONSERVER_ErrorNew(code, buf);
}

EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceReady(TRITONBACKEND_ModelInstance* instance)
{
  return instance != NULL ? NULL : err_new("NULL instance", NULL);
}

/* Copy input `index` of `request` into the matching output of `response`. */
static TRITONSERVER_Error*
copy_input(TRITONBACKEND_Request* request, TRITONBACKEND_Response* response, uint32_t index)
{
  TRITONBACKEND_Input* input = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_RequestInputByIndex(request, index, &input);
  if (err != NULL) {
    return err_new("RequestInputByIndex", err);
  }
  const char* name = NULL;
  TRITONSERVER_DataType datatype;
  const int64_t* shape = NULL;
  uint32_t dims = 0;
  uint64_t byte_size = 0;
  uint32_t buffer_count = 0;
  err = TRITONBACKEND_InputProperties(
      input, &name, &datatype, &shape, &dims, &byte_size, &buffer_count);
  if (err != NULL) {
    return err_new("InputProperties", err);
  }
  if (name == NULL || strncmp(name, "INPUT", 5) != 0) {
    return err_new("input name does not start with INPUT", NULL);
  }
  char out_name[128];
  snprintf(out_name, sizeof(out_name), "OUTPUT%s", name + 5);
  TRITONBACKEND_Output* output = NULL;
  err = TRITONBACKEND_ResponseOutput(response, &output, out_name, datatype, shape, dims);
  if (err != NULL) {
    return err_new("ResponseOutput", err);
  }
  void* dst = NULL;
  TRITONSERVER_MemoryType mt = TRITONSERVER_MEMORY_CPU;
  int64_t mt_id = 0;
  err = TRITONBACKEND_OutputBuffer(output, &dst, byte_size, &mt, &mt_id);
  if (err != NULL) {
    return err_new("OutputBuffer", err);
  }
  if (mt == TRITONSERVER_MEMORY_GPU || (dst == NULL && byte_size > 0)) {
    return err_new("output buffer unusable (GPU or NULL)", NULL);
  }
  uint64_t offset = 0;
  for (uint32_t b = 0; b < buffer_count; ++b) {
    const void* src = NULL;
    uint64_t size = 0;
    TRITONSERVER_MemoryType smt = TRITONSERVER_MEMORY_CPU;
    int64_t smt_id = 0;
    err = TRITONBACKEND_InputBuffer(input, b, &src, &size, &smt, &smt_id);
    if (err != NULL) {
      return err_new("InputBuffer", err);
    }
    if (offset + size > byte_size) {
      return err_new("input buffers exceed the input's byte size", NULL);
    }
    memcpy((char*)dst + offset, src, (size_t)size);
    offset += size;
  }
  return offset == byte_size ? NULL : err_new("input buffers short of byte size", NULL);
}

EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceExecute(
    TRITONBACKEND_ModelInstance* instance, TRITONBACKEND_Request** requests,
    const uint32_t request_count)
{
  uint64_t exec_start = now_ns();
  for (uint32_t r = 0; r < request_count; ++r) {
    TRITONBACKEND_Request* request = requests[r];
    TRITONBACKEND_Response* response = NULL;
    TRITONSERVER_Error* err = TRITONBACKEND_ResponseNew(&response, request);
    bool ok = false;
    if (err != NULL) {
      fprintf(stderr, "identity: ResponseNew: %s\n", TRITONSERVER_ErrorMessage(err));
      TRITONSERVER_ErrorDelete(err);
    } else {
      uint32_t count = 0;
      err = TRITONBACKEND_RequestInputCount(request, &count);
      if (err != NULL) {
        err = err_new("RequestInputCount", err);
      }
      for (uint32_t i = 0; err == NULL && i < count; ++i) {
        err = copy_input(request, response, i);
      }
      ok = (err == NULL);
      TRITONSERVER_Error* serr =
          TRITONBACKEND_ResponseSend(response, TRITONSERVER_RESPONSE_COMPLETE_FINAL, err);
      if (serr != NULL) {
        fprintf(stderr, "identity: ResponseSend: %s\n", TRITONSERVER_ErrorMessage(serr));
        TRITONSERVER_ErrorDelete(serr);
        ok = false;
      }
      TRITONSERVER_ErrorDelete(err);
    }
    uint64_t end = now_ns();
    TRITONSERVER_Error* serr = TRITONBACKEND_ModelInstanceReportStatistics(
        instance, request, ok, exec_start, exec_start, end, end);
    if (serr != NULL) {
      TRITONSERVER_ErrorDelete(serr);
    }
    TRITONSERVER_Error* rerr =
        TRITONBACKEND_RequestRelease(request, TRITONSERVER_REQUEST_RELEASE_ALL);
    if (rerr != NULL) {
      fprintf(stderr, "identity: RequestRelease: %s\n", TRITONSERVER_ErrorMessage(rerr));
      TRITONSERVER_ErrorDelete(rerr);
    }
  }
  uint64_t exec_end = now_ns();
  TRITONSERVER_Error* berr = TRITONBACKEND_ModelInstanceReportBatchStatistics(
      instance, request_count, exec_start, exec_start, exec_end, exec_end);
  if (berr != NULL) {
    TRITONSERVER_ErrorDelete(berr);
  }
  return NULL;
}
