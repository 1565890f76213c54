/* int_unload_inflight: unloading a model while requests are in flight.
 *
 * Part 1 (identity "slow", 2 instances, delay_ms = 300): 4 requests are sent, then
 * ServerUnloadModel right away.
 *   - UnloadModel returns quickly (upstream: asynchronous);
 *   - every request still completes: a FINAL response and exactly one release;
 *   - the model shows UNAVAILABLE "unloaded" in the repository index only after all four
 *     were released (polled every 5 ms);
 *   - ServerIsReady / ServerModelIsReady calls made meanwhile each take < 50 ms;
 *   - new requests for the model are refused synchronously once the unload started (the
 *     caller keeps the request);
 *   - loading it again serves requests again.
 * The test behaves as a real frontend: responses are deleted on arrival (their data checked
 * first) and requests in their release callback, since upstream a request or response
 * object still held keeps its model alive.
 * Part 2 (identity "stuck" with the request parameter hold = true: the backend neither
 * responds nor releases): the unload still finishes within the server exit timeout
 * (2 s here, checked with 6 s of slack), readiness stays fast, the held request gets no
 * callback, and ServerDelete returns in bounded time. The version is marked UNAVAILABLE
 * ("unloaded") at the exit timeout but never finalized under the backend, which still holds
 * the request, so ServerDelete reports "Exit timeout expired" as upstream's Stop does (the
 * real 2.51 core stays UNLOADING forever and fails ServerDelete the same way). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_common.h"

#define NREQ 4
#define READY_LIMIT_MS 50.0

static TRITONSERVER_ResponseAllocator* alloc;
static double worst_ready_ms = 0;
static int ready_calls = 0;

static const char* kConfigFmt =
    "name: \"%s\"\n"
    "backend: \"identity\"\n"
    "max_batch_size: 0\n"
    "input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [ 1 ] } ]\n"
    "output [ { name: \"OUTPUT0\" data_type: TYPE_INT32 dims: [ 1 ] } ]\n"
    "instance_group [ { count: 2 kind: KIND_CPU } ]\n";

static void
write_identity(const char* repo, const char* name)
{
  char cfg[1024];
  snprintf(cfg, sizeof(cfg), kConfigFmt, name);
  ic_write_model(repo, name, cfg);
}

/* Time the readiness calls once; report any slow one. */
static void
probe_readiness(TRITONSERVER_Server* s, const char* model, const char* step)
{
  const char* what[3] = {"ServerIsReady", "ServerModelIsReady(other)", "ServerModelIsReady"};
  for (int i = 0; i < 3; ++i) {
    bool ready = false;
    double t0 = ic_now_s();
    TRITONSERVER_Error* err =
        i == 0 ? TRITONSERVER_ServerIsReady(s, &ready)
               : TRITONSERVER_ServerModelIsReady(s, i == 1 ? "other" : model, -1, &ready);
    double ms = (ic_now_s() - t0) * 1000.0;
    TRITONSERVER_ErrorDelete(err);
    ready_calls++;
    if (ms > worst_ready_ms) {
      worst_ready_ms = ms;
    }
    CHECK(ms < READY_LIMIT_MS, "[%s] %s took %.1f ms (limit %.0f)", step, what[i], ms,
          READY_LIMIT_MS);
    if (i == 1) {
      CHECK(err == NULL && ready, "[%s] model 'other' not ready", step);
    }
  }
}

/* State / reason of version 1 of `model` in the repository index ("" if absent). */
static void
index_state(TRITONSERVER_Server* s, const char* model, char* state, size_t n, char* reason,
            size_t rn)
{
  state[0] = reason[0] = '\0';
  TRITONSERVER_Message* msg = NULL;
  if (!CHECK_OK(TRITONSERVER_ServerModelIndex(s, 0, &msg))) {
    return;
  }
  char* json = tc_message_json(msg);
  CHECK_OK(TRITONSERVER_MessageDelete(msg));
  if (json == NULL) {
    return;
  }
  char needle[128];
  snprintf(needle, sizeof(needle), "\"name\":\"%s\"", model);
  char* obj = tc_json_object_with(json, needle);
  if (obj != NULL) {
    const char* p = strstr(obj, "\"state\":\"");
    if (p != NULL) {
      p += 9;
      snprintf(state, n, "%.*s", (int)strcspn(p, "\""), p);
    }
    p = strstr(obj, "\"reason\":\"");
    if (p != NULL) {
      p += 10;
      snprintf(reason, rn, "%.*s", (int)strcspn(p, "\""), p);
    }
    free(obj);
  }
  free(json);
}

