/* api_infer: the request-building API (TRITONSERVER_InferenceRequest*), the response
 * allocator, buffer attributes and the response getters, without caring much about what
 * a backend does with the request.
 *
 * - Request object: id, flags, correlation ids (uint64 and string, and the cross-type
 *   errors), priority (32 and 64 bit), timeout, inputs add / remove / append / remove
 *   data, duplicate input → INVALID_ARG, raw input exclusivity, requested outputs,
 *   parameters of every type, GPU memory in AppendInputData* → UNSUPPORTED (the request
 *   stays usable), InferenceRequestNew for an unknown model / version → error.
 *   Priorities follow upstream's clamping (0 or above priority_levels → default level).
 * - Allocator new / delete and set functions; buffer attributes getters / setters.
 * - A real inference on the identity backend so that the response getters can be called
 *   with NULL out-parameters.
 * - NULL for every pointer argument of these functions → INVALID_ARG. Each group runs in
 *   a forked child (alarm 10 s) so that a crash or a hang is reported per group.
 *
 * Expected differences on the real 2.51 core: GPU appends succeed there (UNSUPPORTED is
 * this project's rule), NULL arguments crash most groups, InferAsync without a response
 * callback is accepted there (and crashes later), a new BufferAttributes has an
 * uninitialized byte size, and SetMemoryType accepts any value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_common.h"

static int groups_run = 0, groups_failed = 0;

/* Run the body in a child with a 10 s alarm (a crash or hang is reported by name); count
 * the outcome. */
#define NULLGROUP(name, ...)                                    \
  do {                                                          \
    tc_outcome outcome__;                                       \
    TC_FORKED(outcome__, "NULL group " name, 10, __VA_ARGS__);  \
    groups_run++;                                               \
    groups_failed += outcome__ != TC_PASSED;                    \
  } while (0)

#define NULL_ARG(expr) EXPECT_ERR((expr), TRITONSERVER_ERROR_INVALID_ARG)

static void
dummy_release(TRITONSERVER_InferenceRequest* r, const uint32_t f, void* u)
{
  (void)r;
  (void)f;
  (void)u;
}

static void
dummy_complete(TRITONSERVER_InferenceResponse* r, const uint32_t f, void* u)
{
  (void)f;
  (void)u;
  TRITONSERVER_ErrorDelete(TRITONSERVER_InferenceResponseDelete(r));
}

static TRITONSERVER_Error*
dummy_alloc(
    TRITONSERVER_ResponseAllocator* a, const char* n, size_t s, TRITONSERVER_MemoryType mt,
    int64_t id, void* u, void** b, void** bu, TRITONSERVER_MemoryType* amt, int64_t* aid)
{
  (void)a, (void)n, (void)s, (void)mt, (void)id, (void)u;
  *b = NULL;
  *bu = NULL;
  *amt = TRITONSERVER_MEMORY_CPU;
  *aid = 0;
  return NULL;
}

static TRITONSERVER_Error*
dummy_free(
    TRITONSERVER_ResponseAllocator* a, void* b, void* bu, size_t s,
    TRITONSERVER_MemoryType mt, int64_t id)
{
  (void)a, (void)b, (void)bu, (void)s, (void)mt, (void)id;
  return NULL;
}

static TRITONSERVER_Error*
dummy_query(
    TRITONSERVER_ResponseAllocator* a, void* u, const char* n, size_t* s,
    TRITONSERVER_MemoryType* mt, int64_t* id)
{
  (void)a, (void)u, (void)n, (void)s, (void)mt, (void)id;
  return NULL;
}

static TRITONSERVER_Error*
dummy_attrs(
    TRITONSERVER_ResponseAllocator* a, const char* n, TRITONSERVER_BufferAttributes* ba,
    void* u, void* bu)
{
  (void)a, (void)n, (void)ba, (void)u, (void)bu;
  return NULL;
}

static const char* kModelConfig =
    "name: \"ident\"\n"
    "backend: \"identity\"\n"
    "max_batch_size: 0\n"
    "input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [ -1 ] },\n"
    "        { name: \"INPUT1\" data_type: TYPE_INT32 dims: [ -1 ] optional: true } ]\n"
    "output [ { name: \"OUTPUT0\" data_type: TYPE_INT32 dims: [ -1 ] },\n"
    "         { name: \"OUTPUT1\" data_type: TYPE_INT32 dims: [ -1 ] } ]\n"
    "instance_group [ { count: 1 kind: KIND_CPU } ]\n";

static const char* kPrioConfig =
    "name: \"prio\"\n"
    "backend: \"identity\"\n"
    "max_batch_size: 4\n"
    "dynamic_batching { priority_levels: 10 default_priority_level: 3 }\n"
    "input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [ -1 ] } ]\n"
    "output [ { name: \"OUTPUT0\" data_type: TYPE_INT32 dims: [ -1 ] } ]\n"
    "instance_group [ { count: 1 kind: KIND_CPU } ]\n";

static TRITONSERVER_InferenceRequest*
new_request(TRITONSERVER_Server* s)
{
  TRITONSERVER_InferenceRequest* r = NULL;
  REQUIRE_OK(TRITONSERVER_InferenceRequestNew(&r, s, "ident", -1));
  REQUIRE(r != NULL, "InferenceRequestNew returned NULL");
  return r;
}

