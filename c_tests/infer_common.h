/* Helpers shared by the inference C tests (api_infer, int_infer, int_decoupled,
 * int_unload_inflight, int_churn): models with arbitrary configurations, a counting
 * malloc-based response allocator, and a per-call record of response / release callbacks
 * that a test waits on with a timeout. */
#ifndef TRITON_CTESTS_INFER_COMMON_H
#define TRITON_CTESTS_INFER_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common.h"

/* <repo>/<name>/config.pbtxt = `config` (verbatim) and <repo>/<name>/1/. */
void ic_write_model(const char* repo, const char* name, const char* config);

/* Monotonic clock in seconds / nanoseconds. */
double ic_now_s(void);
uint64_t ic_now_ns(void);

/* ---- allocator ---- */

/* Counters over every ic allocator (process-wide). */
extern atomic_long ic_alloc_count;   /* successful alloc_fn calls */
extern atomic_long ic_release_count; /* release_fn calls */
extern atomic_long ic_start_count;   /* start_fn calls */
extern atomic_long ic_bad_release;   /* release_fn with a buffer we never handed out */

/* A CPU allocator: alloc_fn mallocs (any requested memory type is answered with CPU),
 * release_fn frees; start_fn counts. Delete with TRITONSERVER_ResponseAllocatorDelete. */
TRITONSERVER_ResponseAllocator* ic_allocator_new(void);

/* ---- one inference call ---- */

#define IC_MAX_RESPONSES 64

typedef struct ic_call {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool keep; /* keep responses for inspection; else the callback deletes them */
  /* The release callback deletes the request (as a real frontend does); `released` then
   * only records the pointer value. */
  bool delete_on_release;
  /* Optional check made by the response callback on every non-error response (useful with
   * keep == false): output `check_output` must hold exactly `check_size` bytes equal to
   * `check_data`; mismatches are counted in check_failures. */
  const char* check_output;
  const void* check_data;
  size_t check_size;
  int check_failures;
  /* Kept responses (keep == true), in arrival order, with their flags. */
  TRITONSERVER_InferenceResponse* responses[IC_MAX_RESPONSES];
  uint32_t flags[IC_MAX_RESPONSES];
  int callbacks;        /* response callbacks, NULL responses included */
  int responses_seen;   /* callbacks with a non-NULL response */
  int null_responses;   /* callbacks with a NULL response */
  int error_responses;  /* responses whose InferenceResponseError is non-NULL */
  int finals;           /* callbacks with the FINAL flag */
  int after_final;      /* callbacks that came after a FINAL one */
  int releases;         /* release callbacks */
  uint32_t release_flags;
  TRITONSERVER_InferenceRequest* released;
  bool release_before_final;
  /* Copy of the first error response's message and code (error_responses > 0). */
  char first_error[512];
  TRITONSERVER_Error_Code first_error_code;
} ic_call;

void ic_call_init(ic_call* call, bool keep);
/* Delete kept responses and reset the counters. */
void ic_call_reset(ic_call* call);
void ic_call_destroy(ic_call* call);

/* Set the release and response callbacks of `request` to record into `call`. */
TRITONSERVER_Error* ic_set_callbacks(
    TRITONSERVER_InferenceRequest* request, TRITONSERVER_ResponseAllocator* allocator,
    ic_call* call);

/* Wait until `call` has a FINAL response callback and a release (true), or timeout. */
bool ic_wait_done(ic_call* call, double timeout_s);
/* Wait until `call` has at least `releases` release callbacks and `finals` finals. */
bool ic_wait_counts(ic_call* call, int finals, int releases, double timeout_s);

/* ---- responses ---- */

typedef struct ic_output {
  const char* name;
  TRITONSERVER_DataType datatype;
  const int64_t* shape;
  uint64_t dim_count;
  const void* base;
  size_t byte_size;
  TRITONSERVER_MemoryType memory_type;
  int64_t memory_type_id;
  void* userp;
} ic_output;

/* Output `name` of a response (false if absent or on an error, which is reported). */
bool ic_find_output(
    TRITONSERVER_InferenceResponse* response, const char* name, ic_output* out);

/* Repository text of a data type ("TYPE_FP32", "TYPE_STRING" for BYTES, ...). */
const char* ic_config_type(TRITONSERVER_DataType dt);

#endif
