/* int_infer: end-to-end in-process inference through the identity / execfail backends.
 *
 *  1. identity over every data type (BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64,
 *     BYTES, BF16) in one request (14 inputs, some split over two buffers): the bytes,
 *     types and shapes come back; response model name / version / id; output count.
 *  2. Request reuse: the same request object inferred again after its release, then
 *     with a requested-output subset (2 of 14 outputs).
 *  3. Callbacks: the release callback exactly once per InferAsync with
 *     TRITONSERVER_REQUEST_RELEASE_ALL and the same request pointer; FINAL exactly once;
 *     nothing after FINAL.
 *  4. Validation errors come back synchronously from InferAsync as INVALID_ARG (wrong
 *     datatype, wrong shape, unknown input, missing input, batch > max_batch_size, byte
 *     size mismatch; BYTES tensors whose serialized elements do not match the shape, as
 *     2.51's ValidateBytesInputs): no callback fires and the caller still owns (and
 *     deletes) the request.
 *  5. execfail: an error response (INTERNAL, with the backend's message), then the release.
 *  6. The "fail" request parameter: an error response from the backend.
 *  7. Dynamic batching (max_batch_size 8, max_queue_delay 100 ms, one instance): 8
 *     requests in flight at once → execution_count < inference_count.
 *  8. ServerModelStatistics: success.count equals the successful requests.
 *  9. Allocator accounting: every allocation released exactly once after the responses
 *     are deleted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_common.h"

#define NTYPES 14
static const TRITONSERVER_DataType kTypes[NTYPES] = {
    TRITONSERVER_TYPE_BOOL,  TRITONSERVER_TYPE_UINT8,  TRITONSERVER_TYPE_UINT16,
    TRITONSERVER_TYPE_UINT32, TRITONSERVER_TYPE_UINT64, TRITONSERVER_TYPE_INT8,
    TRITONSERVER_TYPE_INT16, TRITONSERVER_TYPE_INT32,  TRITONSERVER_TYPE_INT64,
    TRITONSERVER_TYPE_FP16,  TRITONSERVER_TYPE_FP32,   TRITONSERVER_TYPE_FP64,
    TRITONSERVER_TYPE_BYTES, TRITONSERVER_TYPE_BF16};
#define NELEM 5 /* elements per input */

typedef struct tensor {
  char in_name[16], out_name[16];
  unsigned char* data;
  size_t size;
  int64_t shape[1];
} tensor;

static tensor tensors[NTYPES];
static TRITONSERVER_ResponseAllocator* alloc;

static void
make_tensors(void)
{
  for (int t = 0; t < NTYPES; ++t) {
    tensor* x = &tensors[t];
    snprintf(x->in_name, sizeof(x->in_name), "INPUT%d", t);
    snprintf(x->out_name, sizeof(x->out_name), "OUTPUT%d", t);
    x->shape[0] = NELEM;
    if (kTypes[t] == TRITONSERVER_TYPE_BYTES) {
      /* NELEM strings of lengths 0, 3, 1, 7, 2, each with a 4-byte little-endian length. */
      static const char* strs[NELEM] = {"", "abc", "\xff", "binary\x01", "\0z"};
      static const uint32_t lens[NELEM] = {0, 3, 1, 7, 2};
      size_t total = 0;
      for (int i = 0; i < NELEM; ++i) {
        total += 4 + lens[i];
      }
      x->data = malloc(total);
      size_t off = 0;
      for (int i = 0; i < NELEM; ++i) {
        memcpy(x->data + off, &lens[i], 4);
        memcpy(x->data + off + 4, strs[i], lens[i]);
        off += 4 + lens[i];
      }
      x->size = total;
    } else {
      uint32_t es = TRITONSERVER_DataTypeByteSize(kTypes[t]);
      REQUIRE(es > 0, "DataTypeByteSize(%s) = 0", TRITONSERVER_DataTypeString(kTypes[t]));
      x->size = (size_t)es * NELEM;
      x->data = malloc(x->size);
      for (size_t i = 0; i < x->size; ++i) {
        x->data[i] = (unsigned char)(kTypes[t] == TRITONSERVER_TYPE_BOOL ? (i % 2)
                                                                         : (t * 31 + i * 7 + 1));
      }
    }
  }
}

