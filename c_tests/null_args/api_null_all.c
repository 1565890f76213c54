/* api_null_all: every pointer parameter of every function the headers declare, NULL, with all
 * other arguments valid (c_tests/null_args/gen_cases.py builds the case table). Expected:
 * TRITONSERVER_ERROR_INVALID_ARG naming the function and the parameter, success where NULL
 * is allowed (table column allowed_because), the documented fallback for functions that
 * return a value. Each case runs in a forked child: a crash or hang fails that case only.
 *
 * Phase 1 runs the frontend cases here; each child makes the objects it needs (a server with
 * model nc_model, a request, a response, ...). Phase 2 starts one server (in a child) whose
 * nullargs backend, repository agent and cache run the cases of their contexts from inside
 * their callbacks, appending result lines to a report file that is then read back here.
 * Every case of the table must come back with a result: a missing one fails the test.
 *
 * Environment: NC_ONLY=<substring> runs only cases whose function name contains it;
 * NC_VERBOSE=1 prints passing cases too. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "infer_common.h"
#include "nc.h"

static char* g_repo;

/* ---- frontend fixtures ---- */

static TRITONSERVER_Server*
start_server(bool plugins, TRITONSERVER_Error** err)
{
  TRITONSERVER_ServerOptions* o = NULL;
  TRITONSERVER_Error* e = TRITONSERVER_ServerOptionsNew(&o);
  if (e == NULL) e = TRITONSERVER_ServerOptionsSetModelRepositoryPath(o, g_repo);
  if (e == NULL) e = TRITONSERVER_ServerOptionsSetBackendDirectory(o, TC_BACKEND_DIR);
  if (e == NULL) {
    e = TRITONSERVER_ServerOptionsSetModelControlMode(o, TRITONSERVER_MODEL_CONTROL_EXPLICIT);
  }
  if (e == NULL) e = TRITONSERVER_ServerOptionsSetExitTimeout(o, 2);
  if (e == NULL) e = TRITONSERVER_ServerOptionsSetLogInfo(o, getenv("TC_VERBOSE") != NULL);
  if (e == NULL && !plugins) e = TRITONSERVER_ServerOptionsSetStartupModel(o, "nc_model");
  if (e == NULL && plugins) {
    e = TRITONSERVER_ServerOptionsSetRepoAgentDirectory(o, TC_PLUGIN_DIR "/repoagents");
    if (e == NULL) e = TRITONSERVER_ServerOptionsSetCacheDirectory(o, TC_PLUGIN_DIR "/caches");
    if (e == NULL) e = TRITONSERVER_ServerOptionsSetCacheConfig(o, "nullargs", "{}");
  }
  TRITONSERVER_Server* s = NULL;
  if (e == NULL) e = TRITONSERVER_ServerNew(&s, o);
  if (o != NULL) TRITONSERVER_ErrorDelete(TRITONSERVER_ServerOptionsDelete(o));
  *err = e;
  return e == NULL ? s : NULL;
}

TRITONSERVER_Server*
nc_server(void)
{
  static TRITONSERVER_Server* s;
  if (s == NULL) {
    TRITONSERVER_Error* err = NULL;
    s = start_server(false, &err);
    if (s == NULL) nc_fixture_failed("server", err);
  }
  return s;
}

static void
noop_release(TRITONSERVER_InferenceRequest* r, const uint32_t flags, void* userp)
{
  (void)r;
  (void)flags;
  (void)userp;
}

static void
noop_complete(TRITONSERVER_InferenceResponse* r, const uint32_t flags, void* userp)
{
  (void)flags;
  (void)userp;
  if (r != NULL) TRITONSERVER_ErrorDelete(TRITONSERVER_InferenceResponseDelete(r));
}

/* A request for nc_model with INPUT0 (4 x FP32) and its callbacks set. */
static TRITONSERVER_InferenceRequest*
new_request(TRITONSERVER_InferenceResponseCompleteFn_t complete, void* userp)
{
  static const int64_t shape[1] = {4};
  TRITONSERVER_InferenceRequest* r = NULL;
  TRITONSERVER_Error* err = TRITONSERVER_InferenceRequestNew(&r, nc_server(), "nc_model", -1);
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_FP32, shape, 1);
  }
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestAppendInputData(
        r, "INPUT0", nc_data(), 16, TRITONSERVER_MEMORY_CPU, 0);
  }
  if (err == NULL) err = TRITONSERVER_InferenceRequestAddRequestedOutput(r, "OUTPUT0");
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestSetReleaseCallback(r, noop_release, NULL);
  }
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestSetResponseCallback(
        r, nc_allocator(), NULL, complete, userp);
  }
  if (err != NULL) nc_fixture_failed("request", err);
  return r;
}