static TRITONSERVER_InferenceRequest*
make_request(TRITONSERVER_Server* s, const char* model, const int32_t* value, ic_call* call,
             int64_t delay_ms, bool hold, TRITONSERVER_Error** err)
{
  const int64_t shape[1] = {1};
  TRITONSERVER_InferenceRequest* r = NULL;
  *err = TRITONSERVER_InferenceRequestNew(&r, s, model, -1);
  if (*err != NULL) {
    return NULL;
  }
  REQUIRE_OK(TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_INT32, shape, 1));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
      r, "INPUT0", value, sizeof(*value), TRITONSERVER_MEMORY_CPU, 0));
  if (delay_ms > 0) {
    REQUIRE_OK(TRITONSERVER_InferenceRequestSetIntParameter(r, "delay_ms", delay_ms));
  }
  if (hold) {
    REQUIRE_OK(TRITONSERVER_InferenceRequestSetBoolParameter(r, "hold", true));
  }
  REQUIRE_OK(ic_set_callbacks(r, alloc, call));
  return r;
}

static int
count_done(ic_call* calls, int n)
{
  int done = 0;
  for (int i = 0; i < n; ++i) {
    pthread_mutex_lock(&calls[i].mu);
    done += (calls[i].finals >= 1 && calls[i].releases >= 1) ? 1 : 0;
    pthread_mutex_unlock(&calls[i].mu);
  }
  return done;
}