static char*
types_config(void)
{
  static char cfg[8192];
  size_t n = (size_t)snprintf(
      cfg, sizeof(cfg), "name: \"types\"\nbackend: \"identity\"\nmax_batch_size: 0\ninput [\n");
  for (int t = 0; t < NTYPES; ++t) {
    n += (size_t)snprintf(cfg + n, sizeof(cfg) - n,
                          "  { name: \"INPUT%d\" data_type: %s dims: [ -1 ] }%s\n", t,
                          ic_config_type(kTypes[t]), t + 1 < NTYPES ? "," : "");
  }
  n += (size_t)snprintf(cfg + n, sizeof(cfg) - n, "]\noutput [\n");
  for (int t = 0; t < NTYPES; ++t) {
    n += (size_t)snprintf(cfg + n, sizeof(cfg) - n,
                          "  { name: \"OUTPUT%d\" data_type: %s dims: [ -1 ] }%s\n", t,
                          ic_config_type(kTypes[t]), t + 1 < NTYPES ? "," : "");
  }
  snprintf(cfg + n, sizeof(cfg) - n, "]\ninstance_group [ { count: 2 kind: KIND_CPU } ]\n");
  return cfg;
}

static const char* kBatchConfig =
    "name: \"batch\"\n"
    "backend: \"identity\"\n"
    "max_batch_size: 8\n"
    "dynamic_batching { max_queue_delay_microseconds: 100000 }\n"
    "input [ { name: \"INPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
    "output [ { name: \"OUTPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
    "instance_group [ { count: 1 kind: KIND_CPU } ]\n";

static const char* kStrConfig =
    "name: \"str\"\n"
    "backend: \"identity\"\n"
    "max_batch_size: 0\n"
    "input [ { name: \"INPUT0\" data_type: TYPE_STRING dims: [ 3 ] } ]\n"
    "output [ { name: \"OUTPUT0\" data_type: TYPE_STRING dims: [ 3 ] } ]\n"
    "instance_group [ { count: 1 kind: KIND_CPU } ]\n";

static const char* kExecfailConfig =
    "name: \"execfail\"\n"
    "backend: \"execfail\"\n"
    "max_batch_size: 0\n"
    "input [ { name: \"INPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
    "output [ { name: \"OUTPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
    "instance_group [ { count: 1 kind: KIND_CPU } ]\n";

/* Request on "types" with all 14 inputs; INPUT<odd> data split over two buffers. */
static TRITONSERVER_InferenceRequest*
types_request(TRITONSERVER_Server* s, ic_call* call, const char* id)
{
  TRITONSERVER_InferenceRequest* r = NULL;
  REQUIRE_OK(TRITONSERVER_InferenceRequestNew(&r, s, "types", -1));
  REQUIRE_OK(TRITONSERVER_InferenceRequestSetId(r, id));
  for (int t = 0; t < NTYPES; ++t) {
    tensor* x = &tensors[t];
    REQUIRE_OK(TRITONSERVER_InferenceRequestAddInput(r, x->in_name, kTypes[t], x->shape, 1));
    if (t % 2 == 1 && x->size > 1) {
      size_t half = x->size / 2 - 1;
      REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
          r, x->in_name, x->data, half, TRITONSERVER_MEMORY_CPU, 0));
      REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
          r, x->in_name, x->data + half, x->size - half, TRITONSERVER_MEMORY_CPU_PINNED, 0));
    } else {
      REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
          r, x->in_name, x->data, x->size, TRITONSERVER_MEMORY_CPU, 0));
    }
  }
  REQUIRE_OK(ic_set_callbacks(r, alloc, call));
  return r;
}