static void
request_object_tests(TRITONSERVER_Server* s)
{
  tc_note("request object");
  /* Unknown model / version. */
  TRITONSERVER_InferenceRequest* bad = NULL;
  TRITONSERVER_Error* err = TRITONSERVER_InferenceRequestNew(&bad, s, "nosuchmodel", -1);
  if (CHECK(err != NULL, "InferenceRequestNew(unknown model) succeeded")) {
    tc_note("InferenceRequestNew(unknown model): %s: %s", TRITONSERVER_ErrorCodeString(err),
            TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
  } else {
    TRITONSERVER_InferenceRequestDelete(bad);
  }
  bad = NULL;
  err = TRITONSERVER_InferenceRequestNew(&bad, s, "ident", 7);
  if (CHECK(err != NULL, "InferenceRequestNew(ident, version 7) succeeded")) {
    tc_note("InferenceRequestNew(ident, 7): %s: %s", TRITONSERVER_ErrorCodeString(err),
            TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
  } else {
    TRITONSERVER_InferenceRequestDelete(bad);
  }
  TRITONSERVER_InferenceRequest* r = NULL;
  CHECK_OK(TRITONSERVER_InferenceRequestNew(&r, s, "ident", 1));
  CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));

  r = new_request(s);
  /* id */
  const char* id = "unset";
  CHECK_OK(TRITONSERVER_InferenceRequestId(r, &id));
  CHECK(id != NULL && strcmp(id, "") == 0, "default id = '%s', expected ''", id ? id : "(null)");
  CHECK_OK(TRITONSERVER_InferenceRequestSetId(r, "req-42"));
  CHECK_OK(TRITONSERVER_InferenceRequestId(r, &id));
  CHECK(id != NULL && strcmp(id, "req-42") == 0, "id = '%s', expected 'req-42'",
        id ? id : "(null)");
  /* flags */
  uint32_t flags = 99;
  CHECK_OK(TRITONSERVER_InferenceRequestFlags(r, &flags));
  CHECK(flags == 0, "default flags = %u", flags);
  CHECK_OK(TRITONSERVER_InferenceRequestSetFlags(
      r, TRITONSERVER_REQUEST_FLAG_SEQUENCE_START | TRITONSERVER_REQUEST_FLAG_SEQUENCE_END));
  CHECK_OK(TRITONSERVER_InferenceRequestFlags(r, &flags));
  CHECK(flags == 3, "flags = %u, expected 3", flags);
  CHECK_OK(TRITONSERVER_InferenceRequestSetFlags(r, 0));
  /* correlation ids */
  uint64_t cid = 99;
  const char* cids = NULL;
  CHECK_OK(TRITONSERVER_InferenceRequestCorrelationId(r, &cid));
  CHECK(cid == 0, "default correlation id = %llu", (unsigned long long)cid);
  EXPECT_ERR(TRITONSERVER_InferenceRequestCorrelationIdString(r, &cids),
             TRITONSERVER_ERROR_INVALID_ARG);
  CHECK_OK(TRITONSERVER_InferenceRequestSetCorrelationId(r, 1234567890123ull));
  CHECK_OK(TRITONSERVER_InferenceRequestCorrelationId(r, &cid));
  CHECK(cid == 1234567890123ull, "correlation id = %llu", (unsigned long long)cid);
  CHECK_OK(TRITONSERVER_InferenceRequestSetCorrelationIdString(r, "seq-A"));
  CHECK_OK(TRITONSERVER_InferenceRequestCorrelationIdString(r, &cids));
  CHECK(cids != NULL && strcmp(cids, "seq-A") == 0, "correlation id string = '%s'",
        cids ? cids : "(null)");
  EXPECT_ERR(TRITONSERVER_InferenceRequestCorrelationId(r, &cid),
             TRITONSERVER_ERROR_INVALID_ARG);
  CHECK_OK(TRITONSERVER_InferenceRequestSetCorrelationId(r, 7));
  CHECK_OK(TRITONSERVER_InferenceRequestCorrelationId(r, &cid));
  CHECK(cid == 7, "correlation id back to uint = %llu", (unsigned long long)cid);
  EXPECT_ERR(TRITONSERVER_InferenceRequestCorrelationIdString(r, &cids),
             TRITONSERVER_ERROR_INVALID_ARG);
  /* priority: upstream stores 0 or anything above the model's priority_levels as the
   * model's default level (InferenceRequest::SetPriority); "ident" has no priority levels,
   * so every priority reads back as 0 there. */
  uint32_t p32 = 99;
  uint64_t p64 = 99;
  CHECK_OK(TRITONSERVER_InferenceRequestPriority(r, &p32));
  CHECK_OK(TRITONSERVER_InferenceRequestPriorityUInt64(r, &p64));
  CHECK(p32 == 0 && p64 == 0, "default priority = %u / %llu", p32, (unsigned long long)p64);
  CHECK_OK(TRITONSERVER_InferenceRequestSetPriority(r, 5));
  CHECK_OK(TRITONSERVER_InferenceRequestPriorityUInt64(r, &p64));
  CHECK(p64 == 0, "ident (no priority levels): priority 5 reads back as %llu, upstream 0",
        (unsigned long long)p64);
  {
    /* "prio": priority_levels 10, default_priority_level 3. */
    TRITONSERVER_InferenceRequest* pr = NULL;
    REQUIRE_OK(TRITONSERVER_InferenceRequestNew(&pr, s, "prio", -1));
    static const struct {
      bool u64;
      uint64_t set, want;
    } kPrio[] = {{false, 5, 5}, {true, 9, 9}, {false, 0, 3}, {true, 11, 3}, {true, 10, 10},
                 {false, 1, 1}};
    for (size_t i = 0; i < sizeof(kPrio) / sizeof(kPrio[0]); ++i) {
      if (kPrio[i].u64) {
        CHECK_OK(TRITONSERVER_InferenceRequestSetPriorityUInt64(pr, kPrio[i].set));
      } else {
        CHECK_OK(TRITONSERVER_InferenceRequestSetPriority(pr, (uint32_t)kPrio[i].set));
      }
      CHECK_OK(TRITONSERVER_InferenceRequestPriority(pr, &p32));
      CHECK_OK(TRITONSERVER_InferenceRequestPriorityUInt64(pr, &p64));
      CHECK(p32 == kPrio[i].want && p64 == kPrio[i].want,
            "prio: SetPriority%s(%llu) reads back %u / %llu, expected %llu (levels 10, "
            "default 3)",
            kPrio[i].u64 ? "UInt64" : "", (unsigned long long)kPrio[i].set, p32,
            (unsigned long long)p64, (unsigned long long)kPrio[i].want);
    }
    CHECK_OK(TRITONSERVER_InferenceRequestDelete(pr));
  }
  /* timeout */
  uint64_t to = 99;
  CHECK_OK(TRITONSERVER_InferenceRequestTimeoutMicroseconds(r, &to));
  CHECK(to == 0, "default timeout = %llu", (unsigned long long)to);
  CHECK_OK(TRITONSERVER_InferenceRequestSetTimeoutMicroseconds(r, 250000));
  CHECK_OK(TRITONSERVER_InferenceRequestTimeoutMicroseconds(r, &to));
  CHECK(to == 250000, "timeout = %llu", (unsigned long long)to);
  /* cancel before InferAsync: 2.51 refuses both calls with INTERNAL "It is not possible to
   * cancel an inference request before calling TRITONSERVER_InferAsync." (and the same for
   * the query); accepting them is tolerated, but then they must be consistent. */
  bool cancelled = true;
  err = TRITONSERVER_InferenceRequestIsCancelled(r, &cancelled);
  if (err != NULL) {
    tc_note("IsCancelled before InferAsync: %s: %s", TRITONSERVER_ErrorCodeString(err),
            TRITONSERVER_ErrorMessage(err));
    EXPECT_ERR(err, TRITONSERVER_ERROR_INTERNAL);
    EXPECT_ERR(TRITONSERVER_InferenceRequestCancel(r), TRITONSERVER_ERROR_INTERNAL);
  } else {
    tc_note("IsCancelled / Cancel before InferAsync accepted (2.51 returns INTERNAL)");
    CHECK(!cancelled, "a new request is cancelled");
    CHECK_OK(TRITONSERVER_InferenceRequestCancel(r));
    CHECK_OK(TRITONSERVER_InferenceRequestIsCancelled(r, &cancelled));
    CHECK(cancelled, "IsCancelled false after Cancel");
  }

  /* inputs */
  static const int32_t data[4] = {1, 2, 3, 4};
  const int64_t shape[1] = {4};
  CHECK_OK(TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_INT32, shape, 1));
  EXPECT_ERR(TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_INT32, shape, 1),
             TRITONSERVER_ERROR_INVALID_ARG);
  CHECK_OK(TRITONSERVER_InferenceRequestAppendInputData(
      r, "INPUT0", data, 8, TRITONSERVER_MEMORY_CPU, 0));
  CHECK_OK(TRITONSERVER_InferenceRequestAppendInputData(
      r, "INPUT0", data + 2, 8, TRITONSERVER_MEMORY_CPU_PINNED, 0));
  EXPECT_ERR(TRITONSERVER_InferenceRequestAppendInputData(
                 r, "NOPE", data, 8, TRITONSERVER_MEMORY_CPU, 0),
             TRITONSERVER_ERROR_INVALID_ARG);
  /* GPU memory → UNSUPPORTED (all three append variants), CPU paths unaffected. */
  EXPECT_ERR(TRITONSERVER_InferenceRequestAppendInputData(
                 r, "INPUT0", data, 8, TRITONSERVER_MEMORY_GPU, 0),
             TRITONSERVER_ERROR_UNSUPPORTED);
  EXPECT_ERR(TRITONSERVER_InferenceRequestAppendInputDataWithHostPolicy(
                 r, "INPUT0", data, 8, TRITONSERVER_MEMORY_GPU, 0, "policy"),
             TRITONSERVER_ERROR_UNSUPPORTED);
  TRITONSERVER_BufferAttributes* ba = NULL;
  CHECK_OK(TRITONSERVER_BufferAttributesNew(&ba));
  CHECK_OK(TRITONSERVER_BufferAttributesSetMemoryType(ba, TRITONSERVER_MEMORY_GPU));
  CHECK_OK(TRITONSERVER_BufferAttributesSetByteSize(ba, 8));
  EXPECT_ERR(TRITONSERVER_InferenceRequestAppendInputDataWithBufferAttributes(
                 r, "INPUT0", data, ba),
             TRITONSERVER_ERROR_UNSUPPORTED);
  CHECK_OK(TRITONSERVER_BufferAttributesSetMemoryType(ba, TRITONSERVER_MEMORY_CPU));
  CHECK_OK(TRITONSERVER_InferenceRequestAppendInputDataWithHostPolicy(
      r, "INPUT0", data, 16, TRITONSERVER_MEMORY_CPU, 0, "policy"));
  CHECK_OK(TRITONSERVER_BufferAttributesDelete(ba));
  CHECK_OK(TRITONSERVER_InferenceRequestRemoveAllInputData(r, "INPUT0"));
  EXPECT_ERR(TRITONSERVER_InferenceRequestRemoveAllInputData(r, "NOPE"),
             TRITONSERVER_ERROR_INVALID_ARG);
  CHECK_OK(TRITONSERVER_InferenceRequestAddInput(r, "INPUT1", TRITONSERVER_TYPE_INT32, shape, 1));
  CHECK_OK(TRITONSERVER_InferenceRequestRemoveInput(r, "INPUT0"));
  EXPECT_ERR(TRITONSERVER_InferenceRequestRemoveInput(r, "INPUT0"),
             TRITONSERVER_ERROR_INVALID_ARG);
  /* INPUT0 can be added again after removal. */
  CHECK_OK(TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_INT32, shape, 1));
  /* A raw input cannot join other inputs. */
  EXPECT_ERR(TRITONSERVER_InferenceRequestAddRawInput(r, "RAW"), TRITONSERVER_ERROR_INVALID_ARG);
  CHECK_OK(TRITONSERVER_InferenceRequestRemoveAllInputs(r));
  EXPECT_ERR(TRITONSERVER_InferenceRequestRemoveInput(r, "INPUT1"),
             TRITONSERVER_ERROR_INVALID_ARG);
  /* (Upstream lets AddInput follow AddRawInput and fails only at normalization: not
   * checked here.) */
  CHECK_OK(TRITONSERVER_InferenceRequestAddRawInput(r, "RAW"));
  EXPECT_ERR(TRITONSERVER_InferenceRequestAddRawInput(r, "RAW2"), TRITONSERVER_ERROR_INVALID_ARG);
  CHECK_OK(TRITONSERVER_InferenceRequestRemoveAllInputs(r));

  /* requested outputs: upstream keeps a set; removing one never asked for succeeds. */
  CHECK_OK(TRITONSERVER_InferenceRequestAddRequestedOutput(r, "OUTPUT0"));
  CHECK_OK(TRITONSERVER_InferenceRequestAddRequestedOutput(r, "OUTPUT0"));
  CHECK_OK(TRITONSERVER_InferenceRequestAddRequestedOutput(r, "OUTPUT1"));
  CHECK_OK(TRITONSERVER_InferenceRequestRemoveRequestedOutput(r, "OUTPUT1"));
  err = TRITONSERVER_InferenceRequestRemoveRequestedOutput(r, "NEVER_ASKED");
  CHECK(err == NULL,
        "RemoveRequestedOutput(never requested) returned %s \"%s\"; upstream 2.51 "
        "(InferenceRequest::RemoveOriginalRequestedOutput: set erase) returns success",
        err ? TRITONSERVER_ErrorCodeString(err) : "", err ? TRITONSERVER_ErrorMessage(err) : "");
  TRITONSERVER_ErrorDelete(err);
  CHECK_OK(TRITONSERVER_InferenceRequestRemoveAllRequestedOutputs(r));

  /* parameters */
  CHECK_OK(TRITONSERVER_InferenceRequestSetStringParameter(r, "s", "text"));
  CHECK_OK(TRITONSERVER_InferenceRequestSetIntParameter(r, "i", -5));
  CHECK_OK(TRITONSERVER_InferenceRequestSetBoolParameter(r, "b", true));
  CHECK_OK(TRITONSERVER_InferenceRequestSetDoubleParameter(r, "d", 2.5));
  CHECK_OK(TRITONSERVER_InferenceRequestSetIntParameter(r, "i", 6));

  /* callbacks: user pointers may be NULL */
  TRITONSERVER_ResponseAllocator* alloc = ic_allocator_new();
  CHECK_OK(TRITONSERVER_InferenceRequestSetReleaseCallback(r, dummy_release, NULL));
  CHECK_OK(TRITONSERVER_InferenceRequestSetResponseCallback(r, alloc, NULL, dummy_complete, NULL));
  CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));
  CHECK_OK(TRITONSERVER_ResponseAllocatorDelete(alloc));

  /* InferAsync without a response callback: a synchronous error, the caller keeps it. */
  r = new_request(s);
  CHECK_OK(TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_INT32, shape, 1));
  CHECK_OK(TRITONSERVER_InferenceRequestAppendInputData(
      r, "INPUT0", data, 16, TRITONSERVER_MEMORY_CPU, 0));
  CHECK_OK(TRITONSERVER_InferenceRequestSetReleaseCallback(r, dummy_release, NULL));
  err = TRITONSERVER_ServerInferAsync(s, r, NULL);
  if (CHECK(err != NULL, "InferAsync without a response callback succeeded")) {
    tc_note("InferAsync without response callback: %s: %s", TRITONSERVER_ErrorCodeString(err),
            TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
    CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));
  }
}

