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
 * (see int_lifetime.c). Readiness latency p50 / p99 / max is printed, never asserted. */
#include <dlfcn.h>
#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "infer_common.h"

/* ---- the probe backend's counters ---- */

static long (*probe_counter)(const char*);
static int (*probe_counter_count)(void);
static const char* (*probe_counter_name)(int);
static long (*probe_counter_at)(int);

static void
probe_open(void)
{
  const char* path = TC_BACKEND_DIR "/probe/libtriton_probe.so";
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  REQUIRE(h != NULL, "dlopen(%s): %s", path, dlerror());
  probe_counter = (long (*)(const char*))dlsym(h, "probe_counter");
  probe_counter_count = (int (*)(void))dlsym(h, "probe_counter_count");
  probe_counter_name = (const char* (*)(int))dlsym(h, "probe_counter_name");
  probe_counter_at = (long (*)(int))dlsym(h, "probe_counter_at");
  REQUIRE(probe_counter && probe_counter_count && probe_counter_name && probe_counter_at,
          "probe symbols missing");
}

static const char* const kMustBeZero[] = {
    "hook_poisoned",       "hook_bad_state",        "hook_fini_during",
    "exec_poisoned",       "exec_bad_state",        "exec_fini_during",
    "exec_model_poisoned", "fini_while_exec",       "fini_while_hook",
    "fini_poisoned",       "fini_bad_state",        "model_fini_poisoned",
    "model_fini_live_instances", "inst_init_model_poisoned", "inst_fini_model_poisoned",
    "calls_without_backend"};
#define N_MUST_BE_ZERO (sizeof(kMustBeZero) / sizeof(kMustBeZero[0]))

/* ---- driver counters ---- */

#define DRV_COUNTERS(X)                                                                   \
  X(req_created) X(req_deleted) X(req_refused) X(req_accepted) X(release_cbs) X(responses) \
  X(resp_deleted) X(resp_errors) X(resp_ok) X(resp_bad_data) X(finals) X(outstanding)    \
  X(slow_requests) X(lost) X(ready_calls) X(ready_errors) X(loads) X(load_errors)         \
  X(unloads) X(unload_errors) X(ready_p50_us) X(ready_p99_us) X(ready_max_us)

enum {
#define DRV_ENUM(n) D_##n,
  DRV_COUNTERS(DRV_ENUM)
#undef DRV_ENUM
  D_COUNT
};
static const char* const kDrvNames[D_COUNT] = {
#define DRV_NAME(n) #n,
    DRV_COUNTERS(DRV_NAME)
#undef DRV_NAME
};
static atomic_long drv[D_COUNT];
#define DINC(c) atomic_fetch_add(&drv[D_##c], 1)
#define DGET(c) atomic_load(&drv[D_##c])

static int report_fd = -1;
static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;

static void
snapshot(void)
{
  char buf[8192];
  size_t n = 0;
  for (int i = 0; i < probe_counter_count() && n < sizeof(buf) - 100; ++i) {
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "probe.%s %ld\n", probe_counter_name(i),
                          probe_counter_at(i));
  }
  for (int i = 0; i < D_COUNT && n < sizeof(buf) - 100; ++i) {
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "drv.%s %ld\n", kDrvNames[i],
                          atomic_load(&drv[i]));
  }
  n += (size_t)snprintf(buf + n, sizeof(buf) - n, "drv.alloc %ld\ndrv.alloc_released %ld\n",
                        atomic_load(&ic_alloc_count), atomic_load(&ic_release_count));
  pthread_mutex_lock(&report_mu);
  for (size_t off = 0; off < n;) {
    ssize_t w = write(report_fd, buf + off, n - off);
    if (w <= 0) {
      break;
    }
    off += (size_t)w;
  }
  pthread_mutex_unlock(&report_mu);
}

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
static TRITONSERVER_ResponseAllocator* alloc;
static atomic_bool stop_flag;

typedef struct infer_ctx {
  atomic_int pending; /* FINAL response + release callback */
  sem_t* done;        /* posted when both came */
  float data[4];
} infer_ctx;

static void
ctx_done(infer_ctx* c)
{
  if (atomic_fetch_sub(&c->pending, 1) == 1) {
    atomic_fetch_sub(&drv[D_outstanding], 1);
    sem_post(c->done);
    free(c);
  }
}

static void
response_cb(TRITONSERVER_InferenceResponse* response, const uint32_t flags, void* userp)
{
  infer_ctx* c = userp;
  if (response != NULL) {
    DINC(responses);
    TRITONSERVER_Error* rerr = TRITONSERVER_InferenceResponseError(response);
    if (rerr != NULL) {
      DINC(resp_errors);
      TRITONSERVER_ErrorDelete(rerr);
    } else {
      ic_output o;
      if (ic_find_output(response, "OUTPUT0", &o) && o.byte_size == sizeof(c->data) &&
          memcmp(o.base, c->data, sizeof(c->data)) == 0) {
        DINC(resp_ok);
      } else {
        DINC(resp_bad_data);
      }
    }
    TRITONSERVER_Error* err = TRITONSERVER_InferenceResponseDelete(response);
    if (err == NULL) {
      DINC(resp_deleted);
    } else {
      TRITONSERVER_ErrorDelete(err);
    }
  }
  if (flags & TRITONSERVER_RESPONSE_COMPLETE_FINAL) {
    DINC(finals);
    ctx_done(c);
  }
}