/* Check the callbacks of one completed non-decoupled call. */
static void
check_one_call(ic_call* call, TRITONSERVER_InferenceRequest* r, const char* step)
{
  CHECK(call->releases == 1, "[%s] %d release callbacks, expected 1", step, call->releases);
  CHECK(call->release_flags == TRITONSERVER_REQUEST_RELEASE_ALL,
        "[%s] release flags %u, expected RELEASE_ALL", step, call->release_flags);
  CHECK(call->released == r, "[%s] release callback got %p, expected the request %p", step,
        (void*)call->released, (void*)r);
  CHECK(call->finals == 1, "[%s] %d FINAL callbacks, expected 1", step, call->finals);
  CHECK(call->callbacks == 1, "[%s] %d response callbacks, expected 1", step, call->callbacks);
  CHECK(call->after_final == 0, "[%s] %d callbacks after FINAL", step, call->after_final);
  CHECK(!call->release_before_final, "[%s] release callback came before the FINAL response",
        step);
}

/* Check the outputs of a "types" response; `only` (bitmask of type indexes) or 0 = all. */
static void
check_types_response(
    TRITONSERVER_InferenceResponse* resp, const char* id, unsigned only, const char* step)
{
  TRITONSERVER_Error* rerr = TRITONSERVER_InferenceResponseError(resp);
  if (!CHECK(rerr == NULL, "[%s] error response: %s", step,
             rerr ? TRITONSERVER_ErrorMessage(rerr) : "")) {
    TRITONSERVER_ErrorDelete(rerr);
    return;
  }
  const char* model = NULL;
  int64_t version = -5;
  CHECK_OK(TRITONSERVER_InferenceResponseModel(resp, &model, &version));
  CHECK(model != NULL && strcmp(model, "types") == 0 && version == 1,
        "[%s] response model ('%s', %lld), expected ('types', 1)", step,
        model ? model : "(null)", (long long)version);
  const char* rid = NULL;
  CHECK_OK(TRITONSERVER_InferenceResponseId(resp, &rid));
  CHECK(rid != NULL && strcmp(rid, id) == 0, "[%s] response id '%s', expected '%s'", step,
        rid ? rid : "(null)", id);
  uint32_t count = 0;
  CHECK_OK(TRITONSERVER_InferenceResponseOutputCount(resp, &count));
  uint32_t want = 0;
  for (int t = 0; t < NTYPES; ++t) {
    want += (only == 0 || (only & (1u << t))) ? 1 : 0;
  }
  CHECK(count == want, "[%s] %u outputs, expected %u", step, count, want);
  for (int t = 0; t < NTYPES; ++t) {
    tensor* x = &tensors[t];
    ic_output o;
    bool found = ic_find_output(resp, x->out_name, &o);
    if (only != 0 && !(only & (1u << t))) {
      CHECK(!found, "[%s] output %s present but not requested", step, x->out_name);
      continue;
    }
    if (!CHECK(found, "[%s] output %s (%s) missing", step, x->out_name,
               TRITONSERVER_DataTypeString(kTypes[t]))) {
      continue;
    }
    CHECK(o.datatype == kTypes[t], "[%s] %s datatype %s, expected %s", step, x->out_name,
          TRITONSERVER_DataTypeString(o.datatype), TRITONSERVER_DataTypeString(kTypes[t]));
    CHECK(o.dim_count == 1 && o.shape != NULL && o.shape[0] == NELEM,
          "[%s] %s shape wrong (dims %llu)", step, x->out_name,
          (unsigned long long)o.dim_count);
    CHECK(o.memory_type == TRITONSERVER_MEMORY_CPU, "[%s] %s memory type %d", step,
          x->out_name, (int)o.memory_type);
    CHECK(o.byte_size == x->size && o.base != NULL && memcmp(o.base, x->data, x->size) == 0,
          "[%s] %s (%s) bytes differ (size %zu, expected %zu)", step, x->out_name,
          TRITONSERVER_DataTypeString(kTypes[t]), o.byte_size, x->size);
    CHECK(o.userp != NULL, "[%s] %s buffer_userp not handed back", step, x->out_name);
  }
}