static void
part1(TRITONSERVER_Server* s)
{
  tc_note("part 1: unload with %d requests in flight (delay_ms 300)", NREQ);
  static int32_t values[NREQ];
  ic_call calls[NREQ];
  TRITONSERVER_InferenceRequest* reqs[NREQ];
  for (int i = 0; i < NREQ; ++i) {
    values[i] = 100 + i;
    /* As a real frontend: responses deleted on arrival (checked first), requests deleted
     * in the release callback. Upstream, a request or response object the frontend still
     * holds keeps its model alive (UNLOADING). */
    ic_call_init(&calls[i], false);
    calls[i].delete_on_release = true;
    calls[i].check_output = "OUTPUT0";
    calls[i].check_data = &values[i];
    calls[i].check_size = sizeof(values[i]);
    TRITONSERVER_Error* err = NULL;
    reqs[i] = make_request(s, "slow", &values[i], &calls[i], 300, false, &err);
    REQUIRE_OK(err);
  }
  for (int i = 0; i < NREQ; ++i) {
    REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, reqs[i], NULL));
  }
  double t0 = ic_now_s();
  CHECK_OK(TRITONSERVER_ServerUnloadModel(s, "slow"));
  double unload_ms = (ic_now_s() - t0) * 1000.0;
  tc_note("UnloadModel returned after %.1f ms", unload_ms);
  CHECK(unload_ms < 200.0, "UnloadModel took %.1f ms: it should not wait for the requests",
        unload_ms);

  /* New requests are refused synchronously now. */
  static int32_t late_value = 7;
  ic_call late;
  ic_call_init(&late, true);
  TRITONSERVER_Error* err = NULL;
  TRITONSERVER_InferenceRequest* lr = make_request(s, "slow", &late_value, &late, 0, false, &err);
  if (lr == NULL) {
    tc_note("InferenceRequestNew during unload: %s: %s", TRITONSERVER_ErrorCodeString(err),
            TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
  } else {
    err = TRITONSERVER_ServerInferAsync(s, lr, NULL);
    if (err != NULL) {
      tc_note("InferAsync during unload: %s: %s", TRITONSERVER_ErrorCodeString(err),
              TRITONSERVER_ErrorMessage(err));
      TRITONSERVER_ErrorDelete(err);
      tc_sleep_ms(20);
      CHECK(late.callbacks == 0 && late.releases == 0,
            "refused request got %d response / %d release callbacks", late.callbacks,
            late.releases);
      CHECK_OK(TRITONSERVER_InferenceRequestDelete(lr));
    } else {
      /* Accepted: then it must complete like the others. */
      tc_note("a request sent after UnloadModel was accepted");
      CHECK(ic_wait_done(&late, 10.0), "late request accepted but never completed");
      CHECK_OK(TRITONSERVER_InferenceRequestDelete(lr));
    }
  }
  ic_call_destroy(&late);

  /* Poll the index until "unloaded"; check the requests were all done by then. */
  char state[64], reason[256], last_state[64] = "";
  double deadline = ic_now_s() + 10.0;
  bool unloaded = false;
  int done_at_unloaded = -1;
  while (ic_now_s() < deadline) {
    probe_readiness(s, "slow", "part 1");
    int done_before = count_done(calls, NREQ);
    index_state(s, "slow", state, sizeof(state), reason, sizeof(reason));
    if (strcmp(state, last_state) != 0) {
      tc_note("t=+%.0f ms: slow is %s%s%s (%d/%d requests done)", (ic_now_s() - t0) * 1000.0,
              state, reason[0] ? " / " : "", reason, done_before, NREQ);
      snprintf(last_state, sizeof(last_state), "%s", state);
    }
    if (strcmp(state, "UNAVAILABLE") == 0) {
      unloaded = true;
      done_at_unloaded = done_before;
      CHECK(strcmp(reason, "unloaded") == 0, "reason '%s', expected 'unloaded'", reason);
      break;
    }
    tc_sleep_ms(5);
  }
  CHECK(unloaded, "slow never reached UNAVAILABLE within 10 s (last state %s)", last_state);
  CHECK(done_at_unloaded == NREQ,
        "slow reached UNAVAILABLE with only %d of %d requests released", done_at_unloaded, NREQ);
  for (int i = 0; i < NREQ; ++i) {
    char step[32];
    snprintf(step, sizeof(step), "in-flight %d", i);
    if (!CHECK(ic_wait_done(&calls[i], 10.0), "[%s] no FINAL + release", step)) {
      continue;
    }
    tc_sleep_ms(5);
    CHECK(calls[i].releases == 1 && calls[i].finals == 1 && calls[i].after_final == 0,
          "[%s] releases %d finals %d after_final %d", step, calls[i].releases, calls[i].finals,
          calls[i].after_final);
    CHECK(calls[i].error_responses == 0, "[%s] error response: %s", step,
          calls[i].first_error);
    CHECK(calls[i].responses_seen == 1 && calls[i].check_failures == 0,
          "[%s] %d responses, %d with wrong OUTPUT0 data", step, calls[i].responses_seen,
          calls[i].check_failures);
    ic_call_destroy(&calls[i]);
  }

  /* Load again: it serves again. */
  CHECK_OK(TRITONSERVER_ServerLoadModel(s, "slow"));
  CHECK(tc_model_ready(s, "slow", 1) == 1, "slow not ready after reload");
  ic_call again;
  ic_call_init(&again, true);
  static int32_t v = 55;
  TRITONSERVER_InferenceRequest* r = make_request(s, "slow", &v, &again, 0, false, &err);
  if (CHECK(r != NULL, "InferenceRequestNew after reload failed")) {
    CHECK_OK(TRITONSERVER_ServerInferAsync(s, r, NULL));
    CHECK(ic_wait_done(&again, 10.0), "request after reload never completed");
    CHECK(again.error_responses == 0, "request after reload: error %s", again.first_error);
    CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));
  } else {
    TRITONSERVER_ErrorDelete(err);
  }
  ic_call_destroy(&again);
}

