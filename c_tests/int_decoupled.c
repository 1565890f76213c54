/* int_decoupled: the decoupled 'repeat' backend (responses sent from another thread
 * after the request was released, through a response factory).
 *
 *  1. n = 3 → three responses with OUT = 0, 1, 2 (no FINAL flag on them), then FINAL
 *     (a NULL response is allowed with it); the release callback exactly once, with
 *     RELEASE_ALL and the request pointer; nothing after FINAL.
 *  2. n = 0 → only the FINAL flag (no response object).
 *  3. The same request object reused (n = 2), and 4 requests in flight at once (n = 5,
 *     2 ms apart each).
 *  5. Unload while a response stream is running (n = 5, 100 ms apart, the request
 *     already released): every response and FINAL still arrive, the model is UNAVAILABLE
 *     only after FINAL, and the backend's instance is not finalized while its response
 *     factory is alive (upstream: the factory keeps the model alive; the repeat backend
 *     writes <model_dir>/FINALIZED_WITH_ACTIVE_FACTORIES otherwise).
 *  4. TRITONSERVER_ServerModelTransactionProperties, if exported (looked up with
 *     dlsym(RTLD_DEFAULT) since our header may not declare it): DECOUPLED for repeat,
 *     ONE_TO_ONE for identity. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_common.h"

static const char* kRepeatConfig =
    "name: \"repeat\"\n"
    "backend: \"repeat\"\n"
    "max_batch_size: 0\n"
    "model_transaction_policy { decoupled: true }\n"
    "input [ { name: \"IN\" data_type: TYPE_INT32 dims: [ 1 ] },\n"
    "        { name: \"DELAY\" data_type: TYPE_INT32 dims: [ 1 ] optional: true } ]\n"
    "output [ { name: \"OUT\" data_type: TYPE_INT32 dims: [ 1 ] } ]\n"
    "instance_group [ { count: 2 kind: KIND_CPU } ]\n";

static const char* kIdentityConfig =
    "name: \"ident\"\n"
    "backend: \"identity\"\n"
    "max_batch_size: 0\n"
    "input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [ 1 ] } ]\n"
    "output [ { name: \"OUTPUT0\" data_type: TYPE_INT32 dims: [ 1 ] } ]\n"
    "instance_group [ { count: 1 kind: KIND_CPU } ]\n";

static TRITONSERVER_ResponseAllocator* alloc;

typedef struct repeat_req {
  int32_t n, delay;
  ic_call call;
  TRITONSERVER_InferenceRequest* r;
} repeat_req;

static void
repeat_new(TRITONSERVER_Server* s, repeat_req* q, int32_t n, int32_t delay)
{
  const int64_t shape[1] = {1};
  q->n = n;
  q->delay = delay;
  ic_call_init(&q->call, true);
  REQUIRE_OK(TRITONSERVER_InferenceRequestNew(&q->r, s, "repeat", -1));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAddInput(q->r, "IN", TRITONSERVER_TYPE_INT32, shape, 1));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
      q->r, "IN", &q->n, sizeof(q->n), TRITONSERVER_MEMORY_CPU, 0));
  if (delay > 0) {
    REQUIRE_OK(
        TRITONSERVER_InferenceRequestAddInput(q->r, "DELAY", TRITONSERVER_TYPE_INT32, shape, 1));
    REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(
        q->r, "DELAY", &q->delay, sizeof(q->delay), TRITONSERVER_MEMORY_CPU, 0));
  }
  REQUIRE_OK(ic_set_callbacks(q->r, alloc, &q->call));
}

/* Check a finished call: n responses OUT = 0..n-1, then FINAL, one release. */
static void
check_repeat(repeat_req* q, const char* step)
{
  ic_call* c = &q->call;
  /* Give stray late callbacks a moment to show up. */
  tc_sleep_ms(50);
  pthread_mutex_lock(&c->mu);
  CHECK(c->releases == 1, "[%s] %d release callbacks, expected 1", step, c->releases);
  CHECK(c->release_flags == TRITONSERVER_REQUEST_RELEASE_ALL, "[%s] release flags %u", step,
        c->release_flags);
  CHECK(c->released == q->r, "[%s] release callback got %p, expected %p", step,
        (void*)c->released, (void*)q->r);
  CHECK(c->finals == 1, "[%s] %d FINAL callbacks, expected 1", step, c->finals);
  CHECK(c->after_final == 0, "[%s] %d callbacks after FINAL", step, c->after_final);
  CHECK(c->error_responses == 0, "[%s] error response: %s", step, c->first_error);
  int with_data = 0;
  for (int i = 0; i < c->responses_seen && i < IC_MAX_RESPONSES; ++i) {
    TRITONSERVER_InferenceResponse* resp = c->responses[i];
    bool final = (c->flags[i] & TRITONSERVER_RESPONSE_COMPLETE_FINAL) != 0;
    uint32_t count = 0;
    CHECK_OK(TRITONSERVER_InferenceResponseOutputCount(resp, &count));
    if (final && count == 0) {
      continue; /* an empty final response is allowed in place of the flag alone */
    }
    CHECK(!final || i == c->responses_seen - 1, "[%s] FINAL on response %d of %d", step, i,
          c->responses_seen);
    ic_output o;
    if (CHECK(ic_find_output(resp, "OUT", &o), "[%s] response %d has no OUT", step, i)) {
      CHECK(o.datatype == TRITONSERVER_TYPE_INT32 && o.byte_size == 4 && o.dim_count == 1 &&
                o.shape[0] == 1,
            "[%s] response %d: OUT properties wrong", step, i);
      int32_t v = -1;
      memcpy(&v, o.base, 4);
      CHECK(v == with_data, "[%s] response %d: OUT = %d, expected %d", step, i, (int)v,
            with_data);
    }
    const char* model = NULL;
    int64_t version = 0;
    CHECK_OK(TRITONSERVER_InferenceResponseModel(resp, &model, &version));
    CHECK(model && strcmp(model, "repeat") == 0 && version == 1, "[%s] response model wrong",
          step);
    with_data++;
  }
  CHECK(with_data == q->n, "[%s] %d responses with data, expected %d", step, with_data, q->n);
  tc_note("[%s] %d callbacks: %d responses, %d NULL (FINAL) ones", step, c->callbacks,
          c->responses_seen, c->null_responses);
  pthread_mutex_unlock(&c->mu);
}