/* Expect InferAsync to fail synchronously with INVALID_ARG and no callback. */
static void
expect_invalid(
    TRITONSERVER_Server* s, const char* what, TRITONSERVER_DataType dt, const int64_t* shape,
    uint32_t dims, size_t bytes, const char* input_name, bool second_bogus, bool no_input)
{
  static float buf[64];
  ic_call call;
  ic_call_init(&call, true);
  TRITONSERVER_InferenceRequest* r = NULL;
  REQUIRE_OK(TRITONSERVER_InferenceRequestNew(&r, s, "batch", -1));
  if (!no_input) {
    REQUIRE_OK(TRITONSERVER_InferenceRequestAddInput(r, input_name, dt, shape, dims));
    REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
        r, input_name, buf, bytes, TRITONSERVER_MEMORY_CPU, 0));
  }
  if (second_bogus) {
    const int64_t sh[2] = {1, 4};
    REQUIRE_OK(TRITONSERVER_InferenceRequestAddInput(r, "BOGUS", TRITONSERVER_TYPE_FP32, sh, 2));
    REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
        r, "BOGUS", buf, 16, TRITONSERVER_MEMORY_CPU, 0));
  }
  REQUIRE_OK(ic_set_callbacks(r, alloc, &call));
  TRITONSERVER_Error* err = TRITONSERVER_ServerInferAsync(s, r, NULL);
  if (err != NULL) {
    tc_note("validation '%s': %s: %s", what, TRITONSERVER_ErrorCodeString(err),
            TRITONSERVER_ErrorMessage(err));
  }
  bool ok = EXPECT_ERR(err, TRITONSERVER_ERROR_INVALID_ARG);
  if (!ok) {
    tc_fail(__FILE__, __LINE__, "validation '%s': InferAsync did not return INVALID_ARG", what);
  }
  if (ok) {
    tc_sleep_ms(100);
    CHECK(call.callbacks == 0 && call.releases == 0,
          "validation '%s': %d response / %d release callbacks after a rejected InferAsync",
          what, call.callbacks, call.releases);
    /* The caller still owns the request: it can be used and deleted. */
    const char* id = NULL;
    CHECK_OK(TRITONSERVER_InferenceRequestId(r, &id));
    CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));
  } else if (!ic_wait_done(&call, 10.0)) {
    tc_fail(__FILE__, __LINE__, "validation '%s': accepted and never completed", what);
  }
  ic_call_destroy(&call);
}

/* Number following `key` after the successive anchors (NULL-terminated), or -1. */
static long long
json_number(const char* json, const char* const* path)
{
  const char* p = json;
  for (; *path != NULL; ++path) {
    p = strstr(p, *path);
    if (p == NULL) {
      return -1;
    }
    p += strlen(*path);
  }
  while (*p == ':' || *p == ' ' || *p == '"') {
    ++p;
  }
  return strtoll(p, NULL, 10);
}

static char*
model_stats_json(TRITONSERVER_Server* s, const char* model)
{
  TRITONSERVER_Message* msg = NULL;
  if (!CHECK_OK(TRITONSERVER_ServerModelStatistics(s, model, -1, &msg))) {
    return NULL;
  }
  char* json = tc_message_json(msg);
  CHECK_OK(TRITONSERVER_MessageDelete(msg));
  return json;
}