TRITONSERVER_InferenceRequest*
nc_request(void)
{
  static TRITONSERVER_InferenceRequest* r;
  if (r == NULL) r = new_request(noop_complete, NULL);
  return r;
}

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  TRITONSERVER_InferenceResponse* response;
  bool done;
} g_resp = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, false};

static void
keep_complete(TRITONSERVER_InferenceResponse* r, const uint32_t flags, void* userp)
{
  (void)userp;
  pthread_mutex_lock(&g_resp.mu);
  if (r != NULL && g_resp.response == NULL) {
    g_resp.response = r;
  } else if (r != NULL) {
    TRITONSERVER_ErrorDelete(TRITONSERVER_InferenceResponseDelete(r));
  }
  if (flags & TRITONSERVER_RESPONSE_COMPLETE_FINAL) g_resp.done = true;
  pthread_cond_broadcast(&g_resp.cv);
  pthread_mutex_unlock(&g_resp.mu);
}

TRITONSERVER_InferenceResponse*
nc_response(void)
{
  static TRITONSERVER_InferenceResponse* resp;
  if (resp != NULL) return resp;
  TRITONSERVER_InferenceRequest* r = new_request(keep_complete, NULL);
  TRITONSERVER_Error* err = TRITONSERVER_ServerInferAsync(nc_server(), r, NULL);
  if (err != NULL) nc_fixture_failed("response (ServerInferAsync)", err);
  double deadline = ic_now_s() + 20.0;
  pthread_mutex_lock(&g_resp.mu);
  while (!g_resp.done && ic_now_s() < deadline) {
    pthread_mutex_unlock(&g_resp.mu);
    tc_sleep_ms(5);
    pthread_mutex_lock(&g_resp.mu);
  }
  resp = g_resp.response;
  pthread_mutex_unlock(&g_resp.mu);
  if (resp == NULL) nc_fixture_failed("response (no response within 20 s)", NULL);
  err = TRITONSERVER_InferenceResponseError(resp);
  if (err != NULL) nc_fixture_failed("response (error response)", err);
  return resp;
}

TRITONSERVER_Metrics*
nc_metrics(void)
{
  static TRITONSERVER_Metrics* m;
  if (m == NULL) {
    TRITONSERVER_Error* err = TRITONSERVER_ServerMetrics(nc_server(), &m);
    if (err != NULL) nc_fixture_failed("metrics", err);
  }
  return m;
}

/* ---- phase 2: the plugin contexts ---- */

static TRITONSERVER_Error*
query_cpu(
    TRITONSERVER_ResponseAllocator* allocator, void* userp, const char* tensor_name,
    size_t* byte_size, TRITONSERVER_MemoryType* memory_type, int64_t* memory_type_id)
{
  (void)allocator;
  (void)userp;
  (void)tensor_name;
  (void)byte_size;
  *memory_type = TRITONSERVER_MEMORY_CPU;
  *memory_type_id = 0;
  return NULL;
}

/* One request to nc_seq (a sequence of one request) carrying parameter nc_run: the backend
 * runs its cases in that execution. */