static void
allocator_and_attributes_tests(void)
{
  tc_note("allocator and buffer attributes");
  TRITONSERVER_ResponseAllocator* a = NULL;
  CHECK_OK(TRITONSERVER_ResponseAllocatorNew(&a, dummy_alloc, dummy_free, NULL));
  CHECK(a != NULL, "ResponseAllocatorNew returned NULL");
  CHECK_OK(TRITONSERVER_ResponseAllocatorSetQueryFunction(a, dummy_query));
  CHECK_OK(TRITONSERVER_ResponseAllocatorSetBufferAttributesFunction(a, dummy_attrs));
  CHECK_OK(TRITONSERVER_ResponseAllocatorSetQueryFunction(a, NULL));
  CHECK_OK(TRITONSERVER_ResponseAllocatorSetBufferAttributesFunction(a, NULL));
  CHECK_OK(TRITONSERVER_ResponseAllocatorDelete(a));

  TRITONSERVER_BufferAttributes* ba = NULL;
  CHECK_OK(TRITONSERVER_BufferAttributesNew(&ba));
  REQUIRE(ba != NULL, "BufferAttributesNew returned NULL");
  TRITONSERVER_MemoryType mt = TRITONSERVER_MEMORY_GPU;
  int64_t id = 99;
  size_t size = 99;
  void* ipc = (void*)1;
  CHECK_OK(TRITONSERVER_BufferAttributesMemoryType(ba, &mt));
  CHECK_OK(TRITONSERVER_BufferAttributesMemoryTypeId(ba, &id));
  CHECK_OK(TRITONSERVER_BufferAttributesByteSize(ba, &size));
  CHECK_OK(TRITONSERVER_BufferAttributesCudaIpcHandle(ba, &ipc));
  CHECK(mt == TRITONSERVER_MEMORY_CPU && id == 0 && size == 0 && ipc == NULL,
        "default buffer attributes = (%d, %lld, %zu, %p), expected (CPU, 0, 0, NULL)", (int)mt,
        (long long)id, size, ipc);
  /* The CUDA IPC handle is a 64-byte cudaIpcMemHandle_t that upstream copies
   * (BufferAttributes::SetCudaIpcHandle copies CUDA_IPC_STRUCT_SIZE bytes); the getter
   * returns the copy, so changing the caller's buffer afterwards changes nothing. */
  unsigned char handle[64], original[64];
  for (int i = 0; i < 64; ++i) {
    handle[i] = original[i] = (unsigned char)(i * 3 + 1);
  }
  CHECK_OK(TRITONSERVER_BufferAttributesSetMemoryType(ba, TRITONSERVER_MEMORY_CPU_PINNED));
  CHECK_OK(TRITONSERVER_BufferAttributesSetMemoryTypeId(ba, 3));
  CHECK_OK(TRITONSERVER_BufferAttributesSetByteSize(ba, 4096));
  CHECK_OK(TRITONSERVER_BufferAttributesSetCudaIpcHandle(ba, handle));
  memset(handle, 0xEE, sizeof(handle));
  CHECK_OK(TRITONSERVER_BufferAttributesMemoryType(ba, &mt));
  CHECK_OK(TRITONSERVER_BufferAttributesMemoryTypeId(ba, &id));
  CHECK_OK(TRITONSERVER_BufferAttributesByteSize(ba, &size));
  CHECK_OK(TRITONSERVER_BufferAttributesCudaIpcHandle(ba, &ipc));
  CHECK(mt == TRITONSERVER_MEMORY_CPU_PINNED && id == 3 && size == 4096,
        "buffer attributes = (%d, %lld, %zu), expected (CPU_PINNED, 3, 4096)", (int)mt,
        (long long)id, size);
  CHECK(ipc != NULL && memcmp(ipc, original, 64) == 0,
        "CudaIpcHandle getter: %p does not hold the 64 bytes given to SetCudaIpcHandle "
        "(upstream copies the handle; the getter %s the caller's buffer)",
        ipc, ipc == (void*)handle ? "returns" : "does not return");
  EXPECT_ERR(TRITONSERVER_BufferAttributesSetMemoryType(ba, (TRITONSERVER_MemoryType)77),
             TRITONSERVER_ERROR_INVALID_ARG);
  CHECK_OK(TRITONSERVER_BufferAttributesDelete(ba));
}