static void
repeat_free(repeat_req* q)
{
  CHECK_OK(TRITONSERVER_InferenceRequestDelete(q->r));
  ic_call_destroy(&q->call);
}

/* "state" of version 1 of `model` in the repository index ("" if absent). */
static void
index_state(TRITONSERVER_Server* s, const char* model, char* state, size_t n)
{
  state[0] = '\0';
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
  const char* p = obj ? strstr(obj, "\"state\":\"") : NULL;
  if (p != NULL) {
    p += 9;
    snprintf(state, n, "%.*s", (int)strcspn(p, "\""), p);
  }
  free(obj);
  free(json);
}

static void
unload_while_streaming(TRITONSERVER_Server* s, const char* repo)
{
  tc_note("unload while streaming (n = 5, 100 ms apart)");
  repeat_req q;
  repeat_new(s, &q, 5, 100);
  /* Responses are deleted as they arrive (keep = false) and the request is deleted right
   * after its release: nothing held by this frontend keeps the model alive (upstream, a
   * request or response object holds a reference to its model). */
  q.call.keep = false;
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, q.r, NULL));
  /* Wait for the release: the stream then runs from the backend's thread. */
  REQUIRE(ic_wait_counts(&q.call, 0, 1, 10.0), "no release within 10 s");
  CHECK_OK(TRITONSERVER_InferenceRequestDelete(q.r));
  q.r = NULL;
  double t0 = ic_now_s();
  CHECK_OK(TRITONSERVER_ServerUnloadModel(s, "repeat"));
  bool final_seen_at_unavailable = false, unavailable = false;
  char state[64], last[64] = "";
  while (ic_now_s() < t0 + 15.0) {
    pthread_mutex_lock(&q.call.mu);
    bool final = q.call.finals > 0;
    pthread_mutex_unlock(&q.call.mu);
    index_state(s, "repeat", state, sizeof(state));
    if (strcmp(state, last) != 0) {
      tc_note("t=+%.0f ms: repeat is %s (FINAL %s)", (ic_now_s() - t0) * 1000.0, state,
              final ? "received" : "not yet");
      snprintf(last, sizeof(last), "%s", state);
    }
    if (strcmp(state, "UNAVAILABLE") == 0) {
      unavailable = true;
      final_seen_at_unavailable = final;
      break;
    }
    tc_sleep_ms(5);
  }
  CHECK(unavailable, "repeat not UNAVAILABLE 15 s after UnloadModel (last %s)", last);
  CHECK(!unavailable || final_seen_at_unavailable,
        "repeat was UNAVAILABLE before its response stream ended (FINAL not yet sent)");
  if (CHECK(ic_wait_done(&q.call, 10.0), "[unload stream] no FINAL within 10 s")) {
    tc_sleep_ms(50);
    CHECK(q.call.responses_seen == 5 && q.call.error_responses == 0 && q.call.finals == 1 &&
              q.call.after_final == 0 && q.call.releases == 1,
          "[unload stream] %d responses (%d errors: %s), %d FINAL, %d after FINAL, %d "
          "releases; expected 5, 0, 1, 0, 1",
          q.call.responses_seen, q.call.error_responses, q.call.first_error, q.call.finals,
          q.call.after_final, q.call.releases);
  }
  ic_call_destroy(&q.call);
  char path[4096];
  snprintf(path, sizeof(path), "%s/repeat/FINALIZED_WITH_ACTIVE_FACTORIES", repo);
  FILE* f = fopen(path, "r");
  if (f != NULL) {
    char line[256] = "";
    if (fgets(line, sizeof(line), f) == NULL) {
      line[0] = '\0';
    }
    line[strcspn(line, "\n")] = '\0';
    fclose(f);
    tc_fail(__FILE__, __LINE__,
            "the core finalized a repeat instance while its response factory was still "
            "alive (%s); upstream keeps the model alive until the last factory is deleted",
            line);
  }
}