static void
run_backend_cases(TRITONSERVER_Server* s)
{
  static const int64_t shape[1] = {4};
  TRITONSERVER_InferenceRequest* r = NULL;
  REQUIRE_OK(TRITONSERVER_InferenceRequestNew(&r, s, "nc_seq", -1));
  REQUIRE_OK(
      TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_FP32, shape, 1));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
      r, "INPUT0", nc_data(), 16, TRITONSERVER_MEMORY_CPU, 0));
  REQUIRE_OK(TRITONSERVER_InferenceRequestSetCorrelationId(r, 7));
  REQUIRE_OK(TRITONSERVER_InferenceRequestSetFlags(
      r, TRITONSERVER_REQUEST_FLAG_SEQUENCE_START | TRITONSERVER_REQUEST_FLAG_SEQUENCE_END));
  REQUIRE_OK(TRITONSERVER_InferenceRequestSetBoolParameter(r, "nc_run", true));
  /* With a query function, TRITONBACKEND_RequestOutputBufferProperties has an answer. */
  TRITONSERVER_ResponseAllocator* alloc = ic_allocator_new();
  REQUIRE_OK(TRITONSERVER_ResponseAllocatorSetQueryFunction(alloc, query_cpu));
  ic_call call;
  ic_call_init(&call, false);
  call.delete_on_release = true;
  REQUIRE_OK(ic_set_callbacks(r, alloc, &call));
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, r, NULL));
  CHECK(ic_wait_done(&call, 600.0), "nc_seq: no final response");
  CHECK(call.error_responses == 0, "nc_seq: error response '%s'", call.first_error);
}

/* Two identical requests to nc_cached: the first one's response is inserted into the cache,
 * whose insert runs the cache cases. */
static void
run_cache_cases(TRITONSERVER_Server* s)
{
  static const int64_t shape[1] = {4};
  TRITONSERVER_ResponseAllocator* alloc = ic_allocator_new();
  TRITONSERVER_InferenceRequest* r = NULL;
  REQUIRE_OK(TRITONSERVER_InferenceRequestNew(&r, s, "nc_cached", -1));
  REQUIRE_OK(
      TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_FP32, shape, 1));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
      r, "INPUT0", nc_data(), 16, TRITONSERVER_MEMORY_CPU, 0));
  ic_call call;
  ic_call_init(&call, false);
  call.delete_on_release = true;
  REQUIRE_OK(ic_set_callbacks(r, alloc, &call));
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, r, NULL));
  CHECK(ic_wait_done(&call, 600.0), "nc_cached: no final response");
}

/* In a child: one server with the nullargs backend, repository agent and cache. */
static void
plugin_phase_child(void* arg)
{
  (void)arg;
  setenv("NC_PLUGIN_PHASE", "1", 1);
  TRITONSERVER_Error* err = NULL;
  TRITONSERVER_Server* s = start_server(true, &err);
  if (s == NULL) {
    tc_fail(__FILE__, __LINE__, "plugin server: %s", TRITONSERVER_ErrorMessage(err));
    return;
  }
  CHECK_OK(TRITONSERVER_ServerLoadModel(s, "nc_seq"));
  run_backend_cases(s);
  CHECK_OK(TRITONSERVER_ServerLoadModel(s, "nc_agented"));
  CHECK_OK(TRITONSERVER_ServerLoadModel(s, "nc_cached"));
  run_cache_cases(s);
}

/* ---- main ---- */

static bool
selected(const nc_case* c)
{
  const char* only = getenv("NC_ONLY");
  return only == NULL || strstr(c->function, only) != NULL;
}

static void
write_models(void)
{
  static const char kIO[] =
      "backend: \"nullargs\"\n"
      "max_batch_size: 0\n"
      "input [ { name: \"INPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
      "output [ { name: \"OUTPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
      "instance_group [ { count: 1 kind: KIND_CPU } ]\n";
  char cfg[4096];
  snprintf(cfg, sizeof(cfg), "name: \"nc_model\"\n%s", kIO);
  ic_write_model(g_repo, "nc_model", cfg);
  snprintf(
      cfg, sizeof(cfg),
      "name: \"nc_seq\"\n%s"
      "sequence_batching {\n"
      "  direct { }\n"
      "  state [ { input_name: \"STATE_IN\" output_name: \"STATE_OUT\"\n"
      "            data_type: TYPE_FP32 dims: [ 1 ]\n"
      "            initial_state { data_type: TYPE_FP32 dims: [ 1 ] zero_data: true\n"
      "                            name: \"zero\" } } ]\n"
      "}\n",
      kIO);
  ic_write_model(g_repo, "nc_seq", cfg);
  snprintf(
      cfg, sizeof(cfg),
      "name: \"nc_agented\"\n%s"
      "model_repository_agents { agents [ { name: \"nullargs\" } ] }\n",
      kIO);
  ic_write_model(g_repo, "nc_agented", cfg);
  snprintf(cfg, sizeof(cfg), "name: \"nc_cached\"\n%sresponse_cache { enable: true }\n", kIO);
  ic_write_model(g_repo, "nc_cached", cfg);
}

