/* int_soak: inference, readiness polling and model load / unload / reload churn at once
 * for TC_SOAK_SECONDS seconds (default 60), on the 'probe' test backend (backends/probe.c),
 * EXPLICIT model control, strict readiness.
 *
 *  - 4 inference threads, one request in flight each: threads 0 and 1 infer the model
 *    "stable"; threads 2 and 3 alternate between "stable" and the churned model "churn".
 *    Thread 2 asks for a response factory on every 3rd request; thread 3 has every 4th
 *    request held by the backend for 20 ms on a background thread (through a factory).
 *  - 1 thread calls ServerIsReady, ServerModelIsReady("stable") and
 *    ServerModelIsReady("churn") every 1 ms and records each call's latency.
 *    The readiness hook of "churn" sleeps 100 us (included in the latencies).
 *  - 1 thread churns: reload "churn" with a changed JSON config (instance count 1 / 2),
 *    unload it, load it from its file; every 10th round also reloads "stable".
 *
 * The body runs in a forked child that streams its counters to the parent every 200 ms.
 * Pass: no crash or hang; no lost response (every accepted request got its FINAL response
 * and its release callback); no leaked request, response, allocator buffer (driver side)
 * or response factory (backend side); every lifetime-violation counter of the probe is 0
 * (see probe_driver.c). Readiness latency p50 / p99 / max is printed, never asserted. */
#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_driver.h"

/* ---- models ---- */

static const char* kConfigFmt =
    "name: \"%s\"\n"
    "backend: \"probe\"\n"
    "max_batch_size: 0\n"
    "input [ { name: \"INPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
    "output [ { name: \"OUTPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
    "instance_group [ { count: %d kind: KIND_CPU } ]\n"
    "parameters { key: \"exec_sleep_us\" value { string_value: \"100\" } }\n"
    "parameters { key: \"hook_sleep_us\" value { string_value: \"%ld\" } }\n";

/* The readiness hook of "churn" sleeps 100 us (a reader is inside it when the churn
 * finalizes an instance, if the core lets that happen); "stable"'s does not. */
static long
hook_us(const char* model)
{
  return strcmp(model, "churn") == 0 ? 100 : 0;
}

static void
reload_json(TRITONSERVER_Server* s, const char* model, int instances, long tag)
{
  char json[1024];
  snprintf(json, sizeof(json),
           "{\"name\":\"%s\",\"backend\":\"probe\",\"max_batch_size\":0,"
           "\"input\":[{\"name\":\"INPUT0\",\"data_type\":\"TYPE_FP32\",\"dims\":[4]}],"
           "\"output\":[{\"name\":\"OUTPUT0\",\"data_type\":\"TYPE_FP32\",\"dims\":[4]}],"
           "\"instance_group\":[{\"count\":%d,\"kind\":\"KIND_CPU\"}],"
           "\"parameters\":{\"exec_sleep_us\":{\"string_value\":\"100\"},"
           "\"hook_sleep_us\":{\"string_value\":\"%ld\"},"
           "\"tag\":{\"string_value\":\"%ld\"}}}",
           model, instances, hook_us(model), tag);
  TRITONSERVER_Parameter* p =
      TRITONSERVER_ParameterNew("config", TRITONSERVER_PARAMETER_STRING, json);
  REQUIRE(p != NULL, "ParameterNew returned NULL");
  const TRITONSERVER_Parameter* params[1] = {p};
  TRITONSERVER_Error* err = TRITONSERVER_ServerLoadModelWithParameters(s, model, params, 1);
  TRITONSERVER_ParameterDelete(p);
  DINC(loads);
  if (err != NULL) {
    DINC(load_errors);
    TRITONSERVER_ErrorDelete(err);
  }
}

/* ---- inference ---- */

static TRITONSERVER_Server* server;
static atomic_bool stop_flag;