typedef TRITONSERVER_Error* (*txn_fn)(TRITONSERVER_Server*, const char*, int64_t, uint32_t*,
                                      void**);

int
main(void)
{
  char* repo = tc_repo_new();
  ic_write_model(repo, "repeat", kRepeatConfig);
  ic_write_model(repo, "ident", kIdentityConfig);
  const char* startup[] = {"repeat", "ident", NULL};
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

  tc_note("n = 3");
  repeat_req q;
  repeat_new(s, &q, 3, 20);
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, q.r, NULL));
  if (CHECK(ic_wait_done(&q.call, 10.0), "[n=3] no FINAL + release within 10 s")) {
    check_repeat(&q, "n=3");
  }

  tc_note("request reuse, n = 2");
  ic_call_reset(&q.call);
  q.n = 2; /* the input buffer points at q.n */
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, q.r, NULL));
  if (CHECK(ic_wait_done(&q.call, 10.0), "[reuse] no FINAL + release within 10 s")) {
    check_repeat(&q, "reuse n=2");
  }
  repeat_free(&q);

  tc_note("n = 0");
  repeat_new(s, &q, 0, 0);
  REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, q.r, NULL));
  if (CHECK(ic_wait_done(&q.call, 10.0), "[n=0] no FINAL + release within 10 s")) {
    check_repeat(&q, "n=0");
    CHECK(q.call.callbacks == 1, "[n=0] %d response callbacks, expected only the FINAL one",
          q.call.callbacks);
  }
  repeat_free(&q);

  tc_note("4 requests in flight");
  repeat_req many[4];
  for (int i = 0; i < 4; ++i) {
    repeat_new(s, &many[i], 5, 2);
  }
  for (int i = 0; i < 4; ++i) {
    REQUIRE_OK(TRITONSERVER_ServerInferAsync(s, many[i].r, NULL));
  }
  for (int i = 0; i < 4; ++i) {
    char step[32];
    snprintf(step, sizeof(step), "many[%d]", i);
    if (CHECK(ic_wait_done(&many[i].call, 10.0), "[%s] no FINAL + release within 10 s", step)) {
      check_repeat(&many[i], step);
    }
    repeat_free(&many[i]);
  }

  /* Statistics: 1+1+1+4 successful executions reported by the backend. */
  TRITONSERVER_Message* msg = NULL;
  if (CHECK_OK(TRITONSERVER_ServerModelStatistics(s, "repeat", -1, &msg))) {
    char* json = tc_message_json(msg);
    if (json != NULL) {
      CHECK(strstr(json, "\"success\":{\"count\":7") != NULL,
            "repeat stats: success.count is not 7: %s", json);
      free(json);
    }
    CHECK_OK(TRITONSERVER_MessageDelete(msg));
  }

  txn_fn txn = (txn_fn)dlsym(RTLD_DEFAULT, "TRITONSERVER_ServerModelTransactionProperties");
  if (txn == NULL) {
    tc_note("TRITONSERVER_ServerModelTransactionProperties not exported: skipped");
  } else {
    uint32_t flags = 0;
    void* voidp = (void*)1;
    if (CHECK_OK(txn(s, "repeat", -1, &flags, &voidp))) {
      CHECK(flags == TRITONSERVER_TXN_DECOUPLED, "repeat txn flags %u, expected DECOUPLED (%d)",
            flags, (int)TRITONSERVER_TXN_DECOUPLED);
    }
    flags = 0;
    if (CHECK_OK(txn(s, "ident", -1, &flags, &voidp))) {
      CHECK(flags == TRITONSERVER_TXN_ONE_TO_ONE,
            "ident txn flags %u, expected ONE_TO_ONE (%d)", flags,
            (int)TRITONSERVER_TXN_ONE_TO_ONE);
    }
    TRITONSERVER_Error* err = txn(s, "nosuchmodel", -1, &flags, &voidp);
    CHECK(err != NULL, "ModelTransactionProperties(unknown model) succeeded");
    TRITONSERVER_ErrorDelete(err);
  }

  unload_while_streaming(s, repo);

  long a = atomic_load(&ic_alloc_count), rel = atomic_load(&ic_release_count);
  CHECK(a == rel, "allocator: %ld allocations but %ld releases", a, rel);
  CHECK(a == 3 + 2 + 20 + 5, "allocator: %ld allocations, expected %d", a, 30);
  CHECK_OK(TRITONSERVER_ResponseAllocatorDelete(alloc));
  tc_server_delete(s);
  tc_repo_remove(repo);
  return tc_finish("int_decoupled");
}