static void
part2(TRITONSERVER_Server* s)
{
  tc_note("part 2: unload while the backend holds a request forever");
  static int32_t hv = 1, nv = 2;
  static ic_call held, normal; /* static: the held call may never finish */
  ic_call_init(&held, true);
  ic_call_init(&normal, false);
  normal.delete_on_release = true;
  TRITONSERVER_Error* err = NULL;
  TRITONSERVER_InferenceRequest* hr = make_request(s, "stuck", &hv, &held, 0, true, &err);
  REQUIRE_OK(err);
  TRITONSERVER_InferenceRequest* nr = make_request(s, "stuck", &nv, &normal, 100, false, &err);
  REQUIRE_OK(err);
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, hr, NULL));
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, nr, NULL));
  tc_sleep_ms(50);
  double t0 = ic_now_s();
  CHECK_OK(TRITONSERVER_ServerUnloadModel(s, "stuck"));
  char state[64], reason[256], last_state[64] = "";
  bool unloaded = false;
  while (ic_now_s() < t0 + 8.0) {
    probe_readiness(s, "stuck", "part 2");
    index_state(s, "stuck", state, sizeof(state), reason, sizeof(reason));
    if (strcmp(state, last_state) != 0) {
      tc_note("t=+%.0f ms: stuck is %s%s%s", (ic_now_s() - t0) * 1000.0, state,
              reason[0] ? " / " : "", reason);
      snprintf(last_state, sizeof(last_state), "%s", state);
    }
    if (strcmp(state, "UNAVAILABLE") == 0) {
      unloaded = true;
      break;
    }
    tc_sleep_ms(10);
  }
  double took = ic_now_s() - t0;
  CHECK(unloaded, "stuck still %s %.1f s after UnloadModel (exit timeout 2 s)", last_state,
        took);
  if (unloaded) {
    tc_note("stuck unloaded after %.2f s (exit timeout 2 s)", took);
  }
  CHECK(ic_wait_done(&normal, 5.0), "the normal request next to the held one never completed");
  CHECK(normal.error_responses == 0, "normal request: error %s", normal.first_error);
  (void)nr; /* deleted by its release callback */
  CHECK(held.callbacks == 0 && held.releases == 0,
        "held request got %d response / %d release callbacks (the backend never gave it back)",
        held.callbacks, held.releases);
  /* hr is leaked on purpose: the backend still owns it. */
}

int
main(void)
{
  char* repo = tc_repo_new();
  write_identity(repo, "slow");
  write_identity(repo, "other");
  write_identity(repo, "stuck");
  const char* startup[] = {"slow", "other", "stuck", NULL};
  tc_server_config config = {
      .repo = repo,
      .control_mode = TRITONSERVER_MODEL_CONTROL_EXPLICIT,
      .strict_readiness = true,
      .startup_models = startup,
      .exit_timeout_s = 2,
  };
  TRITONSERVER_Server* s = tc_server_start(&config, NULL);
  REQUIRE(tc_server_ready(s) == 1, "server not ready");
  alloc = ic_allocator_new();

  part1(s);
  part2(s);
  tc_note("readiness: %d calls, slowest %.2f ms", ready_calls, worst_ready_ms);

  double t0 = ic_now_s();
  TRITONSERVER_Error* derr = TRITONSERVER_ServerDelete(s);
  double del = ic_now_s() - t0;
  CHECK(derr != NULL && TRITONSERVER_ErrorCode(derr) == TRITONSERVER_ERROR_INTERNAL &&
            strstr(TRITONSERVER_ErrorMessage(derr), "Exit timeout expired") != NULL,
        "ServerDelete with a request held forever: expected INTERNAL \"Exit timeout expired\"");
  if (derr != NULL) {
    TRITONSERVER_ErrorDelete(derr);
  }
  tc_note("ServerDelete took %.2f s", del);
  CHECK(del < 10.0, "ServerDelete took %.1f s", del);
  long a = atomic_load(&ic_alloc_count), rel = atomic_load(&ic_release_count);
  CHECK(a == rel, "allocator: %ld allocations but %ld releases", a, rel);
  CHECK_OK(TRITONSERVER_ResponseAllocatorDelete(alloc));
  tc_repo_remove(repo);
  return tc_finish("int_unload_inflight");
}
