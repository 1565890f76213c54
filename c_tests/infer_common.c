/* Helpers of the inference C tests (see infer_common.h). */
#include "infer_common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

atomic_long ic_alloc_count;
atomic_long ic_release_count;
atomic_long ic_start_count;
atomic_long ic_bad_release;

void
ic_write_model(const char* repo, const char* name, const char* config)
{
  char dir[PATH_MAX], path[PATH_MAX + 32];
  snprintf(dir, sizeof(dir), "%s/%s", repo, name);
  REQUIRE(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir(%s): %s", dir, strerror(errno));
  snprintf(path, sizeof(path), "%s/1", dir);
  REQUIRE(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir(%s): %s", path, strerror(errno));
  snprintf(path, sizeof(path), "%s/config.pbtxt", dir);
  FILE* f = fopen(path, "w");
  REQUIRE(f != NULL, "fopen(%s): %s", path, strerror(errno));
  fputs(config, f);
  REQUIRE(fclose(f) == 0, "fclose(%s): %s", path, strerror(errno));
}

uint64_t
ic_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double
ic_now_s(void)
{
  return (double)ic_now_ns() / 1e9;
}

/* ---- allocator ---- */

/* Each buffer starts with a header so that release can check it came from alloc. */
#define IC_MAGIC 0x1c0ffee5u
typedef struct ic_block {
  uint32_t magic;
  size_t size;
  _Alignas(16) unsigned char data[];
} ic_block;

static TRITONSERVER_Error*
ic_alloc(
    TRITONSERVER_ResponseAllocator* allocator, const char* tensor_name, size_t byte_size,
    TRITONSERVER_MemoryType memory_type, int64_t memory_type_id, void* userp,
    void** buffer, void** buffer_userp, TRITONSERVER_MemoryType* actual_memory_type,
    int64_t* actual_memory_type_id)
{
  (void)allocator;
  (void)tensor_name;
  (void)memory_type;
  (void)memory_type_id;
  (void)userp;
  ic_block* b = malloc(sizeof(ic_block) + (byte_size ? byte_size : 1));
  if (b == NULL) {
    return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INTERNAL, "ic_alloc: out of memory");
  }
  b->magic = IC_MAGIC;
  b->size = byte_size;
  *buffer = b->data;
  *buffer_userp = b;
  *actual_memory_type = TRITONSERVER_MEMORY_CPU;
  *actual_memory_type_id = 0;
  atomic_fetch_add(&ic_alloc_count, 1);
  return NULL;
}

static TRITONSERVER_Error*
ic_release(
    TRITONSERVER_ResponseAllocator* allocator, void* buffer, void* buffer_userp,
    size_t byte_size, TRITONSERVER_MemoryType memory_type, int64_t memory_type_id)
{
  (void)allocator;
  (void)memory_type;
  (void)memory_type_id;
  ic_block* b = buffer_userp;
  atomic_fetch_add(&ic_release_count, 1);
  if (b == NULL || b->magic != IC_MAGIC || (void*)b->data != buffer || b->size != byte_size) {
    atomic_fetch_add(&ic_bad_release, 1);
    return TRITONSERVER_ErrorNew(
        TRITONSERVER_ERROR_INVALID_ARG, "ic_release: not a buffer from ic_alloc");
  }
  b->magic = 0;
  free(b);
  return NULL;
}

static TRITONSERVER_Error*
ic_start(TRITONSERVER_ResponseAllocator* allocator, void* userp)
{
  (void)allocator;
  (void)userp;
  atomic_fetch_add(&ic_start_count, 1);
  return NULL;
}

TRITONSERVER_ResponseAllocator*
ic_allocator_new(void)
{
  TRITONSERVER_ResponseAllocator* a = NULL;
  REQUIRE_OK(TRITONSERVER_ResponseAllocatorNew(&a, ic_alloc, ic_release, ic_start));
  REQUIRE(a != NULL, "ResponseAllocatorNew returned NULL");
  return a;
}

/* ---- calls ---- */

void
ic_call_init(ic_call* call, bool keep)
{
  memset(call, 0, sizeof(*call));
  pthread_mutex_init(&call->mu, NULL);
  pthread_cond_init(&call->cv, NULL);
  call->keep = keep;
}

void
ic_call_reset(ic_call* call)
{
  pthread_mutex_lock(&call->mu);
  int n = call->responses_seen < IC_MAX_RESPONSES ? call->responses_seen : IC_MAX_RESPONSES;
  if (call->keep) {
    for (int i = 0; i < n; ++i) {
      if (call->responses[i] != NULL) {
        CHECK_OK(TRITONSERVER_InferenceResponseDelete(call->responses[i]));
      }
    }
  }
  memset(call->responses, 0, sizeof(call->responses));
  memset(call->flags, 0, sizeof(call->flags));
  call->callbacks = call->responses_seen = call->null_responses = 0;
  call->error_responses = call->finals = call->after_final = call->releases = 0;
  call->release_flags = 0;
  call->released = NULL;
  call->release_before_final = false;
  call->first_error[0] = '\0';
  call->first_error_code = 0;
  call->check_failures = 0;
  pthread_mutex_unlock(&call->mu);
}

void
ic_call_destroy(ic_call* call)
{
  ic_call_reset(call);
  pthread_cond_destroy(&call->cv);
  pthread_mutex_destroy(&call->mu);
}

static void
ic_response_cb(TRITONSERVER_InferenceResponse* response, const uint32_t flags, void* userp)
{
  ic_call* call = userp;
  TRITONSERVER_Error* rerr = NULL;
  bool check_failed = false;
  if (response != NULL) {
    rerr = TRITONSERVER_InferenceResponseError(response);
    if (rerr == NULL && call->check_output != NULL) {
      ic_output o;
      check_failed = !ic_find_output(response, call->check_output, &o) ||
                     o.byte_size != call->check_size ||
                     (o.byte_size > 0 && memcmp(o.base, call->check_data, o.byte_size) != 0);
    }
  }
  pthread_mutex_lock(&call->mu);
  if (check_failed) {
    call->check_failures++;
  }
  if (call->finals > 0) {
    call->after_final++;
  }
  call->callbacks++;
  if (response != NULL) {
    if (rerr != NULL) {
      if (call->error_responses == 0) {
        snprintf(call->first_error, sizeof(call->first_error), "%s",
                 TRITONSERVER_ErrorMessage(rerr));
        call->first_error_code = TRITONSERVER_ErrorCode(rerr);
      }
      call->error_responses++;
    }
    int i = call->responses_seen++;
    if (call->keep && i < IC_MAX_RESPONSES) {
      call->responses[i] = response;
      call->flags[i] = flags;
      response = NULL;
    }
  } else {
    call->null_responses++;
  }
  if (flags & TRITONSERVER_RESPONSE_COMPLETE_FINAL) {
    call->finals++;
  }
  pthread_cond_broadcast(&call->cv);
  pthread_mutex_unlock(&call->mu);
  TRITONSERVER_ErrorDelete(rerr);
  if (response != NULL) {
    /* Not kept: deleting it releases its output buffers through the allocator. */
    TRITONSERVER_Error* err = TRITONSERVER_InferenceResponseDelete(response);
    if (err != NULL) {
      fprintf(stderr, "InferenceResponseDelete: %s\n", TRITONSERVER_ErrorMessage(err));
      TRITONSERVER_ErrorDelete(err);
    }
  }
}

static void
ic_release_cb(TRITONSERVER_InferenceRequest* request, const uint32_t flags, void* userp)
{
  ic_call* call = userp;
  bool del = call->delete_on_release;
  if (del) {
    /* Before the counters: a waiter that sees the release may free `call`'s request. */
    TRITONSERVER_Error* err = TRITONSERVER_InferenceRequestDelete(request);
    if (err != NULL) {
      fprintf(stderr, "InferenceRequestDelete in release callback: %s\n",
              TRITONSERVER_ErrorMessage(err));
      TRITONSERVER_ErrorDelete(err);
    }
  }
  pthread_mutex_lock(&call->mu);
  call->releases++;
  call->release_flags = flags;
  call->released = request;
  if (call->finals == 0) {
    call->release_before_final = true;
  }
  pthread_cond_broadcast(&call->cv);
  pthread_mutex_unlock(&call->mu);
}

TRITONSERVER_Error*
ic_set_callbacks(
    TRITONSERVER_InferenceRequest* request, TRITONSERVER_ResponseAllocator* allocator,
    ic_call* call)
{
  TRITONSERVER_Error* err =
      TRITONSERVER_InferenceRequestSetReleaseCallback(request, ic_release_cb, call);
  if (err != NULL) {
    return err;
  }
  return TRITONSERVER_InferenceRequestSetResponseCallback(
      request, allocator, NULL, ic_response_cb, call);
}

bool
ic_wait_counts(ic_call* call, int finals, int releases, double timeout_s)
{
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  long long ns = (long long)(timeout_s * 1e9);
  deadline.tv_sec += (time_t)(ns / 1000000000LL);
  deadline.tv_nsec += (long)(ns % 1000000000LL);
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&call->mu);
  while (call->finals < finals || call->releases < releases) {
    if (pthread_cond_timedwait(&call->cv, &call->mu, &deadline) == ETIMEDOUT) {
      break;
    }
  }
  bool ok = call->finals >= finals && call->releases >= releases;
  pthread_mutex_unlock(&call->mu);
  return ok;
}