static void*
infer_thread(void* arg)
{
  long id = (long)(intptr_t)arg;
  /* On the heap: leaked if a callback is still due when the thread ends. */
  sem_t* done = malloc(sizeof(sem_t));
  REQUIRE(done != NULL && sem_init(done, 0, 0) == 0, "sem_init");
  long iter = 0;
  long pending = 0; /* accepted requests whose callbacks have not posted yet */
  while (!atomic_load(&stop_flag)) {
    bool churn = id >= 2 && iter % 2 == 0;
    bool factory = (id == 2 && iter % 3 == 0) || (id == 3 && iter % 4 == 1);
    long hold_ms = (id == 3 && iter % 4 == 1) ? 20 : 0;
    float seed = (float)(id * 1000000 + iter);
    iter++;
    pd_req_opts opts = {.hold_ms = hold_ms, .use_factory = factory, .done = done};
    if (!pd_send_one(server, churn ? "churn" : "stable", seed, &opts)) {
      tc_sleep_ms(1);
      continue;
    }
    pending++;
    /* One request in flight: wait for it (10 s, then count it slow and go on). */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    while (pending > 0) {
      if (sem_timedwait(done, &ts) == 0) {
        pending--;
      } else if (errno == ETIMEDOUT) {
        DINC(slow_requests);
        break;
      }
    }
  }
  /* The callbacks of anything still pending may come later: the semaphore must outlive
   * them, so wait for them here (bounded). */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 15;
  while (pending > 0) {
    if (sem_timedwait(done, &ts) == 0) {
      pending--;
    } else if (errno != EINTR) {
      break;
    }
  }
  if (pending == 0) {
    sem_destroy(done);
    free(done);
  }
  return NULL;
}

typedef struct latencies {
  double* us;
  size_t n, cap;
} latencies;
static latencies lat;

static void
lat_add(double us)
{
  if (lat.n == lat.cap) {
    lat.cap = lat.cap ? lat.cap * 2 : 65536;
    lat.us = realloc(lat.us, lat.cap * sizeof(double));
    REQUIRE(lat.us != NULL, "out of memory");
  }
  lat.us[lat.n++] = us;
}

