/* int_plugins: a real repository agent and a real response cache, loaded with dlopen.
 *
 *  1. Model "agented" lists the 'actionlog' agent: after a load the agent saw MODEL_INIT,
 *     LOAD (with the model's directory and configuration), LOAD_COMPLETE; after the unload
 *     UNLOAD, UNLOAD_COMPLETE, MODEL_FINI.
 *  2. Model "refused": the agent fails LOAD, so the load fails (the agent gets LOAD_FAIL),
 *     the version is not ready, and the error names the agent's message.
 *  3. Model "cached" enables the response cache ('memory' cache): the same request twice is
 *     executed once; the second response comes from the cache with the same bytes; the
 *     statistics count one hit and one miss. Another input misses.
 *  4. ServerNew fails when the cache refuses its configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_common.h"

#ifndef TC_PLUGIN_DIR
#error "TC_PLUGIN_DIR must be defined (compile definition)"
#endif

static const char* kIdentity =
    "backend: \"identity\"\n"
    "max_batch_size: 0\n"
    "input [ { name: \"INPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
    "output [ { name: \"OUTPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
    "instance_group [ { count: 1 kind: KIND_CPU } ]\n";

static TRITONSERVER_Server*
start(const char* repo, const char* cache_config, TRITONSERVER_Error** err)
{
  TRITONSERVER_ServerOptions* o = NULL;
  REQUIRE_OK(TRITONSERVER_ServerOptionsNew(&o));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetModelRepositoryPath(o, repo));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetBackendDirectory(o, TC_BACKEND_DIR));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetRepoAgentDirectory(o, TC_PLUGIN_DIR "/repoagents"));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetCacheDirectory(o, TC_PLUGIN_DIR "/caches"));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetCacheConfig(o, "memory", cache_config));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetModelControlMode(o, TRITONSERVER_MODEL_CONTROL_EXPLICIT));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetExitTimeout(o, 5));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetLogInfo(o, false));
  TRITONSERVER_Server* s = NULL;
  *err = TRITONSERVER_ServerNew(&s, o);
  REQUIRE_OK(TRITONSERVER_ServerOptionsDelete(o));
  return s;
}

/* The agent's log as one string (lines joined by ' '); malloc'd. */
static char*
read_log(const char* path)
{
  char* out = calloc(1, 4096);
  FILE* f = fopen(path, "r");
  if (f == NULL) return out;
  char line[256];
  while (fgets(line, sizeof(line), f) != NULL) {
    line[strcspn(line, "\n")] = ' ';
    strncat(out, line, 4095 - strlen(out));
  }
  fclose(f);
  size_t n = strlen(out);
  if (n > 0) out[n - 1] = '\0';
  return out;
}

static bool
wait_log(const char* path, const char* want, double timeout_s)
{
  double end = ic_now_s() + timeout_s;
  for (;;) {
    char* got = read_log(path);
    bool ok = strcmp(got, want) == 0;
    if (!ok && ic_now_s() >= end) {
      tc_fail(__FILE__, __LINE__, "agent log '%s', expected '%s'", got, want);
    }
    free(got);
    if (ok) return true;
    if (ic_now_s() >= end) return false;
    tc_sleep_ms(20);
  }
}

static long long
json_number_after(const char* json, const char* a, const char* b)
{
  const char* p = strstr(json, a);
  if (p == NULL) return -1;
  p = strstr(p, b);
  if (p == NULL) return -1;
  p += strlen(b);
  while (*p == ':' || *p == '"' || *p == ' ') ++p;
  return strtoll(p, NULL, 10);
}

/* One inference on "cached" with INPUT0 = `value` x4; checks OUTPUT0 equals it. */
static void
infer_cached(TRITONSERVER_Server* s, TRITONSERVER_ResponseAllocator* alloc, float value)
{
  float in[4] = {value, value + 1, value + 2, value + 3};
  const int64_t shape[1] = {4};
  ic_call call;
  ic_call_init(&call, true);
  TRITONSERVER_InferenceRequest* r = NULL;
  REQUIRE_OK(TRITONSERVER_InferenceRequestNew(&r, s, "cached", -1));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_FP32, shape, 1));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
      r, "INPUT0", in, sizeof(in), TRITONSERVER_MEMORY_CPU, 0));
  REQUIRE_OK(ic_set_callbacks(r, alloc, &call));
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, r, NULL));
  REQUIRE(ic_wait_done(&call, 10.0), "cached: no response");
  CHECK(call.error_responses == 0, "cached: error response '%s'", call.first_error);
  ic_output out;
  if (call.responses_seen == 1 && ic_find_output(call.responses[0], "OUTPUT0", &out)) {
    CHECK(out.byte_size == sizeof(in) && memcmp(out.base, in, sizeof(in)) == 0,
          "cached: OUTPUT0 differs from INPUT0 (%zu bytes)", out.byte_size);
    CHECK(out.dim_count == 1 && out.shape[0] == 4, "cached: OUTPUT0 shape");
  } else {
    tc_fail(__FILE__, __LINE__, "cached: %d responses, OUTPUT0 missing", call.responses_seen);
  }
  ic_call_destroy(&call);
  CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));
}