static void
scenario_types(TRITONSERVER_Server* s, int* successes)
{
  tc_note("identity over every data type, request reuse, requested outputs");
  ic_call call;
  ic_call_init(&call, true);
  TRITONSERVER_InferenceRequest* r = types_request(s, &call, "all-types");
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, r, NULL));
  if (CHECK(ic_wait_done(&call, 10.0), "[types] no FINAL + release within 10 s")) {
    tc_sleep_ms(50);
    check_one_call(&call, r, "types");
    if (call.responses_seen >= 1) {
      check_types_response(call.responses[0], "all-types", 0, "types");
    }
    (*successes)++;
  }
  long allocs_before = atomic_load(&ic_alloc_count);
  ic_call_reset(&call); /* deletes the response → buffers released */
  CHECK(atomic_load(&ic_release_count) == atomic_load(&ic_alloc_count),
        "[types] after ResponseDelete: %ld allocations, %ld releases",
        atomic_load(&ic_alloc_count), atomic_load(&ic_release_count));
  CHECK(allocs_before >= NTYPES, "[types] only %ld allocations for %d outputs", allocs_before,
        NTYPES);

  /* Reuse the same request object as is. */
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, r, NULL));
  if (CHECK(ic_wait_done(&call, 10.0), "[reuse] no FINAL + release within 10 s")) {
    tc_sleep_ms(50);
    check_one_call(&call, r, "reuse");
    if (call.responses_seen >= 1) {
      check_types_response(call.responses[0], "all-types", 0, "reuse");
    }
    (*successes)++;
  }
  ic_call_reset(&call);

  /* Reuse with a requested-output subset and a new id. */
  REQUIRE_OK(TRITONSERVER_InferenceRequestSetId(r, "subset"));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAddRequestedOutput(r, "OUTPUT3"));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAddRequestedOutput(r, "OUTPUT12"));
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, r, NULL));
  if (CHECK(ic_wait_done(&call, 10.0), "[subset] no FINAL + release within 10 s")) {
    tc_sleep_ms(50);
    check_one_call(&call, r, "subset");
    if (call.responses_seen >= 1) {
      check_types_response(call.responses[0], "subset", (1u << 3) | (1u << 12), "subset");
    }
    (*successes)++;
  }
  ic_call_reset(&call);

  /* Requesting an output the model does not have is a validation error. */
  REQUIRE_OK(TRITONSERVER_InferenceRequestAddRequestedOutput(r, "NOSUCHOUTPUT"));
  TRITONSERVER_Error* err = TRITONSERVER_ServerInferAsync(s, r, NULL);
  if (err != NULL) {
    tc_note("unknown requested output: %s", TRITONSERVER_ErrorMessage(err));
  }
  EXPECT_ERR(err, TRITONSERVER_ERROR_INVALID_ARG);
  REQUIRE_OK(TRITONSERVER_InferenceRequestRemoveAllRequestedOutputs(r));

  /* The "fail" parameter: an error response from the backend. */
  REQUIRE_OK(TRITONSERVER_InferenceRequestSetBoolParameter(r, "fail", true));
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, r, NULL));
  if (CHECK(ic_wait_done(&call, 10.0), "[fail param] no FINAL + release within 10 s")) {
    tc_sleep_ms(50);
    check_one_call(&call, r, "fail param");
    CHECK(call.error_responses == 1, "[fail param] %d error responses, expected 1",
          call.error_responses);
    CHECK(call.first_error_code == TRITONSERVER_ERROR_INTERNAL &&
              strstr(call.first_error, "identity: failing on request") != NULL,
          "[fail param] error (%d) '%s', expected INTERNAL 'identity: failing on request ...'",
          (int)call.first_error_code, call.first_error);
  }
  ic_call_reset(&call);
  CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));
  ic_call_destroy(&call);
}

static void
scenario_validation(TRITONSERVER_Server* s)
{
  tc_note("validation errors");
  const int64_t ok_shape[2] = {1, 4};
  const int64_t bad_shape[2] = {1, 5};
  const int64_t big_batch[2] = {9, 4};
  expect_invalid(s, "wrong datatype", TRITONSERVER_TYPE_INT32, ok_shape, 2, 16, "INPUT0",
                 false, false);
  expect_invalid(s, "wrong shape", TRITONSERVER_TYPE_FP32, bad_shape, 2, 20, "INPUT0", false,
                 false);
  expect_invalid(s, "unknown input", TRITONSERVER_TYPE_FP32, ok_shape, 2, 16, "INPUT0", true,
                 false);
  expect_invalid(s, "missing input", TRITONSERVER_TYPE_FP32, ok_shape, 2, 16, "INPUT0", false,
                 true);
  expect_invalid(s, "batch > max_batch_size", TRITONSERVER_TYPE_FP32, big_batch, 2, 144,
                 "INPUT0", false, false);
  expect_invalid(s, "byte size mismatch", TRITONSERVER_TYPE_FP32, ok_shape, 2, 12, "INPUT0",
                 false, false);
  expect_invalid(s, "no batch dimension", TRITONSERVER_TYPE_FP32, ok_shape + 1, 1, 16, "INPUT0",
                 false, false);
}

