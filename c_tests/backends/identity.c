/* Test backend 'identity': every input INPUTn comes back as output OUTPUTn with the same
 * data type, shape and bytes (any data type, BYTES included: the raw bytes are copied,
 * whatever the number of input buffers).
 *
 * - Only the requested outputs are produced when the request names some
 *   (TRITONBACKEND_RequestOutputCount / RequestOutputName).
 * - Request parameters: INT "delay_ms" sleeps before responding (the longest delay of a
 *   batch, once per execution); BOOL "fail" answers that request with an error response
 *   (INTERNAL "identity: failing on request (parameter 'fail')"); BOOL "hold" makes the
 *   backend keep the request forever: no response, no release (a misbehaving backend,
 *   for the unload tests).
 * - Reports TRITONBACKEND_ModelInstanceReportStatistics per request and
 *   ReportBatchStatistics per execution (batch size: sum of the first dimensions when
 *   max_batch_size > 0, else the number of requests).
 * - Exports TRITONBACKEND_ModelInstanceReady (always ready).
 * - Every request is released with TRITONBACKEND_RequestRelease(ALL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_common.h"

typedef struct identity_instance {
  int64_t max_batch_size;
} identity_instance;

/* "max_batch_size":<n> from the model configuration JSON (0 when absent). */
static int64_t
config_max_batch_size(TRITONBACKEND_Model* model)
{
  char* json = tb_model_config_json(model);
  if (json == NULL) {
    return 0;
  }
  int64_t mbs = 0;
  const char* p = strstr(json, "\"max_batch_size\"");
  if (p != NULL) {
    p = strchr(p, ':');
    if (p != NULL) {
      mbs = strtoll(p + 1, NULL, 10);
    }
  }
  free(json);
  return mbs;
}

TRITONSERVER_Error*
tb_hook_instance_initialize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  TRITONBACKEND_Model* model = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_ModelInstanceModel(instance, &model);
  if (err != NULL) {
    return tb_wrap(err, "TRITONBACKEND_ModelInstanceModel");
  }
  identity_instance* ii = calloc(1, sizeof(*ii));
  if (ii == NULL) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "out of memory");
  }
  ii->max_batch_size = config_max_batch_size(model);
  state->user = ii;
  return NULL;
}

void
tb_hook_instance_finalize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  (void)instance;
  free(state->user);
  state->user = NULL;
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceReady(TRITONBACKEND_ModelInstance* instance)
{
  tb_instance_state* state = NULL;
  return tb_instance_state_get(instance, &state);
}

/* Read the "delay_ms" / "fail" parameters of a request. */
static TRITONSERVER_Error*
read_params(TRITONBACKEND_Request* request, int64_t* delay_ms, bool* fail, bool* hold)
{
  uint32_t count = 0;
  TRITONSERVER_Error* err = TRITONBACKEND_RequestParameterCount(request, &count);
  if (err != NULL) {
    return tb_wrap(err, "TRITONBACKEND_RequestParameterCount");
  }
  for (uint32_t i = 0; i < count; ++i) {
    const char* key = NULL;
    TRITONSERVER_ParameterType type;
    const void* value = NULL;
    err = TRITONBACKEND_RequestParameter(request, i, &key, &type, &value);
    if (err != NULL) {
      return tb_wrap(err, "TRITONBACKEND_RequestParameter");
    }
    if (key == NULL || value == NULL) {
      return tb_error(TRITONSERVER_ERROR_INTERNAL, "parameter %u: NULL key or value", i);
    }
    if (strcmp(key, "delay_ms") == 0) {
      if (type != TRITONSERVER_PARAMETER_INT) {
        return tb_error(
            TRITONSERVER_ERROR_INVALID_ARG, "parameter 'delay_ms' has type %s, expected INT",
            TRITONSERVER_ParameterTypeString(type));
      }
      *delay_ms = *(const int64_t*)value;
    } else if (strcmp(key, "fail") == 0) {
      if (type != TRITONSERVER_PARAMETER_BOOL) {
        return tb_error(
            TRITONSERVER_ERROR_INVALID_ARG, "parameter 'fail' has type %s, expected BOOL",
            TRITONSERVER_ParameterTypeString(type));
      }
      *fail = *(const bool*)value;
    } else if (strcmp(key, "hold") == 0 && type == TRITONSERVER_PARAMETER_BOOL) {
      *hold = *(const bool*)value;
    }
  }
  return NULL;
}

