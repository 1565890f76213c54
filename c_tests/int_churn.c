/* int_churn (issue 4): inference, health checks and model load / unload all at once, for
 * TC_CHURN_SECONDS seconds (default 5). EXPLICIT model control, strict readiness.
 *
 *  - 4 inference threads in a closed loop (one request in flight each): threads 0 and 1
 *    infer the identity model "stable"; threads 2 and 3 alternate between "stable" and
 *    the churned identity model "churn". A request for "churn" may be refused
 *    synchronously (InferenceRequestNew / InferAsync error: the caller keeps it) or get an
 *    error response; once accepted it must complete.
 *  - 1 thread calls ServerIsReady and ServerModelIsReady("stable") every 1 ms and records
 *    each call's latency.
 *  - 1 thread loads and unloads "churn" in a tight loop.
 *
 * Pass: no crash, no lost response (every accepted request gets exactly one FINAL response
 * callback and exactly one release callback, within 10 s), no error response from
 * "stable", "stable" always ready, every LoadModel succeeds, no readiness call above 1 s,
 * allocator balanced. Prints request counts and readiness latency p50 / p99 / max. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_common.h"

#define NINFER 4

static const char* kConfigFmt =
    "name: \"%s\"\n"
    "backend: \"identity\"\n"
    "max_batch_size: 0\n"
    "input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [ 2 ] } ]\n"
    "output [ { name: \"OUTPUT0\" data_type: TYPE_INT32 dims: [ 2 ] } ]\n"
    "instance_group [ { count: %d kind: KIND_CPU } ]\n";

static TRITONSERVER_Server* server;
static TRITONSERVER_ResponseAllocator* alloc;
static atomic_bool stop_flag;

/* Request counters. */
static atomic_long n_sent, n_refused_new, n_refused_infer, n_ok, n_err_stable, n_err_churn,
    n_lost, n_bad_callbacks, n_bad_data;
/* Readiness. */
static atomic_long n_ready_calls, n_ready_errors, n_stable_not_ready, n_server_not_ready;
/* Churn. */
static atomic_long n_loads, n_unloads, n_load_errors, n_unload_errors;

static void
write_identity(const char* repo, const char* name, int instances)
{
  char cfg[1024];
  snprintf(cfg, sizeof(cfg), kConfigFmt, name, instances);
  ic_write_model(repo, name, cfg);
}

static void*
infer_thread(void* arg)
{
  long id = (long)(intptr_t)arg;
  int32_t data[2];
  const int64_t shape[1] = {2};
  ic_call* call = malloc(sizeof(ic_call));
  ic_call_init(call, true);
  long iter = 0;
  char first_err[640] = "";
  while (!atomic_load(&stop_flag)) {
    bool churn = (id >= 2) && (iter % 2 == 0);
    const char* model = churn ? "churn" : "stable";
    data[0] = (int32_t)id;
    data[1] = (int32_t)iter;
    iter++;
    TRITONSERVER_InferenceRequest* r = NULL;
    TRITONSERVER_Error* err = TRITONSERVER_InferenceRequestNew(&r, server, model, -1);
    if (err != NULL) {
      if (!churn && first_err[0] == '\0') {
        snprintf(first_err, sizeof(first_err), "%s", TRITONSERVER_ErrorMessage(err));
      }
      TRITONSERVER_ErrorDelete(err);
      atomic_fetch_add(churn ? &n_refused_new : &n_err_stable, 1);
      tc_sleep_ms(1);
      continue;
    }
    err = TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_INT32, shape, 1);
    if (err == NULL) {
      err = TRITONSERVER_InferenceRequestAppendInputData(
          r, "INPUT0", data, sizeof(data), TRITONSERVER_MEMORY_CPU, 0);
    }
    if (err == NULL) {
      err = ic_set_callbacks(r, alloc, call);
    }
    if (err == NULL) {
      atomic_fetch_add(&n_sent, 1);
      err = TRITONSERVER_ServerInferAsync(server, r, NULL);
      if (err != NULL) {
        atomic_fetch_add(churn ? &n_refused_infer : &n_err_stable, 1);
        if (!churn && first_err[0] == '\0') {
          snprintf(first_err, sizeof(first_err), "InferAsync: %s",
                   TRITONSERVER_ErrorMessage(err));
        }
        TRITONSERVER_ErrorDelete(err);
        err = NULL;
        CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));
        ic_call_reset(call);
        continue;
      }
    } else {
      tc_fail(__FILE__, __LINE__, "thread %ld: building a request failed: %s", id,
              TRITONSERVER_ErrorMessage(err));
      TRITONSERVER_ErrorDelete(err);
      TRITONSERVER_ErrorDelete(TRITONSERVER_InferenceRequestDelete(r));
      break;
    }
    if (!ic_wait_done(call, 10.0)) {
      atomic_fetch_add(&n_lost, 1);
      tc_fail(__FILE__, __LINE__,
              "thread %ld: request %ld on '%s' lost: %d FINAL, %d release callbacks after 10 s",
              id, iter - 1, model, call->finals, call->releases);
      /* Leak the call and the request: callbacks may still come. */
      call = malloc(sizeof(ic_call));
      ic_call_init(call, true);
      continue;
    }
    pthread_mutex_lock(&call->mu);
    bool bad = call->finals != 1 || call->releases != 1 || call->after_final != 0 ||
               call->released != r ||
               call->release_flags != TRITONSERVER_REQUEST_RELEASE_ALL;
    if (bad) {
      atomic_fetch_add(&n_bad_callbacks, 1);
      tc_fail(__FILE__, __LINE__,
              "thread %ld: '%s': finals %d releases %d after_final %d released %p (req %p) "
              "flags %u",
              id, model, call->finals, call->releases, call->after_final,
              (void*)call->released, (void*)r, call->release_flags);
    }
    if (call->error_responses > 0) {
      atomic_fetch_add(churn ? &n_err_churn : &n_err_stable, 1);
      if (!churn && first_err[0] == '\0') {
        snprintf(first_err, sizeof(first_err), "error response: %s", call->first_error);
      }
    } else if (call->responses_seen >= 1) {
      ic_output o;
      if (ic_find_output(call->responses[0], "OUTPUT0", &o) && o.byte_size == sizeof(data) &&
          memcmp(o.base, data, sizeof(data)) == 0) {
        atomic_fetch_add(&n_ok, 1);
      } else {
        atomic_fetch_add(&n_bad_data, 1);
      }
    }
    pthread_mutex_unlock(&call->mu);
    CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));
    ic_call_reset(call);
  }
  if (first_err[0] != '\0') {
    tc_note("thread %ld: first error on 'stable': %s", id, first_err);
  }
  ic_call_destroy(call);
  free(call);
  return NULL;
}