bool
ic_wait_done(ic_call* call, double timeout_s)
{
  return ic_wait_counts(call, 1, 1, timeout_s);
}

bool
ic_find_output(TRITONSERVER_InferenceResponse* response, const char* name, ic_output* out)
{
  uint32_t count = 0;
  if (!CHECK_OK(TRITONSERVER_InferenceResponseOutputCount(response, &count))) {
    return false;
  }
  for (uint32_t i = 0; i < count; ++i) {
    ic_output o;
    memset(&o, 0, sizeof(o));
    if (!CHECK_OK(TRITONSERVER_InferenceResponseOutput(
            response, i, &o.name, &o.datatype, &o.shape, &o.dim_count, &o.base,
            &o.byte_size, &o.memory_type, &o.memory_type_id, &o.userp))) {
      return false;
    }
    if (o.name != NULL && strcmp(o.name, name) == 0) {
      *out = o;
      return true;
    }
  }
  return false;
}

const char*
ic_config_type(TRITONSERVER_DataType dt)
{
  switch (dt) {
    case TRITONSERVER_TYPE_BOOL: return "TYPE_BOOL";
    case TRITONSERVER_TYPE_UINT8: return "TYPE_UINT8";
    case TRITONSERVER_TYPE_UINT16: return "TYPE_UINT16";
    case TRITONSERVER_TYPE_UINT32: return "TYPE_UINT32";
    case TRITONSERVER_TYPE_UINT64: return "TYPE_UINT64";
    case TRITONSERVER_TYPE_INT8: return "TYPE_INT8";
    case TRITONSERVER_TYPE_INT16: return "TYPE_INT16";
    case TRITONSERVER_TYPE_INT32: return "TYPE_INT32";
    case TRITONSERVER_TYPE_INT64: return "TYPE_INT64";
    case TRITONSERVER_TYPE_FP16: return "TYPE_FP16";
    case TRITONSERVER_TYPE_FP32: return "TYPE_FP32";
    case TRITONSERVER_TYPE_FP64: return "TYPE_FP64";
    case TRITONSERVER_TYPE_BYTES: return "TYPE_STRING";
    case TRITONSERVER_TYPE_BF16: return "TYPE_BF16";
    default: return "TYPE_INVALID";
  }
}