/* One real inference, to get a response object. */
static TRITONSERVER_InferenceResponse*
one_response(TRITONSERVER_Server* s, TRITONSERVER_ResponseAllocator* alloc, ic_call* call)
{
  static const int32_t data[2] = {7, 8};
  const int64_t shape[1] = {2};
  TRITONSERVER_InferenceRequest* r = new_request(s);
  REQUIRE_OK(TRITONSERVER_InferenceRequestSetId(r, "resp"));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_INT32, shape, 1));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
      r, "INPUT0", data, sizeof(data), TRITONSERVER_MEMORY_CPU, 0));
  REQUIRE_OK(ic_set_callbacks(r, alloc, call));
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, r, NULL));
  REQUIRE(ic_wait_done(call, 10.0), "no final response / release within 10 s");
  CHECK(call->released == r, "released request %p, expected %p", (void*)call->released,
        (void*)r);
  CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));
  REQUIRE(call->responses_seen >= 1 && call->responses[0] != NULL, "no response object");
  return call->responses[0];
}

static void
null_cases(TRITONSERVER_Server* s, TRITONSERVER_InferenceResponse* resp)
{
  tc_note("NULL arguments");
  TRITONSERVER_InferenceRequest* r = new_request(s);
  TRITONSERVER_ResponseAllocator* alloc = ic_allocator_new();
  static const int32_t data[2] = {1, 2};
  const int64_t shape[1] = {2};
  CHECK_OK(TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_INT32, shape, 1));

  NULLGROUP("InferenceRequestNew/Delete", {
    TRITONSERVER_InferenceRequest* x = NULL;
    NULL_ARG(TRITONSERVER_InferenceRequestNew(NULL, s, "ident", -1));
    NULL_ARG(TRITONSERVER_InferenceRequestNew(&x, NULL, "ident", -1));
    NULL_ARG(TRITONSERVER_InferenceRequestNew(&x, s, NULL, -1));
    NULL_ARG(TRITONSERVER_InferenceRequestDelete(NULL));
  });
  NULLGROUP("request id/flags/correlation/priority/timeout/cancel", {
    const char* str;
    uint32_t u32;
    uint64_t u64;
    bool b;
    NULL_ARG(TRITONSERVER_InferenceRequestId(NULL, &str));
    NULL_ARG(TRITONSERVER_InferenceRequestId(r, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestSetId(NULL, "x"));
    NULL_ARG(TRITONSERVER_InferenceRequestSetId(r, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestFlags(NULL, &u32));
    NULL_ARG(TRITONSERVER_InferenceRequestFlags(r, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestSetFlags(NULL, 0));
    NULL_ARG(TRITONSERVER_InferenceRequestCorrelationId(NULL, &u64));
    NULL_ARG(TRITONSERVER_InferenceRequestCorrelationId(r, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestCorrelationIdString(NULL, &str));
    NULL_ARG(TRITONSERVER_InferenceRequestCorrelationIdString(r, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestSetCorrelationId(NULL, 1));
    NULL_ARG(TRITONSERVER_InferenceRequestSetCorrelationIdString(NULL, "x"));
    NULL_ARG(TRITONSERVER_InferenceRequestSetCorrelationIdString(r, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestPriority(NULL, &u32));
    NULL_ARG(TRITONSERVER_InferenceRequestPriority(r, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestPriorityUInt64(NULL, &u64));
    NULL_ARG(TRITONSERVER_InferenceRequestPriorityUInt64(r, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestSetPriority(NULL, 1));
    NULL_ARG(TRITONSERVER_InferenceRequestSetPriorityUInt64(NULL, 1));
    NULL_ARG(TRITONSERVER_InferenceRequestTimeoutMicroseconds(NULL, &u64));
    NULL_ARG(TRITONSERVER_InferenceRequestTimeoutMicroseconds(r, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestSetTimeoutMicroseconds(NULL, 1));
    NULL_ARG(TRITONSERVER_InferenceRequestCancel(NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestIsCancelled(NULL, &b));
    NULL_ARG(TRITONSERVER_InferenceRequestIsCancelled(r, NULL));
  });
  NULLGROUP("request inputs", {
    TRITONSERVER_BufferAttributes* ba = NULL;
    REQUIRE_OK(TRITONSERVER_BufferAttributesNew(&ba));
    REQUIRE_OK(TRITONSERVER_BufferAttributesSetByteSize(ba, 8));
    NULL_ARG(TRITONSERVER_InferenceRequestAddInput(NULL, "X", TRITONSERVER_TYPE_INT32, shape, 1));
    NULL_ARG(TRITONSERVER_InferenceRequestAddInput(r, NULL, TRITONSERVER_TYPE_INT32, shape, 1));
    NULL_ARG(TRITONSERVER_InferenceRequestAddInput(r, "X", TRITONSERVER_TYPE_INT32, NULL, 1));
    NULL_ARG(TRITONSERVER_InferenceRequestAddRawInput(NULL, "X"));
    NULL_ARG(TRITONSERVER_InferenceRequestAddRawInput(r, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestRemoveInput(NULL, "INPUT0"));
    NULL_ARG(TRITONSERVER_InferenceRequestRemoveInput(r, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestRemoveAllInputs(NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestAppendInputData(
        NULL, "INPUT0", data, 8, TRITONSERVER_MEMORY_CPU, 0));
    NULL_ARG(TRITONSERVER_InferenceRequestAppendInputData(
        r, NULL, data, 8, TRITONSERVER_MEMORY_CPU, 0));
    NULL_ARG(TRITONSERVER_InferenceRequestAppendInputData(
        r, "INPUT0", NULL, 8, TRITONSERVER_MEMORY_CPU, 0));
    NULL_ARG(TRITONSERVER_InferenceRequestAppendInputDataWithHostPolicy(
        NULL, "INPUT0", data, 8, TRITONSERVER_MEMORY_CPU, 0, "p"));
    NULL_ARG(TRITONSERVER_InferenceRequestAppendInputDataWithHostPolicy(
        r, NULL, data, 8, TRITONSERVER_MEMORY_CPU, 0, "p"));
    NULL_ARG(TRITONSERVER_InferenceRequestAppendInputDataWithHostPolicy(
        r, "INPUT0", NULL, 8, TRITONSERVER_MEMORY_CPU, 0, "p"));
    NULL_ARG(TRITONSERVER_InferenceRequestAppendInputDataWithHostPolicy(
        r, "INPUT0", data, 8, TRITONSERVER_MEMORY_CPU, 0, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestAppendInputDataWithBufferAttributes(
        NULL, "INPUT0", data, ba));
    NULL_ARG(TRITONSERVER_InferenceRequestAppendInputDataWithBufferAttributes(
        r, NULL, data, ba));
    NULL_ARG(TRITONSERVER_InferenceRequestAppendInputDataWithBufferAttributes(
        r, "INPUT0", NULL, ba));
    NULL_ARG(TRITONSERVER_InferenceRequestAppendInputDataWithBufferAttributes(
        r, "INPUT0", data, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestRemoveAllInputData(NULL, "INPUT0"));
    NULL_ARG(TRITONSERVER_InferenceRequestRemoveAllInputData(r, NULL));
  });
  NULLGROUP("request outputs/parameters/callbacks", {
    NULL_ARG(TRITONSERVER_InferenceRequestAddRequestedOutput(NULL, "OUTPUT0"));
    NULL_ARG(TRITONSERVER_InferenceRequestAddRequestedOutput(r, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestRemoveRequestedOutput(NULL, "OUTPUT0"));
    NULL_ARG(TRITONSERVER_InferenceRequestRemoveRequestedOutput(r, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestRemoveAllRequestedOutputs(NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestSetStringParameter(NULL, "k", "v"));
    NULL_ARG(TRITONSERVER_InferenceRequestSetStringParameter(r, NULL, "v"));
    NULL_ARG(TRITONSERVER_InferenceRequestSetStringParameter(r, "k", NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestSetIntParameter(NULL, "k", 1));
    NULL_ARG(TRITONSERVER_InferenceRequestSetIntParameter(r, NULL, 1));
    NULL_ARG(TRITONSERVER_InferenceRequestSetBoolParameter(NULL, "k", true));
    NULL_ARG(TRITONSERVER_InferenceRequestSetBoolParameter(r, NULL, true));
    NULL_ARG(TRITONSERVER_InferenceRequestSetDoubleParameter(NULL, "k", 1.0));
    NULL_ARG(TRITONSERVER_InferenceRequestSetDoubleParameter(r, NULL, 1.0));
    NULL_ARG(TRITONSERVER_InferenceRequestSetReleaseCallback(NULL, dummy_release, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestSetReleaseCallback(r, NULL, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestSetResponseCallback(
        NULL, alloc, NULL, dummy_complete, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestSetResponseCallback(
        r, NULL, NULL, dummy_complete, NULL));
    NULL_ARG(TRITONSERVER_InferenceRequestSetResponseCallback(r, alloc, NULL, NULL, NULL));
    NULL_ARG(TRITONSERVER_ServerInferAsync(NULL, r, NULL));
    NULL_ARG(TRITONSERVER_ServerInferAsync(s, NULL, NULL));
  });
  NULLGROUP("allocator", {
    TRITONSERVER_ResponseAllocator* x = NULL;
    NULL_ARG(TRITONSERVER_ResponseAllocatorNew(NULL, dummy_alloc, dummy_free, NULL));
    NULL_ARG(TRITONSERVER_ResponseAllocatorNew(&x, NULL, dummy_free, NULL));
    NULL_ARG(TRITONSERVER_ResponseAllocatorNew(&x, dummy_alloc, NULL, NULL));
    NULL_ARG(TRITONSERVER_ResponseAllocatorSetQueryFunction(NULL, dummy_query));
    NULL_ARG(TRITONSERVER_ResponseAllocatorSetBufferAttributesFunction(NULL, dummy_attrs));
    NULL_ARG(TRITONSERVER_ResponseAllocatorDelete(NULL));
  });
  NULLGROUP("buffer attributes", {
    TRITONSERVER_BufferAttributes* ba = NULL;
    REQUIRE_OK(TRITONSERVER_BufferAttributesNew(&ba));
    TRITONSERVER_MemoryType mt;
    int64_t id;
    size_t sz;
    void* ipc;
    NULL_ARG(TRITONSERVER_BufferAttributesNew(NULL));
    NULL_ARG(TRITONSERVER_BufferAttributesDelete(NULL));
    NULL_ARG(TRITONSERVER_BufferAttributesSetMemoryTypeId(NULL, 0));
    NULL_ARG(TRITONSERVER_BufferAttributesSetMemoryType(NULL, TRITONSERVER_MEMORY_CPU));
    NULL_ARG(TRITONSERVER_BufferAttributesSetCudaIpcHandle(NULL, &mt));
    NULL_ARG(TRITONSERVER_BufferAttributesSetByteSize(NULL, 0));
    NULL_ARG(TRITONSERVER_BufferAttributesMemoryTypeId(NULL, &id));
    NULL_ARG(TRITONSERVER_BufferAttributesMemoryTypeId(ba, NULL));
    NULL_ARG(TRITONSERVER_BufferAttributesMemoryType(NULL, &mt));
    NULL_ARG(TRITONSERVER_BufferAttributesMemoryType(ba, NULL));
    NULL_ARG(TRITONSERVER_BufferAttributesCudaIpcHandle(NULL, &ipc));
    NULL_ARG(TRITONSERVER_BufferAttributesCudaIpcHandle(ba, NULL));
    NULL_ARG(TRITONSERVER_BufferAttributesByteSize(NULL, &sz));
    NULL_ARG(TRITONSERVER_BufferAttributesByteSize(ba, NULL));
    /* SetCudaIpcHandle(ba, NULL) clears the handle: allowed. */
    CHECK_OK(TRITONSERVER_BufferAttributesSetCudaIpcHandle(ba, NULL));
  });
  NULLGROUP("response getters", {
    const char* str;
    int64_t i64;
    uint32_t u32;
    TRITONSERVER_ParameterType pt;
    const void* v;
    TRITONSERVER_DataType dt;
    const int64_t* shp;
    uint64_t dc;
    const void* base;
    size_t bs;
    TRITONSERVER_MemoryType mt;
    int64_t mtid;
    void* up;
    /* Deleting no response is a no-op, as in 2.51 (its python backend relies on it). */
    CHECK_OK(TRITONSERVER_InferenceResponseDelete(NULL));
    NULL_ARG(TRITONSERVER_InferenceResponseError(NULL));
    NULL_ARG(TRITONSERVER_InferenceResponseModel(NULL, &str, &i64));
    NULL_ARG(TRITONSERVER_InferenceResponseModel(resp, NULL, &i64));
    NULL_ARG(TRITONSERVER_InferenceResponseModel(resp, &str, NULL));
    NULL_ARG(TRITONSERVER_InferenceResponseId(NULL, &str));
    NULL_ARG(TRITONSERVER_InferenceResponseId(resp, NULL));
    NULL_ARG(TRITONSERVER_InferenceResponseParameterCount(NULL, &u32));
    NULL_ARG(TRITONSERVER_InferenceResponseParameterCount(resp, NULL));
    NULL_ARG(TRITONSERVER_InferenceResponseParameter(NULL, 0, &str, &pt, &v));
    NULL_ARG(TRITONSERVER_InferenceResponseOutputCount(NULL, &u32));
    NULL_ARG(TRITONSERVER_InferenceResponseOutputCount(resp, NULL));
    NULL_ARG(TRITONSERVER_InferenceResponseOutput(
        NULL, 0, &str, &dt, &shp, &dc, &base, &bs, &mt, &mtid, &up));
    NULL_ARG(TRITONSERVER_InferenceResponseOutput(
        resp, 0, NULL, &dt, &shp, &dc, &base, &bs, &mt, &mtid, &up));
    NULL_ARG(TRITONSERVER_InferenceResponseOutput(
        resp, 0, &str, NULL, &shp, &dc, &base, &bs, &mt, &mtid, &up));
    NULL_ARG(TRITONSERVER_InferenceResponseOutput(
        resp, 0, &str, &dt, NULL, &dc, &base, &bs, &mt, &mtid, &up));
    NULL_ARG(TRITONSERVER_InferenceResponseOutput(
        resp, 0, &str, &dt, &shp, NULL, &base, &bs, &mt, &mtid, &up));
    NULL_ARG(TRITONSERVER_InferenceResponseOutput(
        resp, 0, &str, &dt, &shp, &dc, NULL, &bs, &mt, &mtid, &up));
    NULL_ARG(TRITONSERVER_InferenceResponseOutput(
        resp, 0, &str, &dt, &shp, &dc, &base, NULL, &mt, &mtid, &up));
    NULL_ARG(TRITONSERVER_InferenceResponseOutput(
        resp, 0, &str, &dt, &shp, &dc, &base, &bs, NULL, &mtid, &up));
    NULL_ARG(TRITONSERVER_InferenceResponseOutput(
        resp, 0, &str, &dt, &shp, &dc, &base, &bs, &mt, NULL, &up));
    NULL_ARG(TRITONSERVER_InferenceResponseOutput(
        resp, 0, &str, &dt, &shp, &dc, &base, &bs, &mt, &mtid, NULL));
    NULL_ARG(TRITONSERVER_InferenceResponseOutputClassificationLabel(NULL, 0, 0, &str));
    NULL_ARG(TRITONSERVER_InferenceResponseOutputClassificationLabel(resp, 0, 0, NULL));
    /* Out-of-range indexes are INVALID_ARG too. */
    NULL_ARG(TRITONSERVER_InferenceResponseOutput(
        resp, 99, &str, &dt, &shp, &dc, &base, &bs, &mt, &mtid, &up));
    NULL_ARG(TRITONSERVER_InferenceResponseParameter(resp, 99, &str, &pt, &v));
  });
  NULLGROUP("ServerModelStatistics", {
    TRITONSERVER_Message* m = NULL;
    NULL_ARG(TRITONSERVER_ServerModelStatistics(NULL, "ident", -1, &m));
    NULL_ARG(TRITONSERVER_ServerModelStatistics(s, NULL, -1, &m));
    NULL_ARG(TRITONSERVER_ServerModelStatistics(s, "ident", -1, NULL));
  });
  CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));
  CHECK_OK(TRITONSERVER_ResponseAllocatorDelete(alloc));
}

static void
response_getter_tests(TRITONSERVER_InferenceResponse* resp)
{
  tc_note("response getters");
  TRITONSERVER_Error* rerr = TRITONSERVER_InferenceResponseError(resp);
  CHECK(rerr == NULL, "response error: %s", rerr ? TRITONSERVER_ErrorMessage(rerr) : "");
  TRITONSERVER_ErrorDelete(rerr);
  const char* name = NULL;
  int64_t version = 0;
  CHECK_OK(TRITONSERVER_InferenceResponseModel(resp, &name, &version));
  CHECK(name != NULL && strcmp(name, "ident") == 0 && version == 1,
        "response model = ('%s', %lld), expected ('ident', 1)", name ? name : "(null)",
        (long long)version);
  const char* id = NULL;
  CHECK_OK(TRITONSERVER_InferenceResponseId(resp, &id));
  CHECK(id != NULL && strcmp(id, "resp") == 0, "response id '%s'", id ? id : "(null)");
  uint32_t pc = 99;
  CHECK_OK(TRITONSERVER_InferenceResponseParameterCount(resp, &pc));
  CHECK(pc == 0, "response parameter count %u, expected 0", pc);
  ic_output o;
  if (CHECK(ic_find_output(resp, "OUTPUT0", &o), "OUTPUT0 missing")) {
    CHECK(o.datatype == TRITONSERVER_TYPE_INT32 && o.dim_count == 1 && o.shape[0] == 2 &&
              o.byte_size == 8 && o.memory_type == TRITONSERVER_MEMORY_CPU,
          "OUTPUT0 properties wrong");
    CHECK(o.base != NULL && ((const int32_t*)o.base)[0] == 7 && ((const int32_t*)o.base)[1] == 8,
          "OUTPUT0 data wrong");
    const char* label = (const char*)1;
    CHECK_OK(TRITONSERVER_InferenceResponseOutputClassificationLabel(resp, 0, 0, &label));
    CHECK(label == NULL, "classification label of a model without labels = %p", (void*)label);
  }
}

int
main(void)
{
  char* repo = tc_repo_new();
  ic_write_model(repo, "ident", kModelConfig);
  ic_write_model(repo, "prio", kPrioConfig);
  const char* startup[] = {"ident", "prio", NULL};
  tc_server_config config = {
      .repo = repo,
      .control_mode = TRITONSERVER_MODEL_CONTROL_EXPLICIT,
      .strict_readiness = true,
      .startup_models = startup,
      .exit_timeout_s = 5,
  };
  TRITONSERVER_Server* s = tc_server_start(&config, NULL);
  REQUIRE(tc_model_ready(s, "ident", 1) == 1, "model ident not ready");

  request_object_tests(s);
  allocator_and_attributes_tests();

  TRITONSERVER_ResponseAllocator* alloc = ic_allocator_new();
  ic_call call;
  ic_call_init(&call, true);
  TRITONSERVER_InferenceResponse* resp = one_response(s, alloc, &call);
  response_getter_tests(resp);
  null_cases(s, resp);
  tc_note("NULL groups: %d run, %d failed", groups_run, groups_failed);

  ic_call_destroy(&call); /* deletes the response */
  CHECK(atomic_load(&ic_alloc_count) == atomic_load(&ic_release_count),
        "allocator: %ld allocations, %ld releases", atomic_load(&ic_alloc_count),
        atomic_load(&ic_release_count));
  CHECK_OK(TRITONSERVER_ResponseAllocatorDelete(alloc));
  tc_server_delete(s);
  tc_repo_remove(repo);
  return tc_finish("api_infer");
}
