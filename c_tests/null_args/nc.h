/* NULL-argument cases (test api_null_all): the generated case table (gen_cases.py), the
 * runner that executes a case in a forked child, and the fixture getters the cases call for
 * their valid arguments.
 *
 * The same case table is compiled into the test program and into the nullargs test backend,
 * repository agent and cache; each runs the cases of its context. Getters are created on
 * first use in the child running a case (so each case starts from fresh objects). Getters
 * of another context are weak definitions that fail the case. */
#ifndef TRITON_CTESTS_NULL_ARGS_NC_H
#define TRITON_CTESTS_NULL_ARGS_NC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "triton/core/tritonbackend.h"
#include "triton/core/tritoncache.h"
#include "triton/core/tritonrs.h"
#include "triton/core/tritonrepoagent.h"
#include "triton/core/tritonserver.h"

typedef enum nc_context {
  NC_CTX_FRONTEND,     /* the test program (servers it starts itself) */
  NC_CTX_BACKEND,      /* nullargs backend, TRITONBACKEND_ModelInstanceExecute */
  NC_CTX_BACKEND_ATTR, /* nullargs backend, TRITONBACKEND_GetBackendAttribute */
  NC_CTX_REPOAGENT,    /* nullargs repository agent, TRITONREPOAGENT_ModelAction(LOAD) */
  NC_CTX_CACHE,        /* nullargs cache, TRITONCACHE_CacheInsert */
  NC_CTX_COUNT
} nc_context;

typedef enum nc_expect {
  NC_EXPECT_INVALID_ARG, /* INVALID_ARG naming the function and the parameter */
  NC_EXPECT_SUCCESS,     /* NULL is allowed: the call succeeds */
  NC_EXPECT_VALUE        /* value-returning function: checked by the case itself */
} nc_expect;

typedef struct nc_case nc_case;

typedef struct nc_result {
  const nc_case* c;
  bool failed;
  char detail[768];
} nc_result;

struct nc_case {
  const char* function;
  const char* param;
  nc_context context;
  nc_expect expect;
  const char* allowed_because; /* NC_EXPECT_SUCCESS: why NULL is allowed */
  void (*run)(nc_result* r);
};

extern const nc_case nc_cases[];
extern const size_t nc_case_count;
extern const size_t nc_function_count;

const char* nc_context_name(nc_context c);

/* ---- used by the generated cases ---- */
void nc_fail(nc_result* r, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
/* Judge an error-returning call by r->c->expect (consumes err). */
void nc_check_error(nc_result* r, TRITONSERVER_Error* err);
/* A fixture could not be built: fail the case and end the child. */
void nc_fixture_failed(const char* what, TRITONSERVER_Error* err) __attribute__((noreturn));

/* ---- running ---- */
/* Run case `c` in a forked child (timeout `timeout_s`); print one line
 * "<PASS|FAIL> <function> <param>: <detail>" to `out`. Returns true if it passed. */
bool nc_run_case(const nc_case* c, FILE* out, unsigned timeout_s);
/* Run every case of context `ctx`, appending result lines to the file named by environment
 * variable NC_REPORT (stdout if unset). Used by the plugins. */
void nc_run_context(nc_context ctx);

/* ---- fixtures available everywhere (nc_plain.c) ---- */
void* nc_user_pointer(void);
const char* nc_dir(void); /* an existing empty directory */
const int64_t* nc_shape(void); /* {4} */
const void* nc_data(void);     /* 16 bytes */
const double* nc_buckets(void); /* {1, 2} */
const uint64_t* nc_device_ids(void); /* {0} */
void* nc_ipc_handle(void); /* 64 zero bytes */
void* nc_cache_buffer(void); /* 16 bytes */
TRITONSERVER_ServerOptions* nc_options(void);
TRITONSERVER_Message* nc_message(void);
TRITONSERVER_Message* nc_model_config(void);
TRITONSERVER_Error* nc_error(void);
TRITONSERVER_Parameter* nc_parameter(void);
const TRITONSERVER_Parameter** nc_parameters(void); /* one string parameter */
TRITONSERVER_BufferAttributes* nc_buffer_attributes(void); /* CPU, 16 bytes */
TRITONSERVER_BufferAttributes** nc_usage(void); /* one element */
TRITONSERVER_ResponseAllocator* nc_allocator(void);
TRITONSERVER_InferenceTrace* nc_trace(void);
TRITONSERVER_MetricFamily* nc_metric_family(void); /* counter */
TRITONSERVER_MetricFamily* nc_histogram_family(void);
TRITONSERVER_Metric* nc_metric(void);
TRITONSERVER_MetricArgs* nc_metric_args(void); /* histogram {1, 2} */
TRITONCACHE_CacheEntry* nc_cache_entry(void);

/* ---- frontend (api_null_all.c) ---- */
TRITONSERVER_Server* nc_server(void);
TRITONSERVER_InferenceRequest* nc_request(void); /* complete, ready for ServerInferAsync */
TRITONSERVER_InferenceResponse* nc_response(void); /* a successful response with OUTPUT0 */
TRITONSERVER_Metrics* nc_metrics(void);

/* ---- backend (nc_backend.c) ---- */
TRITONBACKEND_Backend* nc_backend(void);
TRITONBACKEND_Model* nc_model(void);
TRITONBACKEND_ModelInstance* nc_instance(void);
TRITONBACKEND_Request* nc_brequest(void);
TRITONBACKEND_Response* nc_bresponse(void);
TRITONBACKEND_Response* nc_bresponse_with_output(void);
TRITONBACKEND_ResponseFactory* nc_factory(void);
TRITONBACKEND_Input* nc_input(void);
TRITONBACKEND_Output* nc_output(void);
TRITONBACKEND_State* nc_state(void);
TRITONBACKEND_MemoryManager* nc_memory_manager(void);
void* nc_mm_buffer(void);
TRITONBACKEND_ModelInstanceResponseStatistics* nc_response_statistics(void);
TRITONBACKEND_BackendAttribute* nc_backend_attribute(void);

/* ---- repository agent (nc_repoagent.c) ---- */
TRITONREPOAGENT_Agent* nc_agent(void);
TRITONREPOAGENT_AgentModel* nc_agent_model(void);
const char* nc_acquired_location(void);
const char* nc_agent_location(void);

/* ---- cache (nc_cache.c) ---- */
TRITONCACHE_Allocator* nc_cache_allocator(void);
TRITONCACHE_CacheEntry* nc_insert_entry(void);

#endif