static int
cmp_double(const void* a, const void* b)
{
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static void*
ready_thread(void* arg)
{
  (void)arg;
  const char* models[2] = {"stable", "churn"};
  while (!atomic_load(&stop_flag)) {
    for (int i = 0; i < 3; ++i) {
      bool ready = false;
      double t0 = ic_now_s();
      TRITONSERVER_Error* err = i == 0 ? TRITONSERVER_ServerIsReady(server, &ready)
                                       : TRITONSERVER_ServerModelIsReady(
                                             server, models[i - 1], -1, &ready);
      lat_add((ic_now_s() - t0) * 1e6);
      DINC(ready_calls);
      if (err != NULL) {
        DINC(ready_errors);
        TRITONSERVER_ErrorDelete(err);
      }
    }
    tc_sleep_ms(1);
  }
  return NULL;
}

static void*
churn_thread(void* arg)
{
  (void)arg;
  long round = 0;
  while (!atomic_load(&stop_flag)) {
    reload_json(server, "churn", 1 + round % 2, round);
    TRITONSERVER_Error* err = TRITONSERVER_ServerUnloadModel(server, "churn");
    DINC(unloads);
    if (err != NULL) {
      DINC(unload_errors);
      TRITONSERVER_ErrorDelete(err);
    }
    err = TRITONSERVER_ServerLoadModel(server, "churn");
    DINC(loads);
    if (err != NULL) {
      DINC(load_errors);
      TRITONSERVER_ErrorDelete(err);
    }
    if (round % 10 == 9) {
      reload_json(server, "stable", 1 + (round / 10) % 2, round);
    }
    round++;
  }
  return NULL;
}

static double soak_seconds;

static void
soak(const char* repo)
{
  double seconds = soak_seconds;
  char cfg[1024];
  snprintf(cfg, sizeof(cfg), kConfigFmt, "stable", 2, hook_us("stable"));
  ic_write_model(repo, "stable", cfg);
  snprintf(cfg, sizeof(cfg), kConfigFmt, "churn", 1, hook_us("churn"));
  ic_write_model(repo, "churn", cfg);
  const char* startup[] = {"stable", "churn", NULL};
  tc_server_config config = {
      .repo = repo,
      .control_mode = TRITONSERVER_MODEL_CONTROL_EXPLICIT,
      .strict_readiness = true,
      .startup_models = startup,
      .exit_timeout_s = 5,
  };
  server = tc_server_start(&config, NULL);
  pd_require_probe_loaded();

  pthread_t infer[4], ready, churn;
  for (long i = 0; i < 4; ++i) {
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
  pthread_join(ready, NULL);
  pthread_join(churn, NULL);
  for (int i = 0; i < 4; ++i) {
    pthread_join(infer[i], NULL);
  }
  pd_wait_outstanding(10.0);

  if (lat.n > 0) {
    qsort(lat.us, lat.n, sizeof(double), cmp_double);
    DSET(ready_p50_us, (long)lat.us[lat.n / 2]);
    DSET(ready_p99_us, (long)lat.us[(size_t)((double)lat.n * 0.99)]);
    DSET(ready_max_us, (long)lat.us[lat.n - 1]);
  }
  tc_note("requests: %ld accepted, %ld ok, %ld error responses, %ld refused, %ld slow (> 10 s), "
          "%ld lost; churn: %ld loads (%ld failed), %ld unloads (%ld failed)",
          DGET(req_accepted), DGET(resp_ok), DGET(resp_errors), DGET(req_refused),
          DGET(slow_requests), DGET(lost), DGET(loads), DGET(load_errors), DGET(unloads),
          DGET(unload_errors));
  tc_note("readiness: %ld calls (%ld errors); latency p50 %.3f ms, p99 %.3f ms, max %.3f ms",
          DGET(ready_calls), DGET(ready_errors), DGET(ready_p50_us) / 1000.0,
          DGET(ready_p99_us) / 1000.0, DGET(ready_max_us) / 1000.0);
  CHECK(DGET(resp_ok) > 0, "no successful inference at all");
  CHECK(DGET(resp_bad_data) == 0, "%ld responses with wrong data", DGET(resp_bad_data));

  double t0 = ic_now_s();
  TRITONSERVER_Error* err = TRITONSERVER_ServerDelete(server);
  if (err != NULL) {
    tc_note("ServerDelete: %s", TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
  }
  tc_note("ServerDelete took %.0f ms", (ic_now_s() - t0) * 1000);
  double deadline = ic_now_s() + 5.0;
  while (pd_probe("holds_in_flight") > 0 && ic_now_s() < deadline) {
    tc_sleep_ms(10);
  }
  free(lat.us);
}

/* ---- parent ---- */

int
main(void)
{
  const char* env = getenv("TC_SOAK_SECONDS");
  double seconds = env ? atof(env) : 60.0;
  if (seconds <= 0) {
    seconds = 60.0;
  }
  soak_seconds = seconds;
  char* repo = tc_repo_new();
  tc_note("soak for %.0f s", seconds);
  static pd_result r;
  tc_forked f;
  pd_run("soak", soak, repo, (unsigned)seconds + 90, &r, &f);
  char violations[2048] = "";
  pd_totals t;
  /* Still outstanding at the end counts as lost only after a crash or hang (else the
   * child counted what was left after its wait as lost). */
  pd_check(&r, "", f.outcome == TC_CRASHED || f.outcome == TC_HUNG, &t, violations,
           sizeof(violations));
  tc_note("soak: %.1f s; requests %ld accepted / %ld created / %ld deleted; responses %ld "
          "(%ld errors) / %ld deleted; lost %ld; factories %ld / %ld; executes %ld, hook "
          "calls %ld, instances %ld / %ld initialized / finalized; loads %ld (%ld failed)",
          f.seconds, pd_get(&r, "drv.req_accepted", NULL), t.req_created, t.req_deleted,
          t.responses, pd_get(&r, "drv.resp_errors", NULL), t.resp_deleted, t.lost,
          t.factories_created, t.factories_deleted, pd_get(&r, "probe.exec_calls", NULL),
          pd_get(&r, "probe.hook_calls", NULL), pd_get(&r, "probe.inst_init", NULL),
          pd_get(&r, "probe.inst_fini", NULL), pd_get(&r, "drv.loads", NULL),
          pd_get(&r, "drv.load_errors", NULL));
  tc_note("soak: lifetime violations:%s", violations[0] ? violations : " none");
  tc_note("soak: readiness p50 %.3f ms, p99 %.3f ms, max %.3f ms over %ld calls",
          pd_get(&r, "drv.ready_p50_us", NULL) / 1000.0,
          pd_get(&r, "drv.ready_p99_us", NULL) / 1000.0,
          pd_get(&r, "drv.ready_max_us", NULL) / 1000.0, pd_get(&r, "drv.ready_calls", NULL));
  tc_repo_remove(repo);
  return tc_finish("int_soak");
}