int
main(void)
{
  char* repo = tc_repo_new();
  char agent_log[1024], refused_log[1024], cfg[8192];
  snprintf(agent_log, sizeof(agent_log), "%s/agent.log", repo);
  snprintf(refused_log, sizeof(refused_log), "%s/refused.log", repo);
  snprintf(cfg, sizeof(cfg),
           "name: \"agented\"\n%smodel_repository_agents { agents [ { name: \"actionlog\" "
           "parameters { key: \"log\" value: \"%s\" } } ] }\n",
           kIdentity, agent_log);
  ic_write_model(repo, "agented", cfg);
  snprintf(cfg, sizeof(cfg),
           "name: \"refused\"\n%smodel_repository_agents { agents [ { name: \"actionlog\" "
           "parameters [ { key: \"log\" value: \"%s\" }, { key: \"fail\" value: \"LOAD\" } ] } ] }\n",
           kIdentity, refused_log);
  ic_write_model(repo, "refused", cfg);
  snprintf(cfg, sizeof(cfg), "name: \"cached\"\n%sresponse_cache { enable: true }\n", kIdentity);
  ic_write_model(repo, "cached", cfg);

  tc_note("ServerNew fails when the cache refuses its configuration");
  TRITONSERVER_Error* err = NULL;
  TRITONSERVER_Server* s = start(repo, "{\"fail\": true}", &err);
  CHECK(s == NULL, "ServerNew succeeded with a failing cache");
  if (err != NULL) {
    CHECK(strstr(TRITONSERVER_ErrorMessage(err), "memory cache: asked to fail") != NULL,
          "ServerNew error '%s'", TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
  } else {
    tc_fail(__FILE__, __LINE__, "ServerNew returned no error");
  }
  s = start(repo, "{}", &err);
  REQUIRE_OK(err);

  tc_note("repository agent lifecycle around load and unload");
  REQUIRE_OK(TRITONSERVER_ServerLoadModel(s, "agented"));
  wait_log(agent_log, "MODEL_INIT LOAD LOCATION_OK CONFIG_OK LOAD_COMPLETE", 5.0);
  CHECK(tc_model_ready(s, "agented", 1) == 1, "agented not ready");
  REQUIRE_OK(TRITONSERVER_ServerUnloadModel(s, "agented"));
  wait_log(agent_log,
           "MODEL_INIT LOAD LOCATION_OK CONFIG_OK LOAD_COMPLETE UNLOAD UNLOAD_COMPLETE MODEL_FINI",
           5.0);

  tc_note("an agent failing LOAD fails the load");
  err = TRITONSERVER_ServerLoadModel(s, "refused");
  if (CHECK(err != NULL, "load of 'refused' succeeded")) {
    CHECK(strstr(TRITONSERVER_ErrorMessage(err), "actionlog: refusing LOAD") != NULL,
          "load error '%s'", TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
  }
  wait_log(refused_log, "MODEL_INIT LOAD LOCATION_OK LOAD_FAIL MODEL_FINI", 5.0);
  CHECK(tc_model_ready(s, "refused", 1) == 0, "refused is ready");

  tc_note("response cache: a repeated request is answered from the cache");
  REQUIRE_OK(TRITONSERVER_ServerLoadModel(s, "cached"));
  TRITONSERVER_ResponseAllocator* alloc = ic_allocator_new();
  infer_cached(s, alloc, 1.5f);
  infer_cached(s, alloc, 1.5f);
  infer_cached(s, alloc, 7.0f);
  /* Backends report batch statistics (execution_count) after they release the request, so
   * the last executed request's count can lag its response: read until both executions show
   * (or 5 s pass), then once more after a pause so that a late third one would show too. */
  char* json = NULL;
  for (int attempt = 0; attempt < 100; ++attempt) {
    TRITONSERVER_Message* msg = NULL;
    REQUIRE_OK(TRITONSERVER_ServerModelStatistics(s, "cached", 1, &msg));
    free(json);
    json = tc_message_json(msg);
    CHECK_OK(TRITONSERVER_MessageDelete(msg));
    if (json == NULL ||
        json_number_after(json, "\"model_stats\"", "\"execution_count\"") >= 2) {
      break;
    }
    tc_sleep_ms(50);
  }
  tc_sleep_ms(100);
  {
    TRITONSERVER_Message* msg = NULL;
    REQUIRE_OK(TRITONSERVER_ServerModelStatistics(s, "cached", 1, &msg));
    free(json);
    json = tc_message_json(msg);
    CHECK_OK(TRITONSERVER_MessageDelete(msg));
  }
  if (json != NULL) {
    long long hits = json_number_after(json, "\"cache_hit\"", "\"count\"");
    long long misses = json_number_after(json, "\"cache_miss\"", "\"count\"");
    long long execs = json_number_after(json, "\"model_stats\"", "\"execution_count\"");
    long long success = json_number_after(json, "\"success\"", "\"count\"");
    CHECK(hits == 1 && misses == 2, "cache hits %lld misses %lld, expected 1 and 2", hits, misses);
    CHECK(execs == 2, "execution_count %lld, expected 2 (the hit is not executed)", execs);
    CHECK(success == 3, "success count %lld, expected 3", success);
    free(json);
  }
  CHECK_OK(TRITONSERVER_ResponseAllocatorDelete(alloc));

  tc_server_delete(s);
  tc_repo_remove(repo);
  return tc_finish("int_plugins");
}