/* One BYTES request on "str" (shape [3]) with `bytes` as its data; expect INVALID_ARG
 * (`valid` false) or a response echoing the bytes (`valid` true). */
static void
bytes_case(TRITONSERVER_Server* s, const char* what, const unsigned char* bytes, size_t n,
           bool valid)
{
  const int64_t shape[1] = {3};
  ic_call call;
  ic_call_init(&call, true);
  TRITONSERVER_InferenceRequest* r = NULL;
  REQUIRE_OK(TRITONSERVER_InferenceRequestNew(&r, s, "str", -1));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_BYTES, shape, 1));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
      r, "INPUT0", bytes, n, TRITONSERVER_MEMORY_CPU, 0));
  REQUIRE_OK(ic_set_callbacks(r, alloc, &call));
  TRITONSERVER_Error* err = TRITONSERVER_ServerInferAsync(s, r, NULL);
  if (valid) {
    if (CHECK_OK(err) && CHECK(ic_wait_done(&call, 10.0), "[bytes %s] not completed", what)) {
      ic_output o;
      CHECK(call.responses_seen == 1 && call.error_responses == 0 &&
                ic_find_output(call.responses[0], "OUTPUT0", &o) && o.byte_size == n &&
                memcmp(o.base, bytes, n) == 0,
            "[bytes %s] response does not echo the input", what);
    }
  } else {
    if (err != NULL) {
      tc_note("bytes '%s': %s: %s", what, TRITONSERVER_ErrorCodeString(err),
              TRITONSERVER_ErrorMessage(err));
      EXPECT_ERR(err, TRITONSERVER_ERROR_INVALID_ARG);
    } else {
      tc_fail(__FILE__, __LINE__,
              "bytes '%s': InferAsync accepted a BYTES tensor whose serialized elements do "
              "not match shape [3] (2.51 rejects it with INVALID_ARG in ValidateBytesInputs)",
              what);
      if (!ic_wait_done(&call, 10.0)) {
        tc_fail(__FILE__, __LINE__, "bytes '%s': accepted and never completed", what);
        return; /* leak: callbacks may still come */
      }
    }
  }
  ic_call_reset(&call);
  CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));
  ic_call_destroy(&call);
}

static void
scenario_bytes_validation(TRITONSERVER_Server* s)
{
  tc_note("BYTES validation");
  /* 3 elements "a", "", "xyz". */
  static const unsigned char ok[] = {1, 0, 0, 0, 'a', 0, 0, 0, 0, 3, 0, 0, 0, 'x', 'y', 'z'};
  bytes_case(s, "3 elements", ok, sizeof(ok), true);
  /* Only 2 elements for shape [3]. */
  bytes_case(s, "2 elements for [3]", ok, 9, false);
  /* 4 elements for shape [3]. */
  static const unsigned char four[] = {1, 0, 0, 0, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'b'};
  bytes_case(s, "4 elements for [3]", four, sizeof(four), false);
  /* A length indicator cut short (2 bytes left where 4 are needed). */
  static const unsigned char cut[] = {1, 0, 0, 0, 'a', 0, 0, 0, 0, 2, 0};
  bytes_case(s, "truncated length indicator", cut, sizeof(cut), false);
}