/* True if the request asks for `output` (or asks for no output in particular). */
static TRITONSERVER_Error*
output_requested(TRITONBACKEND_Request* request, const char* output, bool* requested)
{
  uint32_t count = 0;
  TRITONSERVER_Error* err = TRITONBACKEND_RequestOutputCount(request, &count);
  if (err != NULL) {
    return tb_wrap(err, "TRITONBACKEND_RequestOutputCount");
  }
  *requested = (count == 0);
  for (uint32_t i = 0; i < count && !*requested; ++i) {
    const char* name = NULL;
    err = TRITONBACKEND_RequestOutputName(request, i, &name);
    if (err != NULL) {
      return tb_wrap(err, "TRITONBACKEND_RequestOutputName");
    }
    *requested = (name != NULL && strcmp(name, output) == 0);
  }
  return NULL;
}

/* Copy one input into the matching output of `response`. */
static TRITONSERVER_Error*
copy_input(TRITONBACKEND_Request* request, TRITONBACKEND_Response* response, uint32_t index)
{
  TRITONBACKEND_Input* input = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_RequestInputByIndex(request, index, &input);
  if (err != NULL) {
    return tb_wrap(err, "TRITONBACKEND_RequestInputByIndex");
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
    return tb_wrap(err, "TRITONBACKEND_InputProperties");
  }
  if (name == NULL || strncmp(name, "INPUT", 5) != 0) {
    return tb_error(
        TRITONSERVER_ERROR_INVALID_ARG, "input name '%s' does not start with INPUT",
        name ? name : "(null)");
  }
  char out_name[256];
  snprintf(out_name, sizeof(out_name), "OUTPUT%s", name + 5);
  bool requested = false;
  err = output_requested(request, out_name, &requested);
  if (err != NULL || !requested) {
    return err;
  }
  TRITONBACKEND_Output* output = NULL;
  err = TRITONBACKEND_ResponseOutput(response, &output, out_name, datatype, shape, dims);
  if (err != NULL) {
    return tb_wrap(err, "TRITONBACKEND_ResponseOutput");
  }
  void* dst = NULL;
  TRITONSERVER_MemoryType mt = TRITONSERVER_MEMORY_CPU;
  int64_t mt_id = 0;
  err = TRITONBACKEND_OutputBuffer(output, &dst, byte_size, &mt, &mt_id);
  if (err != NULL) {
    return tb_wrap(err, "TRITONBACKEND_OutputBuffer");
  }
  if (mt == TRITONSERVER_MEMORY_GPU) {
    return tb_error(TRITONSERVER_ERROR_UNSUPPORTED, "output buffer in GPU memory");
  }
  if (dst == NULL && byte_size > 0) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "output buffer is NULL");
  }
  uint64_t offset = 0;
  for (uint32_t b = 0; b < buffer_count; ++b) {
    const void* src = NULL;
    uint64_t size = 0;
    TRITONSERVER_MemoryType smt = TRITONSERVER_MEMORY_CPU;
    int64_t smt_id = 0;
    err = TRITONBACKEND_InputBuffer(input, b, &src, &size, &smt, &smt_id);
    if (err != NULL) {
      return tb_wrap(err, "TRITONBACKEND_InputBuffer");
    }
    if (smt == TRITONSERVER_MEMORY_GPU) {
      return tb_error(TRITONSERVER_ERROR_UNSUPPORTED, "input buffer in GPU memory");
    }
    if (offset + size > byte_size) {
      return tb_error(
          TRITONSERVER_ERROR_INTERNAL,
          "input '%s': buffers hold more than its byte size %llu", name,
          (unsigned long long)byte_size);
    }
    if (size > 0) {
      memcpy((char*)dst + offset, src, (size_t)size);
    }
    offset += size;
  }
  if (offset != byte_size) {
    return tb_error(
        TRITONSERVER_ERROR_INTERNAL, "input '%s': buffers hold %llu bytes, byte size %llu",
        name, (unsigned long long)offset, (unsigned long long)byte_size);
  }
  return NULL;
}