static void
release_cb(TRITONSERVER_InferenceRequest* request, const uint32_t flags, void* userp)
{
  (void)flags;
  DINC(release_cbs);
  TRITONSERVER_Error* err = TRITONSERVER_InferenceRequestDelete(request);
  if (err == NULL) {
    DINC(req_deleted);
  } else {
    TRITONSERVER_ErrorDelete(err);
  }
  ctx_done(userp);
}

/* Send one request; true if accepted (its callbacks will post `done`). */
static bool
send_one(const char* model, float seed, bool factory, long hold_ms, sem_t* done)
{
  TRITONSERVER_InferenceRequest* r = NULL;
  TRITONSERVER_Error* err = TRITONSERVER_InferenceRequestNew(&r, server, model, -1);
  if (err != NULL) {
    TRITONSERVER_ErrorDelete(err);
    DINC(req_refused);
    return false;
  }
  DINC(req_created);
  infer_ctx* c = calloc(1, sizeof(*c));
  REQUIRE(c != NULL, "out of memory");
  atomic_store(&c->pending, 2);
  c->done = done;
  for (int i = 0; i < 4; ++i) {
    c->data[i] = seed + (float)i;
  }
  const int64_t shape[1] = {4};
  err = TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_FP32, shape, 1);
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestAppendInputData(
        r, "INPUT0", c->data, sizeof(c->data), TRITONSERVER_MEMORY_CPU, 0);
  }
  if (err == NULL && factory) {
    err = TRITONSERVER_InferenceRequestSetBoolParameter(r, "use_factory", true);
  }
  if (err == NULL && hold_ms > 0) {
    err = TRITONSERVER_InferenceRequestSetIntParameter(r, "hold_ms", hold_ms);
  }
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestSetReleaseCallback(r, release_cb, c);
  }
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestSetResponseCallback(r, alloc, NULL, response_cb, c);
  }
  if (err == NULL) {
    atomic_fetch_add(&drv[D_outstanding], 1);
    err = TRITONSERVER_ServerInferAsync(server, r, NULL);
    if (err != NULL) {
      atomic_fetch_sub(&drv[D_outstanding], 1);
    }
  }
  if (err != NULL) {
    TRITONSERVER_ErrorDelete(err);
    DINC(req_refused);
    err = TRITONSERVER_InferenceRequestDelete(r);
    if (err == NULL) {
      DINC(req_deleted);
    } else {
      TRITONSERVER_ErrorDelete(err);
    }
    free(c);
    return false;
  }
  DINC(req_accepted);
  return true;
}

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
    if (!send_one(churn ? "churn" : "stable", seed, factory, hold_ms, done)) {
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

static atomic_bool monitor_stop;

static void*
monitor_thread(void* arg)
{
  (void)arg;
  while (!atomic_load(&monitor_stop)) {
    snapshot();
    tc_sleep_ms(200);
  }
  return NULL;
}

static void
soak(const char* repo, double seconds)
{
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
  REQUIRE(probe_counter("backend_init") >= 1, "the core loaded another probe library");
  alloc = ic_allocator_new();

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
  double deadline = ic_now_s() + 10.0;
  while (DGET(outstanding) > 0 && ic_now_s() < deadline) {
    tc_sleep_ms(5);
  }
  atomic_store(&drv[D_lost], DGET(outstanding));

  if (lat.n > 0) {
    qsort(lat.us, lat.n, sizeof(double), cmp_double);
    atomic_store(&drv[D_ready_p50_us], (long)lat.us[lat.n / 2]);
    atomic_store(&drv[D_ready_p99_us], (long)lat.us[(size_t)((double)lat.n * 0.99)]);
    atomic_store(&drv[D_ready_max_us], (long)lat.us[lat.n - 1]);
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
  deadline = ic_now_s() + 5.0;
  while (probe_counter("holds_in_flight") > 0 && ic_now_s() < deadline) {
    tc_sleep_ms(10);
  }
  free(lat.us);
}

/* ---- parent ---- */

typedef struct kv {
  char name[64];
  long value;
} kv;
static kv kvs[256];
static int n_kvs;

static long
get(const char* name, bool* found)
{
  for (int i = 0; i < n_kvs; ++i) {
    if (strcmp(kvs[i].name, name) == 0) {
      if (found) {
        *found = true;
      }
      return kvs[i].value;
    }
  }
  if (found) {
    *found = false;
  }
  return 0;
}

static void
parse_line(const char* line)
{
  char name[64];
  long v;
  if (sscanf(line, "%63s %ld", name, &v) != 2) {
    return;
  }
  for (int i = 0; i < n_kvs; ++i) {
    if (strcmp(kvs[i].name, name) == 0) {
      kvs[i].value = v;
      return;
    }
  }
  if (n_kvs < 256) {
    snprintf(kvs[n_kvs].name, sizeof(kvs[n_kvs].name), "%s", name);
    kvs[n_kvs++].value = v;
  }
}

int
main(void)
{
  const char* env = getenv("TC_SOAK_SECONDS");
  double seconds = env ? atof(env) : 60.0;
  if (seconds <= 0) {
    seconds = 60.0;
  }
  char* repo = tc_repo_new();
  int fds[2];
  REQUIRE(pipe(fds) == 0, "pipe");
  tc_note("soak for %.0f s", seconds);
  fflush(stdout);
  fflush(stderr);
  double t0 = ic_now_s();
  pid_t pid = fork();
  REQUIRE(pid >= 0, "fork");
  if (pid == 0) {
    close(fds[0]);
    report_fd = fds[1];
    alarm((unsigned)seconds + 90);
    probe_open();
    pthread_t mon;
    REQUIRE(pthread_create(&mon, NULL, monitor_thread, NULL) == 0, "pthread_create");
    soak(repo, seconds);
    atomic_store(&monitor_stop, true);
    pthread_join(mon, NULL);
    snapshot();
    fflush(stdout);
    fflush(stderr);
    _exit(tc_failures ? 1 : 0);
  }
  close(fds[1]);
  /* Parse line by line as it comes: the last value of each counter wins. */
  char buf[8192], line[256];
  size_t ll = 0;
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == '\n') {
        line[ll] = '\0';
        parse_line(line);
        ll = 0;
      } else if (ll + 1 < sizeof(line)) {
        line[ll++] = buf[i];
      }
    }
  }
  close(fds[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  double took = ic_now_s() - t0;
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    tc_fail(__FILE__, __LINE__, "soak %s after %.1f s: %s",
            sig == SIGALRM ? "hung (alarm)" : "crashed", took, strsignal(sig));
  } else if (WEXITSTATUS(st) != 0) {
    tc_fail(__FILE__, __LINE__, "soak: failed checks in the child (see above)");
  }
  bool found = false;
  get("probe.backend_init", &found);
  CHECK(found, "no counters reported");
  char line2[2048];
  size_t n = 0;
  for (size_t i = 0; i < N_MUST_BE_ZERO; ++i) {
    char key[80];
    snprintf(key, sizeof(key), "probe.%s", kMustBeZero[i]);
    long v = get(key, NULL);
    CHECK(v == 0, "probe counter %s = %ld, expected 0", kMustBeZero[i], v);
    if (v != 0) {
      n += (size_t)snprintf(line2 + n, sizeof(line2) - n, " %s=%ld", kMustBeZero[i], v);
    }
  }
  long fc = get("probe.factories_created", NULL), fd = get("probe.factories_deleted", NULL);
  long rc = get("drv.req_created", NULL), rd = get("drv.req_deleted", NULL);
  long rs = get("drv.responses", NULL), rsd = get("drv.resp_deleted", NULL);
  long lost = get("drv.lost", NULL) + (WIFSIGNALED(st) ? get("drv.outstanding", NULL) : 0);
  long al = get("drv.alloc", NULL), alr = get("drv.alloc_released", NULL);
  CHECK(lost == 0, "%ld accepted request(s) never got their FINAL response and release", lost);
  CHECK(rc == rd, "requests: %ld created, %ld deleted", rc, rd);
  CHECK(rs == rsd, "responses: %ld received, %ld deleted", rs, rsd);
  CHECK(fc == fd, "response factories: %ld created, %ld deleted", fc, fd);
  CHECK(al == alr, "allocator: %ld buffers allocated, %ld released", al, alr);
  tc_note("soak: %.1f s; requests %ld accepted / %ld created / %ld deleted; responses %ld "
          "(%ld errors) / %ld deleted; lost %ld; factories %ld / %ld; executes %ld, hook "
          "calls %ld, instances %ld / %ld initialized / finalized; loads %ld (%ld failed)",
          took, get("drv.req_accepted", NULL), rc, rd, rs, get("drv.resp_errors", NULL), rsd,
          lost, fc, fd, get("probe.exec_calls", NULL), get("probe.hook_calls", NULL),
          get("probe.inst_init", NULL), get("probe.inst_fini", NULL), get("drv.loads", NULL),
          get("drv.load_errors", NULL));
  tc_note("soak: lifetime violations:%s", n ? line2 : " none");
  tc_note("soak: readiness p50 %.3f ms, p99 %.3f ms, max %.3f ms over %ld calls",
          get("drv.ready_p50_us", NULL) / 1000.0, get("drv.ready_p99_us", NULL) / 1000.0,
          get("drv.ready_max_us", NULL) / 1000.0, get("drv.ready_calls", NULL));
  tc_repo_remove(repo);
  return tc_finish("int_soak");
}