typedef struct latencies {
  double* ms;
  size_t n, cap;
} latencies;

static void
lat_add(latencies* l, double ms)
{
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 4096;
    l->ms = realloc(l->ms, l->cap * sizeof(double));
    REQUIRE(l->ms != NULL, "out of memory");
  }
  l->ms[l->n++] = ms;
}

static int
cmp_double(const void* a, const void* b)
{
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static latencies ready_lat;

static void*
ready_thread(void* arg)
{
  (void)arg;
  while (!atomic_load(&stop_flag)) {
    bool ready = false;
    double t0 = ic_now_s();
    TRITONSERVER_Error* err = TRITONSERVER_ServerIsReady(server, &ready);
    double t1 = ic_now_s();
    lat_add(&ready_lat, (t1 - t0) * 1000.0);
    if (err != NULL) {
      atomic_fetch_add(&n_ready_errors, 1);
      TRITONSERVER_ErrorDelete(err);
    } else if (!ready) {
      atomic_fetch_add(&n_server_not_ready, 1);
    }
    ready = false;
    t0 = ic_now_s();
    err = TRITONSERVER_ServerModelIsReady(server, "stable", -1, &ready);
    t1 = ic_now_s();
    lat_add(&ready_lat, (t1 - t0) * 1000.0);
    if (err != NULL) {
      atomic_fetch_add(&n_ready_errors, 1);
      TRITONSERVER_ErrorDelete(err);
    } else if (!ready) {
      atomic_fetch_add(&n_stable_not_ready, 1);
    }
    atomic_fetch_add(&n_ready_calls, 2);
    tc_sleep_ms(1);
  }
  return NULL;
}

static void*
churn_thread(void* arg)
{
  (void)arg;
  int reported = 0;
  while (!atomic_load(&stop_flag)) {
    TRITONSERVER_Error* err = TRITONSERVER_ServerLoadModel(server, "churn");
    atomic_fetch_add(&n_loads, 1);
    if (err != NULL) {
      atomic_fetch_add(&n_load_errors, 1);
      if (reported++ < 3) {
        tc_note("LoadModel(churn): %s: %s", TRITONSERVER_ErrorCodeString(err),
                TRITONSERVER_ErrorMessage(err));
      }
      TRITONSERVER_ErrorDelete(err);
    }
    err = TRITONSERVER_ServerUnloadModel(server, "churn");
    atomic_fetch_add(&n_unloads, 1);
    if (err != NULL) {
      atomic_fetch_add(&n_unload_errors, 1);
      if (reported++ < 3) {
        tc_note("UnloadModel(churn): %s: %s", TRITONSERVER_ErrorCodeString(err),
                TRITONSERVER_ErrorMessage(err));
      }
      TRITONSERVER_ErrorDelete(err);
    }
  }
  return NULL;
}

int
main(void)
{
  const char* env = getenv("TC_CHURN_SECONDS");
  double seconds = env ? atof(env) : 5.0;
  if (seconds <= 0) {
    seconds = 5.0;
  }
  char* repo = tc_repo_new();
  write_identity(repo, "stable", 2);
  write_identity(repo, "churn", 1);
  const char* startup[] = {"stable", "churn", NULL};
  tc_server_config config = {
      .repo = repo,
      .control_mode = TRITONSERVER_MODEL_CONTROL_EXPLICIT,
      .strict_readiness = true,
      .startup_models = startup,
      .exit_timeout_s = 5,
  };
  server = tc_server_start(&config, NULL);
  REQUIRE(tc_server_ready(server) == 1, "server not ready");
  alloc = ic_allocator_new();
  tc_note("churn for %.1f s", seconds);

  pthread_t infer[NINFER], ready, churn;
  for (long i = 0; i < NINFER; ++i) {
    REQUIRE(pthread_create(&infer[i], NULL, infer_thread, (void*)(intptr_t)i) == 0,
            "pthread_create");
  }
  REQUIRE(pthread_create(&ready, NULL, ready_thread, NULL) == 0, "pthread_create");
  REQUIRE(pthread_create(&churn, NULL, churn_thread, NULL) == 0, "pthread_create");
  double t_end = ic_now_s() + seconds;
  while (ic_now_s() < t_end) {
    tc_sleep_ms(100);
  }
  atomic_store(&stop_flag, true);
  /* Each thread stops after its current step (an inference waits at most 10 s). */
  for (int i = 0; i < NINFER; ++i) {
    pthread_join(infer[i], NULL);
  }
  pthread_join(ready, NULL);
  pthread_join(churn, NULL);

  tc_note("requests: %ld sent to InferAsync, %ld ok, %ld refused by InferenceRequestNew "
          "(churn), %ld refused by InferAsync (churn), %ld error responses (churn), "
          "%ld errors on stable, %ld lost, %ld bad callback sequences, %ld wrong data",
          atomic_load(&n_sent), atomic_load(&n_ok), atomic_load(&n_refused_new),
          atomic_load(&n_refused_infer), atomic_load(&n_err_churn), atomic_load(&n_err_stable),
          atomic_load(&n_lost), atomic_load(&n_bad_callbacks), atomic_load(&n_bad_data));
  tc_note("churn: %ld loads (%ld failed), %ld unloads (%ld failed)", atomic_load(&n_loads),
          atomic_load(&n_load_errors), atomic_load(&n_unloads), atomic_load(&n_unload_errors));
  if (ready_lat.n > 0) {
    qsort(ready_lat.ms, ready_lat.n, sizeof(double), cmp_double);
    double p50 = ready_lat.ms[ready_lat.n / 2];
    double p99 = ready_lat.ms[(size_t)((double)ready_lat.n * 0.99)];
    double max = ready_lat.ms[ready_lat.n - 1];
    tc_note("readiness: %ld calls (%ld errors, server not ready %ld times, stable not ready "
            "%ld times); latency p50 %.3f ms, p99 %.3f ms, max %.3f ms",
            atomic_load(&n_ready_calls), atomic_load(&n_ready_errors),
            atomic_load(&n_server_not_ready), atomic_load(&n_stable_not_ready), p50, p99, max);
    CHECK(max < 1000.0, "a readiness call took %.1f ms", max);
  }
  CHECK(atomic_load(&n_lost) == 0, "%ld lost responses", atomic_load(&n_lost));
  CHECK(atomic_load(&n_bad_callbacks) == 0, "%ld bad callback sequences",
        atomic_load(&n_bad_callbacks));
  CHECK(atomic_load(&n_bad_data) == 0, "%ld responses with wrong data",
        atomic_load(&n_bad_data));
  CHECK(atomic_load(&n_err_stable) == 0, "%ld errors on the stable model",
        atomic_load(&n_err_stable));
  CHECK(atomic_load(&n_ready_errors) == 0, "%ld readiness calls returned errors",
        atomic_load(&n_ready_errors));
  CHECK(atomic_load(&n_stable_not_ready) == 0, "stable reported not ready %ld times",
        atomic_load(&n_stable_not_ready));
  CHECK(atomic_load(&n_load_errors) == 0 && atomic_load(&n_unload_errors) == 0,
        "%ld LoadModel / %ld UnloadModel errors", atomic_load(&n_load_errors),
        atomic_load(&n_unload_errors));
  CHECK(atomic_load(&n_ok) > 0, "no successful inference at all");

  double t0 = ic_now_s();
  tc_server_delete(server);
  tc_note("ServerDelete took %.2f s", ic_now_s() - t0);
  long a = atomic_load(&ic_alloc_count), rel = atomic_load(&ic_release_count);
  CHECK(a == rel, "allocator: %ld allocations but %ld releases", a, rel);
  CHECK_OK(TRITONSERVER_ResponseAllocatorDelete(alloc));
  free(ready_lat.ms);
  tc_repo_remove(repo);
  return tc_finish("int_churn");
}