static void
scenario_execfail(TRITONSERVER_Server* s)
{
  tc_note("execfail");
  static const float data[4] = {1, 2, 3, 4};
  const int64_t shape[1] = {4};
  ic_call call;
  ic_call_init(&call, true);
  TRITONSERVER_InferenceRequest* r = NULL;
  REQUIRE_OK(TRITONSERVER_InferenceRequestNew(&r, s, "execfail", -1));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_FP32, shape, 1));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
      r, "INPUT0", data, sizeof(data), TRITONSERVER_MEMORY_CPU, 0));
  REQUIRE_OK(ic_set_callbacks(r, alloc, &call));
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, r, NULL));
  if (CHECK(ic_wait_done(&call, 10.0), "[execfail] no FINAL + release within 10 s")) {
    tc_sleep_ms(50);
    check_one_call(&call, r, "execfail");
    CHECK(call.error_responses == 1, "[execfail] %d error responses, expected 1",
          call.error_responses);
    CHECK(call.first_error_code == TRITONSERVER_ERROR_INTERNAL &&
              strstr(call.first_error, "execfail: Execute fails on purpose") != NULL,
          "[execfail] error (code %d) '%s', expected INTERNAL containing the backend's "
          "message",
          (int)call.first_error_code, call.first_error);
    tc_note("execfail error response: %s", call.first_error);
  }
  ic_call_reset(&call);
  CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));
  ic_call_destroy(&call);

  char* json = model_stats_json(s, "execfail");
  if (json != NULL) {
    const char* fail_path[] = {"\"inference_stats\"", "\"fail\"", "\"count\"", NULL};
    const char* succ_path[] = {"\"inference_stats\"", "\"success\"", "\"count\"", NULL};
    long long fails = json_number(json, fail_path), succ = json_number(json, succ_path);
    CHECK(fails == 1 && succ == 0, "[execfail] stats fail.count %lld success.count %lld, "
          "expected 1 / 0: %s", fails, succ, json);
    free(json);
  }
}

#define NBATCH 8
static void
scenario_dynamic_batching(TRITONSERVER_Server* s)
{
  tc_note("dynamic batching");
  static float data[NBATCH][4];
  const int64_t shape[2] = {1, 4};
  ic_call calls[NBATCH];
  TRITONSERVER_InferenceRequest* reqs[NBATCH];
  for (int i = 0; i < NBATCH; ++i) {
    for (int j = 0; j < 4; ++j) {
      data[i][j] = (float)(i * 10 + j);
    }
    ic_call_init(&calls[i], true);
    REQUIRE_OK(TRITONSERVER_InferenceRequestNew(&reqs[i], s, "batch", -1));
    REQUIRE_OK(
        TRITONSERVER_InferenceRequestAddInput(reqs[i], "INPUT0", TRITONSERVER_TYPE_FP32, shape, 2));
    REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
        reqs[i], "INPUT0", data[i], sizeof(data[i]), TRITONSERVER_MEMORY_CPU, 0));
    REQUIRE_OK(ic_set_callbacks(reqs[i], alloc, &calls[i]));
  }
  for (int i = 0; i < NBATCH; ++i) {
    REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, reqs[i], NULL));
  }
  for (int i = 0; i < NBATCH; ++i) {
    char step[32];
    snprintf(step, sizeof(step), "batch %d", i);
    if (!CHECK(ic_wait_done(&calls[i], 10.0), "[%s] no FINAL + release within 10 s", step)) {
      continue;
    }
    tc_sleep_ms(10);
    check_one_call(&calls[i], reqs[i], step);
    ic_output o;
    if (calls[i].responses_seen >= 1 &&
        CHECK(ic_find_output(calls[i].responses[0], "OUTPUT0", &o), "[%s] OUTPUT0 missing",
              step)) {
      CHECK(o.dim_count == 2 && o.shape[0] == 1 && o.shape[1] == 4,
            "[%s] OUTPUT0 shape not [1,4] (dims %llu)", step, (unsigned long long)o.dim_count);
      CHECK(o.byte_size == 16 && memcmp(o.base, data[i], 16) == 0,
            "[%s] OUTPUT0 data is not this request's data", step);
    }
    CHECK_OK(TRITONSERVER_InferenceRequestDelete(reqs[i]));
    ic_call_destroy(&calls[i]);
  }
  char* json = model_stats_json(s, "batch");
  if (json != NULL) {
    const char* inf_path[] = {"\"inference_count\"", NULL};
    const char* exe_path[] = {"\"execution_count\"", NULL};
    const char* succ_path[] = {"\"inference_stats\"", "\"success\"", "\"count\"", NULL};
    long long inf = json_number(json, inf_path), exe = json_number(json, exe_path);
    long long succ = json_number(json, succ_path);
    tc_note("batch model: inference_count %lld, execution_count %lld, success.count %lld", inf,
            exe, succ);
    CHECK(inf == NBATCH, "inference_count %lld, expected %d", inf, NBATCH);
    CHECK(exe >= 1 && exe < inf, "execution_count %lld not < inference_count %lld", exe, inf);
    CHECK(succ == NBATCH, "success.count %lld, expected %d (validation failures do not count)",
          succ, NBATCH);
    const char* bs_path[] = {"\"batch_stats\"", "\"batch_size\"", NULL};
    long long bs = json_number(json, bs_path);
    CHECK(bs > 1, "first batch_stats batch_size %lld, expected > 1: %s", bs, json);
    free(json);
  }
}