/* Build and send the response of one request. Returns true on success. */
static bool
respond(TRITONBACKEND_Request* request, bool fail)
{
  TRITONBACKEND_Response* response = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_ResponseNew(&response, request);
  if (err != NULL) {
    /* No response can be made: nothing to send it with. */
    fprintf(stderr, "identity: ResponseNew failed: %s\n", TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
    return false;
  }
  if (fail) {
    err = tb_error(TRITONSERVER_ERROR_INTERNAL, "failing on request (parameter 'fail')");
  } else {
    uint32_t count = 0;
    err = TRITONBACKEND_RequestInputCount(request, &count);
    err = tb_wrap(err, "TRITONBACKEND_RequestInputCount");
    for (uint32_t i = 0; err == NULL && i < count; ++i) {
      err = copy_input(request, response, i);
    }
  }
  bool ok = (err == NULL);
  /* ResponseSend does not take ownership of the error. */
  TRITONSERVER_Error* serr =
      TRITONBACKEND_ResponseSend(response, TRITONSERVER_RESPONSE_COMPLETE_FINAL, err);
  if (serr != NULL) {
    fprintf(stderr, "identity: ResponseSend failed: %s\n", TRITONSERVER_ErrorMessage(serr));
    TRITONSERVER_ErrorDelete(serr);
    ok = false;
  }
  TRITONSERVER_ErrorDelete(err);
  return ok;
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceExecute(
    TRITONBACKEND_ModelInstance* instance, TRITONBACKEND_Request** requests,
    const uint32_t request_count)
{
  /* On an error, the core answers and releases the requests. */
  tb_instance_state* state = NULL;
  TB_RETURN_IF_ERROR(tb_instance_state_get(instance, &state));
  identity_instance* ii = state->user;
  uint64_t exec_start = tb_now_ns();

  /* Parameters first: the longest delay of the batch applies once. */
  int64_t delay_ms = 0;
  bool* fail = calloc(request_count ? request_count : 1, sizeof(bool));
  bool* hold = calloc(request_count ? request_count : 1, sizeof(bool));
  TRITONSERVER_Error** param_err =
      calloc(request_count ? request_count : 1, sizeof(TRITONSERVER_Error*));
  if (fail == NULL || hold == NULL || param_err == NULL) {
    free(fail);
    free(hold);
    free(param_err);
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "out of memory");
  }
  uint64_t batch = 0;
  for (uint32_t r = 0; r < request_count; ++r) {
    int64_t d = 0;
    param_err[r] = read_params(requests[r], &d, &fail[r], &hold[r]);
    if (d > delay_ms) {
      delay_ms = d;
    }
    uint64_t bs = 1;
    if (ii->max_batch_size > 0) {
      TRITONBACKEND_Input* input = NULL;
      const int64_t* shape = NULL;
      uint32_t dims = 0;
      if (TRITONBACKEND_RequestInputByIndex(requests[r], 0, &input) == NULL &&
          TRITONBACKEND_InputProperties(input, NULL, NULL, &shape, &dims, NULL, NULL) ==
              NULL &&
          dims > 0 && shape != NULL) {
        bs = (uint64_t)shape[0];
      }
    }
    batch += bs;
  }
  if (delay_ms > 0) {
    tb_sleep_ms(delay_ms);
  }
  uint64_t compute_start = tb_now_ns();

  for (uint32_t r = 0; r < request_count; ++r) {
    TRITONBACKEND_Request* request = requests[r];
    bool ok;
    if (hold[r] && param_err[r] == NULL) {
      /* Never respond, never release: the request is leaked on purpose. */
      fprintf(stderr, "identity: holding a request forever (parameter 'hold')\n");
      continue;
    }
    if (param_err[r] != NULL) {
      TRITONBACKEND_Response* response = NULL;
      ok = false;
      if (TRITONBACKEND_ResponseNew(&response, request) == NULL) {
        TRITONSERVER_ErrorDelete(TRITONBACKEND_ResponseSend(
            response, TRITONSERVER_RESPONSE_COMPLETE_FINAL, param_err[r]));
      }
      TRITONSERVER_ErrorDelete(param_err[r]);
    } else {
      ok = respond(request, fail[r]);
    }
    uint64_t end = tb_now_ns();
    TRITONSERVER_Error* serr = TRITONBACKEND_ModelInstanceReportStatistics(
        instance, request, ok, exec_start, compute_start, end, end);
    if (serr != NULL) {
      fprintf(
          stderr, "identity: ReportStatistics failed: %s\n", TRITONSERVER_ErrorMessage(serr));
      TRITONSERVER_ErrorDelete(serr);
    }
    TRITONSERVER_Error* rerr =
        TRITONBACKEND_RequestRelease(request, TRITONSERVER_REQUEST_RELEASE_ALL);
    if (rerr != NULL) {
      fprintf(stderr, "identity: RequestRelease failed: %s\n", TRITONSERVER_ErrorMessage(rerr));
      TRITONSERVER_ErrorDelete(rerr);
    }
  }
  free(fail);
  free(hold);
  free(param_err);

  uint64_t exec_end = tb_now_ns();
  TRITONSERVER_Error* berr = TRITONBACKEND_ModelInstanceReportBatchStatistics(
      instance, batch, exec_start, compute_start, exec_end, exec_end);
  if (berr != NULL) {
    fprintf(stderr, "identity: ReportBatchStatistics failed: %s\n",
            TRITONSERVER_ErrorMessage(berr));
    TRITONSERVER_ErrorDelete(berr);
  }
  return NULL;
}