/* Read the plugin report: mark each case that has a result line; count failures. */
static void
read_report(const char* path, bool* seen, int* failed, bool verbose)
{
  FILE* f = fopen(path, "r");
  if (f == NULL) {
    tc_fail(__FILE__, __LINE__, "no report file %s", path);
    return;
  }
  char line[2048];
  while (fgets(line, sizeof(line), f) != NULL) {
    char status[8], fn[160], param[160];
    if (sscanf(line, "%7s %159s %159s", status, fn, param) != 3) continue;
    if (strcmp(status, "PASS") != 0 && strcmp(status, "FAIL") != 0) continue;
    for (size_t i = 0; i < nc_case_count; ++i) {
      if (strcmp(nc_cases[i].function, fn) == 0 && strcmp(nc_cases[i].param, param) == 0) {
        if (seen[i]) break; /* a context that ran twice: the first result counts */
        seen[i] = true;
        if (strcmp(status, "FAIL") == 0) {
          (*failed)++;
          tc_fail(__FILE__, __LINE__, "%s", strtok(line, "\n"));
        } else if (verbose) {
          fputs(line, stdout);
        }
        break;
      }
    }
  }
  fclose(f);
}

int
main(void)
{
  bool verbose = getenv("NC_VERBOSE") != NULL;
  g_repo = tc_repo_new();
  char* empty = tc_repo_new();
  setenv("NC_DIR", empty, 1);
  write_models();
  char report[4096];
  snprintf(report, sizeof(report), "%s/nc_report.txt", empty);
  setenv("NC_REPORT", report, 1);

  bool* seen = calloc(nc_case_count, sizeof(bool));
  int failed = 0;
  size_t per_ctx[NC_CTX_COUNT] = {0};
  for (size_t i = 0; i < nc_case_count; ++i) per_ctx[nc_cases[i].context]++;
  tc_note(
      "%zu cases over %zu functions: frontend %zu, backend %zu, backend_attr %zu, "
      "repoagent %zu, cache %zu",
      nc_case_count, nc_function_count, per_ctx[NC_CTX_FRONTEND], per_ctx[NC_CTX_BACKEND],
      per_ctx[NC_CTX_BACKEND_ATTR], per_ctx[NC_CTX_REPOAGENT], per_ctx[NC_CTX_CACHE]);

  /* Phase 1: frontend cases. */
  for (size_t i = 0; i < nc_case_count; ++i) {
    const nc_case* c = &nc_cases[i];
    if (c->context != NC_CTX_FRONTEND) continue;
    if (!selected(c)) {
      seen[i] = true;
      continue;
    }
    FILE* out = tmpfile();
    bool ok = nc_run_case(c, out != NULL ? out : stdout, 60);
    seen[i] = true;
    char line[2048] = "";
    if (out != NULL) {
      rewind(out);
      if (fgets(line, sizeof(line), out) == NULL) line[0] = '\0';
      fclose(out);
    }
    if (!ok) {
      failed++;
      tc_fail(__FILE__, __LINE__, "%s", strtok(line, "\n") != NULL ? line : "(no result)");
    } else if (verbose) {
      fputs(line, stdout);
    }
  }

  /* Phase 2: plugin contexts, inside one server in a child. */
  tc_run_forked("plugin phase: server child", plugin_phase_child, NULL, 0);
  read_report(report, seen, &failed, verbose);
  for (size_t i = 0; i < nc_case_count; ++i) {
    if (!seen[i] && selected(&nc_cases[i])) {
      failed++;
      tc_fail(__FILE__, __LINE__, "FAIL %s %s [%s]: not run (no result from its context)",
              nc_cases[i].function, nc_cases[i].param,
              nc_context_name(nc_cases[i].context));
    }
  }
  tc_note("%zu cases, %d failed", nc_case_count, failed);
  free(seen);
  if (getenv("TC_KEEP_REPO") == NULL) {
    tc_repo_remove(empty);
    tc_repo_remove(g_repo);
  }
  return tc_finish("api_null_all");
}