int
main(void)
{
  make_tensors();
  char* repo = tc_repo_new();
  ic_write_model(repo, "types", types_config());
  ic_write_model(repo, "batch", kBatchConfig);
  ic_write_model(repo, "execfail", kExecfailConfig);
  ic_write_model(repo, "str", kStrConfig);
  const char* startup[] = {"types", "batch", "execfail", "str", NULL};
  tc_server_config config = {
      .repo = repo,
      .control_mode = TRITONSERVER_MODEL_CONTROL_EXPLICIT,
      .strict_readiness = true,
      .startup_models = startup,
      .exit_timeout_s = 5,
  };
  TRITONSERVER_Server* s = tc_server_start(&config, NULL);
  REQUIRE(tc_server_ready(s) == 1, "server not ready");
  alloc = ic_allocator_new();

  int successes = 0;
  scenario_types(s, &successes);
  scenario_validation(s);
  scenario_bytes_validation(s);
  scenario_execfail(s);
  scenario_dynamic_batching(s);

  /* Statistics of the types model: success.count = the successful requests. */
  char* json = model_stats_json(s, "types");
  if (json != NULL) {
    const char* succ_path[] = {"\"model_stats\"", "\"inference_stats\"", "\"success\"",
                               "\"count\"", NULL};
    const char* fail_path[] = {"\"model_stats\"", "\"inference_stats\"", "\"fail\"", "\"count\"",
                               NULL};
    const char* name_path[] = {"\"model_stats\"", "\"name\"", NULL};
    long long succ = json_number(json, succ_path), fails = json_number(json, fail_path);
    CHECK(strstr(json, "\"name\":\"types\"") != NULL, "stats JSON lacks name types: %s", json);
    (void)name_path;
    tc_note("types model: success.count %lld, fail.count %lld (successful requests %d)", succ,
            fails, successes);
    CHECK(succ == successes, "types success.count %lld, expected %d", succ, successes);
    CHECK(fails == 1, "types fail.count %lld, expected 1 (the 'fail' parameter request)", fails);
    free(json);
  }
  /* All models at once. */
  json = model_stats_json(s, "");
  if (json != NULL) {
    CHECK(strstr(json, "\"name\":\"types\"") && strstr(json, "\"name\":\"batch\"") &&
              strstr(json, "\"name\":\"execfail\""),
          "ServerModelStatistics(\"\") lacks a model: %s", json);
    free(json);
  }
  TRITONSERVER_Message* msg = NULL;
  TRITONSERVER_Error* err = TRITONSERVER_ServerModelStatistics(s, "nosuchmodel", -1, &msg);
  CHECK(err != NULL, "ServerModelStatistics(unknown model) succeeded");
  TRITONSERVER_ErrorDelete(err);

  long a = atomic_load(&ic_alloc_count), rel = atomic_load(&ic_release_count);
  tc_note("allocator: %ld allocations, %ld releases, %ld start calls, %ld bad releases", a, rel,
          atomic_load(&ic_start_count), atomic_load(&ic_bad_release));
  CHECK(a == rel, "allocator: %ld allocations but %ld releases", a, rel);
  CHECK(atomic_load(&ic_bad_release) == 0, "allocator: %ld releases of unknown buffers",
        atomic_load(&ic_bad_release));
  CHECK_OK(TRITONSERVER_ResponseAllocatorDelete(alloc));
  tc_server_delete(s);
  tc_repo_remove(repo);
  for (int t = 0; t < NTYPES; ++t) {
    free(tensors[t].data);
  }
  return tc_finish("int_infer");
}
