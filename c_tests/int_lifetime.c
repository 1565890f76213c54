/* int_lifetime: the core never calls a backend with an object after that object's
 * finalize, and never finalizes an instance while a call into the backend with that
 * instance (ModelInstanceReady, ModelInstanceExecute) is running. Watched from the backend
 * side by the 'probe' test backend (backends/probe.c), whose counters this driver reads by
 * dlopen-ing the same library the core opened.
 *
 * Each scenario runs in a forked child (a crash or a hang — alarm() — fails that scenario
 * and the others still run). The child streams snapshots of the probe's counters and its
 * own request counters to the parent through a pipe; the parent checks the last snapshot:
 * every lifetime-violation counter of the probe must be 0, response factories created =
 * deleted, and no request or response leaked (every request created was deleted, every
 * response received was deleted, every accepted request got its FINAL response and its
 * release callback, the response allocator is balanced).
 *
 *  1 reload   2 readiness threads hammer ServerIsReady + ServerModelIsReady, 2 inference
 *             threads send requests, the main thread reloads the model 200 times through
 *             LoadModelWithParameters("config" = JSON), alternating the instance count
 *             (1 / 2) and a parameter so that each load really reloads.
 *  2 cycle    the same with 200 UnloadModel / LoadModel cycles.
 *  3 delete   5 runs (each in its own child): readiness + inference threads running,
 *             ServerStop then ServerDelete while they run. Threads check a flag set just
 *             before ServerDelete before each call; calls in flight during ServerDelete
 *             must be safe.
 *  4 hook     a reader held inside ModelInstanceReady (the hook sleeps 1 s) while the model
 *             is reloaded, unloaded, the server stopped, and (another server) deleted. The
 *             time each operation took and the finalizes it made under the reader are
 *             printed.
 *  5 exit     an Execute (or requests held by the backend) outliving the 1 s exit timeout
 *             during an unload and during a stop: no finalize while the Execute runs. The
 *             durations of UnloadModel / ServerStop / ServerDelete and when the model turned
 *             UNAVAILABLE in the repository index are printed, not asserted.
 *
 * Environment: TC_LIFETIME_ONLY=<n>[,<n>...] runs only those scenarios; PROBE_FREE=1 (read
 * by the backend) frees the states at Finalize so that ASan (-DTC_SANITIZE=ON) reports a
 * use after free itself instead of the counters. */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "infer_common.h"

/* ---- the probe backend's counters ---- */

typedef struct probe_api {
  long (*counter)(const char*);
  int (*count)(void);
  const char* (*name)(int);
  long (*at)(int);
  void (*set)(const char*, long);
} probe_api;

static probe_api P;

static void
probe_open(void)
{
  /* The core opens <backend dir>/probe/libtriton_probe.so with RTLD_NOW | RTLD_LOCAL; the
   * same file opened here is the same library, whoever opens it first. */
  const char* path = TC_BACKEND_DIR "/probe/libtriton_probe.so";
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  REQUIRE(h != NULL, "dlopen(%s): %s", path, dlerror());
  P.counter = (long (*)(const char*))dlsym(h, "probe_counter");
  P.count = (int (*)(void))dlsym(h, "probe_counter_count");
  P.name = (const char* (*)(int))dlsym(h, "probe_counter_name");
  P.at = (long (*)(int))dlsym(h, "probe_counter_at");
  P.set = (void (*)(const char*, long))dlsym(h, "probe_set");
  REQUIRE(P.counter && P.count && P.name && P.at && P.set, "probe symbols missing");
}

static long
pc(const char* name)
{
  return P.counter(name);
}

/* Lifetime violations: each must stay 0. */
static const char* const kMustBeZero[] = {
    "hook_poisoned",       "hook_bad_state",        "hook_fini_during",
    "exec_poisoned",       "exec_bad_state",        "exec_fini_during",
    "exec_model_poisoned", "fini_while_exec",       "fini_while_hook",
    "fini_poisoned",       "fini_bad_state",        "model_fini_poisoned",
    "model_fini_live_instances", "inst_init_model_poisoned", "inst_fini_model_poisoned",
    "calls_without_backend"};
#define N_MUST_BE_ZERO (sizeof(kMustBeZero) / sizeof(kMustBeZero[0]))

/* ---- the driver's own counters ---- */

#define DRV_COUNTERS(X)                                                                    \
  X(req_created) X(req_deleted) X(req_refused) X(req_accepted) X(release_cbs) X(resp_cbs)  \
  X(responses) X(resp_deleted) X(resp_errors) X(resp_ok) X(resp_bad_data) X(finals)        \
  X(outstanding) X(lost) X(ready_calls) X(ready_errors) X(loads) X(load_errors) X(unloads) \
  X(unload_errors)

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

/* ---- child → parent reports ---- */

static int report_fd = -1;
static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;

/* One snapshot of every counter, written at once (a crash leaves the previous one). */
static void
snapshot(void)
{
  if (report_fd < 0) {
    return;
  }
  char buf[8192];
  size_t n = 0;
  for (int i = 0; i < P.count() && n < sizeof(buf) - 100; ++i) {
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "probe.%s %ld\n", P.name(i), P.at(i));
  }
  for (int i = 0; i < D_COUNT && n < sizeof(buf) - 100; ++i) {
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "drv.%s %ld\n", kDrvNames[i],
                          atomic_load(&drv[i]));
  }
  n += (size_t)snprintf(buf + n, sizeof(buf) - n, "drv.alloc %ld\ndrv.alloc_released %ld\n",
                        atomic_load(&ic_alloc_count), atomic_load(&ic_release_count));
  pthread_mutex_lock(&report_mu);
  size_t off = 0;
  while (off < n) {
    ssize_t w = write(report_fd, buf + off, n - off);
    if (w <= 0) {
      break;
    }
    off += (size_t)w;
  }
  pthread_mutex_unlock(&report_mu);
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

/* Print the nonzero counters. */
static void
print_counters(const char* label)
{
  char line[4096];
  size_t n = 0;
  for (int i = 0; i < P.count() && n < sizeof(line) - 64; ++i) {
    if (P.at(i) != 0) {
      n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%ld", P.name(i), P.at(i));
    }
  }
  tc_note("[%s] probe:%s", label, n ? line : " (all 0)");
  n = 0;
  for (int i = 0; i < D_COUNT && n < sizeof(line) - 64; ++i) {
    if (atomic_load(&drv[i]) != 0) {
      n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%ld", kDrvNames[i],
                            atomic_load(&drv[i]));
    }
  }
  tc_note("[%s] driver:%s", label, n ? line : " (all 0)");
}

/* ---- model configurations ---- */

#define MODEL "probe"

/* config.pbtxt of the probe model. */
static void
write_probe_model(const char* repo, int instances, long hook_us, long exec_us, int factory)
{
  char cfg[2048];
  snprintf(cfg, sizeof(cfg),
           "name: \"" MODEL "\"\n"
           "backend: \"probe\"\n"
           "max_batch_size: 0\n"
           "input [ { name: \"INPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
           "output [ { name: \"OUTPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
           "instance_group [ { count: %d kind: KIND_CPU } ]\n"
           "parameters { key: \"hook_sleep_us\" value { string_value: \"%ld\" } }\n"
           "parameters { key: \"exec_sleep_us\" value { string_value: \"%ld\" } }\n"
           "parameters { key: \"use_factory\" value { string_value: \"%d\" } }\n"
           "parameters { key: \"tag\" value { string_value: \"file\" } }\n",
           instances, hook_us, exec_us, factory);
  ic_write_model(repo, MODEL, cfg);
}

/* The same as a JSON "config" load parameter. */
static void
probe_json(char* out, size_t size, int instances, long hook_us, long exec_us, int factory,
           int tag)
{
  snprintf(out, size,
           "{\"name\":\"" MODEL "\",\"backend\":\"probe\",\"max_batch_size\":0,"
           "\"input\":[{\"name\":\"INPUT0\",\"data_type\":\"TYPE_FP32\",\"dims\":[4]}],"
           "\"output\":[{\"name\":\"OUTPUT0\",\"data_type\":\"TYPE_FP32\",\"dims\":[4]}],"
           "\"instance_group\":[{\"count\":%d,\"kind\":\"KIND_CPU\"}],"
           "\"parameters\":{\"hook_sleep_us\":{\"string_value\":\"%ld\"},"
           "\"exec_sleep_us\":{\"string_value\":\"%ld\"},"
           "\"use_factory\":{\"string_value\":\"%d\"},"
           "\"tag\":{\"string_value\":\"%d\"}}}",
           instances, hook_us, exec_us, factory, tag);
}

static TRITONSERVER_Error*
load_with_config(TRITONSERVER_Server* s, const char* json)
{
  TRITONSERVER_Parameter* p =
      TRITONSERVER_ParameterNew("config", TRITONSERVER_PARAMETER_STRING, json);
  if (p == NULL) {
    return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INTERNAL, "ParameterNew returned NULL");
  }
  const TRITONSERVER_Parameter* params[1] = {p};
  TRITONSERVER_Error* err = TRITONSERVER_ServerLoadModelWithParameters(s, MODEL, params, 1);
  TRITONSERVER_ParameterDelete(p);
  return err;
}

static int load_errors_noted;

static void
count_load(TRITONSERVER_Error* err, const char* what)
{
  DINC(loads);
  if (err != NULL) {
    DINC(load_errors);
    if (load_errors_noted++ < 3) {
      tc_note("%s: %s: %s", what, TRITONSERVER_ErrorCodeString(err),
              TRITONSERVER_ErrorMessage(err));
    }
    TRITONSERVER_ErrorDelete(err);
  }
}

static void
count_unload(TRITONSERVER_Error* err)
{
  DINC(unloads);
  if (err != NULL) {
    DINC(unload_errors);
    if (load_errors_noted++ < 3) {
      tc_note("UnloadModel: %s: %s", TRITONSERVER_ErrorCodeString(err),
              TRITONSERVER_ErrorMessage(err));
    }
    TRITONSERVER_ErrorDelete(err);
  }
}

/* State of the model's version 1 in the repository index ("" if absent / error). */
static void
model_state(TRITONSERVER_Server* s, char* out, size_t size)
{
  out[0] = '\0';
  TRITONSERVER_Message* msg = NULL;
  TRITONSERVER_Error* err = TRITONSERVER_ServerModelIndex(s, 0, &msg);
  if (err != NULL) {
    snprintf(out, size, "(index error: %s)", TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
    return;
  }
  const char* base = NULL;
  size_t len = 0;
  err = TRITONSERVER_MessageSerializeToJson(msg, &base, &len);
  if (err == NULL && base != NULL) {
    char* json = malloc(len + 1);
    if (json != NULL) {
      memcpy(json, base, len);
      json[len] = '\0';
      tc_json_compact(json);
      const char* p = strstr(json, "\"state\":\"");
      if (p != NULL) {
        p += 9;
        size_t k = 0;
        while (p[k] && p[k] != '"' && k + 1 < size) {
          out[k] = p[k];
          k++;
        }
        out[k] = '\0';
      }
      free(json);
    }
  }
  TRITONSERVER_ErrorDelete(err);
  TRITONSERVER_ErrorDelete(TRITONSERVER_MessageDelete(msg));
}

/* ---- inference ---- */

static TRITONSERVER_Server* server;
static TRITONSERVER_ResponseAllocator* alloc;
static atomic_bool stop_flag;   /* threads leave their loop */
static atomic_bool server_gone; /* set just before ServerDelete: no new call on the server */

typedef struct infer_ctx {
  atomic_int pending; /* FINAL response + release callback */
  float data[4];
} infer_ctx;

static void
ctx_done(infer_ctx* c)
{
  if (atomic_fetch_sub(&c->pending, 1) == 1) {
    atomic_fetch_sub(&drv[D_outstanding], 1);
    free(c);
  }
}

static void
response_cb(TRITONSERVER_InferenceResponse* response, const uint32_t flags, void* userp)
{
  infer_ctx* c = userp;
  DINC(resp_cbs);
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

typedef struct req_opts {
  long exec_sleep_us; /* > 0: request parameter */
  long hold_ms;       /* > 0: request parameter */
  bool use_factory;
} req_opts;

/* Send one request; false if it was refused (then nothing is outstanding). */
static bool
send_one(const char* model, float seed, const req_opts* opts)
{
  if (atomic_load(&server_gone)) {
    return false;
  }
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
  for (int i = 0; i < 4; ++i) {
    c->data[i] = seed + (float)i;
  }
  const int64_t shape[1] = {4};
  err = TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_FP32, shape, 1);
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestAppendInputData(
        r, "INPUT0", c->data, sizeof(c->data), TRITONSERVER_MEMORY_CPU, 0);
  }
  if (err == NULL && opts != NULL && opts->exec_sleep_us > 0) {
    err = TRITONSERVER_InferenceRequestSetIntParameter(r, "exec_sleep_us", opts->exec_sleep_us);
  }
  if (err == NULL && opts != NULL && opts->hold_ms > 0) {
    err = TRITONSERVER_InferenceRequestSetIntParameter(r, "hold_ms", opts->hold_ms);
  }
  if (err == NULL && opts != NULL && opts->use_factory) {
    err = TRITONSERVER_InferenceRequestSetBoolParameter(r, "use_factory", true);
  }
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestSetReleaseCallback(r, release_cb, c);
  }
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestSetResponseCallback(r, alloc, NULL, response_cb, c);
  }
  if (err == NULL) {
    atomic_fetch_add(&drv[D_outstanding], 1);
    if (atomic_load(&server_gone)) {
      err = TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_UNAVAILABLE, "server gone");
    } else {
      err = TRITONSERVER_ServerInferAsync(server, r, NULL);
    }
    if (err != NULL) {
      atomic_fetch_sub(&drv[D_outstanding], 1);
    }
  }
  if (err != NULL) {
    /* Refused: the request is still ours and no callback comes. */
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

/* Wait until every accepted request got its FINAL response and release callback; the
 * remainder is counted as lost. */
static bool
wait_outstanding(double timeout_s)
{
  double deadline = ic_now_s() + timeout_s;
  while (DGET(outstanding) > 0 && ic_now_s() < deadline) {
    tc_sleep_ms(5);
  }
  long left = DGET(outstanding);
  if (left > 0) {
    atomic_store(&drv[D_lost], left);
  }
  return left == 0;
}

#define WINDOW 2

static void*
infer_thread(void* arg)
{
  long id = (long)(intptr_t)arg;
  float seed = (float)(id * 1000);
  while (!atomic_load(&stop_flag) && !atomic_load(&server_gone)) {
    if (DGET(outstanding) >= WINDOW * 2) {
      tc_sleep_ms(1);
      continue;
    }
    if (!send_one(MODEL, seed, NULL)) {
      tc_sleep_ms(1);
    }
    seed += 1.0f;
  }
  return NULL;
}

static void*
ready_thread(void* arg)
{
  (void)arg;
  while (!atomic_load(&stop_flag)) {
    bool ready = false;
    if (atomic_load(&server_gone)) {
      break;
    }
    TRITONSERVER_Error* err = TRITONSERVER_ServerIsReady(server, &ready);
    DINC(ready_calls);
    if (err != NULL) {
      DINC(ready_errors);
      TRITONSERVER_ErrorDelete(err);
    }
    if (atomic_load(&server_gone)) {
      break;
    }
    err = TRITONSERVER_ServerModelIsReady(server, MODEL, -1, &ready);
    DINC(ready_calls);
    if (err != NULL) {
      DINC(ready_errors);
      TRITONSERVER_ErrorDelete(err);
    }
    sched_yield();
  }
  return NULL;
}

typedef struct workers {
  pthread_t ready[2], infer[2];
  int n_ready, n_infer;
} workers;

static void
workers_start(workers* w, int n_ready, int n_infer)
{
  atomic_store(&stop_flag, false);
  w->n_ready = n_ready;
  w->n_infer = n_infer;
  for (long i = 0; i < n_ready; ++i) {
    REQUIRE(pthread_create(&w->ready[i], NULL, ready_thread, NULL) == 0, "pthread_create");
  }
  for (long i = 0; i < n_infer; ++i) {
    REQUIRE(pthread_create(&w->infer[i], NULL, infer_thread, (void*)(intptr_t)i) == 0,
            "pthread_create");
  }
}

static void
workers_join(workers* w)
{
  atomic_store(&stop_flag, true);
  for (int i = 0; i < w->n_ready; ++i) {
    pthread_join(w->ready[i], NULL);
  }
  for (int i = 0; i < w->n_infer; ++i) {
    pthread_join(w->infer[i], NULL);
  }
}

static TRITONSERVER_Server*
start(const char* repo, unsigned exit_timeout_s)
{
  static const char* const startup[] = {MODEL, NULL};
  tc_server_config config = {
      .repo = repo,
      .control_mode = TRITONSERVER_MODEL_CONTROL_EXPLICIT,
      .strict_readiness = true,
      .startup_models = startup,
      .exit_timeout_s = exit_timeout_s,
  };
  TRITONSERVER_Server* s = tc_server_start(&config, NULL);
  REQUIRE(pc("backend_init") >= 1, "the probe library the core loaded is not the one opened "
                                   "here (backend_init = %ld)", pc("backend_init"));
  return s;
}

/* Delete the server: flag first, so that the threads start no new call. An error of
 * ServerDelete is printed, not counted (scenario 5 lets an Execute outlive the exit
 * timeout on purpose). */
static double
delete_server(TRITONSERVER_Server* s)
{
  atomic_store(&server_gone, true);
  double t0 = ic_now_s();
  TRITONSERVER_Error* err = TRITONSERVER_ServerDelete(s);
  double took = ic_now_s() - t0;
  if (err != NULL) {
    tc_note("ServerDelete: %s: %s", TRITONSERVER_ErrorCodeString(err),
            TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
  }
  return took;
}

/* The end of every scenario: drain, delete, wait for the backend's held requests. */
static void
finish(const char* label, TRITONSERVER_Server* s, double drain_s)
{
  if (s != NULL) {
    wait_outstanding(drain_s);
    double t = delete_server(s);
    tc_note("[%s] ServerDelete took %.0f ms", label, t * 1000);
  }
  wait_outstanding(drain_s);
  double deadline = ic_now_s() + drain_s;
  while (pc("holds_in_flight") > 0 && ic_now_s() < deadline) {
    tc_sleep_ms(10);
  }
  snapshot();
  print_counters(label);
}

/* ---- scenarios (each body runs in a child) ---- */

static void
scenario_reload(const char* repo)
{
  write_probe_model(repo, 2, 50, 200, 0);
  server = start(repo, 5);
  workers w;
  workers_start(&w, 2, 2);
  char json[2048];
  double t0 = ic_now_s();
  for (int i = 0; i < 200; ++i) {
    /* Every 4th reload changes only the instance count (same parameters as before). */
    int tag = (i % 4 == 3) ? i - 1 : i;
    probe_json(json, sizeof(json), 1 + i % 2, 50, 200, i % 2, tag);
    count_load(load_with_config(server, json), "LoadModelWithParameters");
  }
  double took = ic_now_s() - t0;
  workers_join(&w);
  tc_note("[reload] 200 reloads in %.1f s (%ld failed); %ld readiness calls (%ld errors); "
          "%ld requests accepted, %ld refused, %ld error responses",
          took, DGET(load_errors), DGET(ready_calls), DGET(ready_errors), DGET(req_accepted),
          DGET(req_refused), DGET(resp_errors));
  CHECK(DGET(load_errors) == 0, "%ld of 200 reloads failed", DGET(load_errors));
  CHECK(DGET(resp_ok) > 0, "no successful inference");
  CHECK(pc("hook_calls") > 0, "the readiness hook was never called");
  finish("reload", server, 10.0);
}

static void
scenario_cycle(const char* repo)
{
  write_probe_model(repo, 2, 50, 200, 1);
  server = start(repo, 5);
  workers w;
  workers_start(&w, 2, 2);
  char json[2048];
  double t0 = ic_now_s();
  for (int i = 0; i < 200; ++i) {
    count_unload(TRITONSERVER_ServerUnloadModel(server, MODEL));
    if (i % 2 == 0) {
      count_load(TRITONSERVER_ServerLoadModel(server, MODEL), "LoadModel");
    } else {
      probe_json(json, sizeof(json), 1 + (i / 2) % 2, 50, 200, (i / 2) % 2, i);
      count_load(load_with_config(server, json), "LoadModelWithParameters");
    }
    /* Every other cycle, let the inference threads in (a refused request backs off for
     * 1 ms); the cycles in between run back to back. */
    if (i % 2 == 1) {
      tc_sleep_ms(3);
    }
  }
  double took = ic_now_s() - t0;
  workers_join(&w);
  tc_note("[cycle] 200 unload/load cycles in %.1f s (%ld loads, %ld unloads failed); %ld "
          "readiness calls (%ld errors); %ld requests accepted, %ld refused, %ld error "
          "responses",
          took, DGET(load_errors), DGET(unload_errors), DGET(ready_calls), DGET(ready_errors),
          DGET(req_accepted), DGET(req_refused), DGET(resp_errors));
  CHECK(DGET(load_errors) == 0 && DGET(unload_errors) == 0, "%ld loads / %ld unloads failed",
        DGET(load_errors), DGET(unload_errors));
  CHECK(DGET(resp_ok) > 0, "no successful inference");
  finish("cycle", server, 10.0);
}

static int delete_run;

static void
scenario_delete(const char* repo)
{
  write_probe_model(repo, 2, 5000, 2000, delete_run % 2);
  server = start(repo, 2);
  workers w;
  workers_start(&w, 2, 2);
  /* Until the threads made calls (slow under valgrind), at most 10 s. */
  double until = ic_now_s() + 10.0;
  while ((DGET(ready_calls) == 0 || DGET(req_accepted) == 0) && ic_now_s() < until) {
    tc_sleep_ms(10);
  }
  CHECK(DGET(ready_calls) > 0 && DGET(req_accepted) > 0,
        "threads made no call before the stop (%ld readiness calls, %ld requests)",
        DGET(ready_calls), DGET(req_accepted));
  long hooks = pc("hooks_in_flight"), execs = pc("execs_in_flight");
  double t0 = ic_now_s();
  CHECK_OK(TRITONSERVER_ServerStop(server));
  double t_stop = ic_now_s() - t0;
  tc_sleep_ms(20);
  long hooks2 = pc("hooks_in_flight"), execs2 = pc("execs_in_flight");
  double t_del = delete_server(server);
  workers_join(&w);
  char label[32];
  snprintf(label, sizeof(label), "delete #%d", delete_run + 1);
  tc_note("[%s] in the backend at ServerStop: %ld hooks, %ld executes; at ServerDelete: %ld "
          "hooks, %ld executes; ServerStop took %.0f ms, ServerDelete %.0f ms",
          label, hooks, execs, hooks2, execs2, t_stop * 1000, t_del * 1000);
  finish(label, NULL, 10.0);
}

/* Scenario 4: a reader inside the hook for 1 s. */
typedef struct held_reader {
  pthread_t thread;
  TRITONSERVER_Server* server;
  double t_start, t_end;
  int result; /* 1 ready, 0 not, -1 error */
} held_reader;

static void*
held_reader_main(void* arg)
{
  held_reader* r = arg;
  bool ready = false;
  r->t_start = ic_now_s();
  TRITONSERVER_Error* err = TRITONSERVER_ServerModelIsReady(r->server, MODEL, -1, &ready);
  r->t_end = ic_now_s();
  r->result = err ? -1 : ready;
  TRITONSERVER_ErrorDelete(err);
  return NULL;
}

/* Start a reader and wait until it is inside the hook. */
static bool
reader_enter(held_reader* r, TRITONSERVER_Server* s, const char* step)
{
  memset(r, 0, sizeof(*r));
  r->server = s;
  long before = pc("hook_calls");
  REQUIRE(pthread_create(&r->thread, NULL, held_reader_main, r) == 0, "pthread_create");
  double deadline = ic_now_s() + 3.0;
  while ((pc("hooks_in_flight") < 1 || pc("hook_calls") == before) && ic_now_s() < deadline) {
    tc_sleep_ms(1);
  }
  return CHECK(pc("hooks_in_flight") >= 1, "[hook/%s] the reader never entered the hook", step);
}

static void
reader_report(held_reader* r, const char* step, double t_op0, double t_op1, long fini0,
              long fini_op, long viol0)
{
  pthread_join(r->thread, NULL);
  long viol = pc("fini_while_hook") - viol0;
  tc_note("[hook/%s] operation returned after %.0f ms with %ld instance finalize(s) done; "
          "reader returned after %.0f ms (result %d); finalizes while the reader was inside "
          "the hook: %ld",
          step, (t_op1 - t_op0) * 1000, fini_op - fini0, (r->t_end - r->t_start) * 1000,
          r->result, viol);
}

static bool
wait_state(TRITONSERVER_Server* s, const char* want, double timeout_s, char* state, size_t n)
{
  double deadline = ic_now_s() + timeout_s;
  do {
    model_state(s, state, n);
    if (strcmp(state, want) == 0) {
      return true;
    }
    tc_sleep_ms(10);
  } while (ic_now_s() < deadline);
  return false;
}

static void
scenario_hook(const char* repo)
{
  const long kHookUs = 1000000;
  write_probe_model(repo, 1, kHookUs, 0, 0);
  server = start(repo, 5);
  held_reader r;
  char json[2048], state[64];
  long fini0, viol0;
  double t0, t1;

  /* reload */
  if (reader_enter(&r, server, "reload")) {
    fini0 = pc("inst_fini");
    viol0 = pc("fini_while_hook");
    probe_json(json, sizeof(json), 1, kHookUs, 0, 0, 1);
    t0 = ic_now_s();
    count_load(load_with_config(server, json), "reload");
    t1 = ic_now_s();
    reader_report(&r, "reload", t0, t1, fini0, pc("inst_fini"), viol0);
  }
  /* unload */
  if (reader_enter(&r, server, "unload")) {
    fini0 = pc("inst_fini");
    viol0 = pc("fini_while_hook");
    t0 = ic_now_s();
    count_unload(TRITONSERVER_ServerUnloadModel(server, MODEL));
    t1 = ic_now_s();
    long fini_op = pc("inst_fini");
    wait_state(server, "UNAVAILABLE", 3.0, state, sizeof(state));
    reader_report(&r, "unload", t0, t1, fini0, fini_op, viol0);
  }
  count_load(TRITONSERVER_ServerLoadModel(server, MODEL), "LoadModel");
  /* stop, then delete right away (the reader may still be inside) */
  if (reader_enter(&r, server, "stop")) {
    fini0 = pc("inst_fini");
    viol0 = pc("fini_while_hook");
    t0 = ic_now_s();
    CHECK_OK(TRITONSERVER_ServerStop(server));
    t1 = ic_now_s();
    long fini_op = pc("inst_fini");
    double t_del = delete_server(server);
    tc_note("[hook/stop] ServerDelete right after ServerStop took %.0f ms", t_del * 1000);
    reader_report(&r, "stop", t0, t1, fini0, fini_op, viol0);
  } else {
    delete_server(server);
  }
  /* delete without stop, on a second server */
  atomic_store(&server_gone, false);
  server = start(repo, 5);
  if (reader_enter(&r, server, "delete")) {
    fini0 = pc("inst_fini");
    viol0 = pc("fini_while_hook");
    t0 = ic_now_s();
    delete_server(server);
    t1 = ic_now_s();
    reader_report(&r, "delete", t0, t1, fini0, pc("inst_fini"), viol0);
  } else {
    delete_server(server);
  }
  CHECK(DGET(load_errors) == 0 && DGET(unload_errors) == 0, "%ld loads / %ld unloads failed",
        DGET(load_errors), DGET(unload_errors));
  finish("hook", NULL, 5.0);
}

/* Scenario 5: Execute (or held requests) outliving the 1 s exit timeout. */
static void
slow_step(const char* step, const req_opts* opts, bool stop)
{
  const char* gauge = opts->hold_ms > 0 ? "holds_in_flight" : "execs_in_flight";
  long fini0 = pc("inst_fini");
  long v0 = pc("fini_while_exec");
  long h0 = pc("fini_while_holding");
  REQUIRE(send_one(MODEL, 7.0f, opts), "[exit/%s] request refused", step);
  double deadline = ic_now_s() + 3.0;
  while (pc(gauge) < 1 && ic_now_s() < deadline) {
    tc_sleep_ms(1);
  }
  CHECK(pc(gauge) >= 1, "[exit/%s] the request never got into the backend", step);
  char state[64] = "", at_return[64] = "";
  double t0 = ic_now_s(), t_op, t_del = -1, t_unavail = -1;
  if (stop) {
    TRITONSERVER_Error* err = TRITONSERVER_ServerStop(server);
    if (err != NULL) {
      tc_note("[exit/%s] ServerStop: %s: %s", step, TRITONSERVER_ErrorCodeString(err),
              TRITONSERVER_ErrorMessage(err));
      TRITONSERVER_ErrorDelete(err);
    }
  } else {
    count_unload(TRITONSERVER_ServerUnloadModel(server, MODEL));
  }
  t_op = ic_now_s() - t0;
  model_state(server, at_return, sizeof(at_return));
  bool running_at_unavail = false;
  /* Until the request completed: when does the model turn UNAVAILABLE? */
  deadline = ic_now_s() + 8.0;
  while (ic_now_s() < deadline && (DGET(outstanding) > 0 || t_unavail < 0)) {
    if (t_unavail < 0) {
      model_state(server, state, sizeof(state));
      if (strcmp(state, "UNAVAILABLE") == 0) {
        t_unavail = ic_now_s() - t0;
        running_at_unavail = pc(gauge) > 0;
      }
    }
    if (DGET(outstanding) == 0 && ic_now_s() - t0 > 4.0) {
      break;
    }
    tc_sleep_ms(10);
  }
  long fini_running = pc("inst_fini") - fini0;
  if (stop) {
    t_del = delete_server(server);
    server = NULL;
  }
  wait_outstanding(5.0);
  char unavail[96] = "never (in the index)", del[48] = "";
  if (t_unavail >= 0) {
    snprintf(unavail, sizeof(unavail), "after %.0f ms%s", t_unavail * 1000,
             running_at_unavail ? ", the request still in the backend" : "");
  }
  if (t_del >= 0) {
    snprintf(del, sizeof(del), "; ServerDelete took %.0f ms", t_del * 1000);
  }
  tc_note("[exit/%s] %s returned after %.0f ms (model state then '%s'); UNAVAILABLE %s; %ld "
          "instance finalize(s) while the request was pending%s",
          step, stop ? "ServerStop" : "UnloadModel", t_op * 1000, at_return, unavail,
          fini_running, del);
  tc_note("[exit/%s] finalizes during the Execute: %ld; while the backend held the "
          "requests (informational): %ld",
          step, pc("fini_while_exec") - v0,
          pc("fini_while_holding") - h0);
}

static void
scenario_exit(const char* repo)
{
  write_probe_model(repo, 1, 0, 0, 0);
  server = start(repo, 1);
  req_opts slow = {.exec_sleep_us = 3000000};
  req_opts held = {.hold_ms = 3000, .use_factory = true};
  slow_step("unload/execute", &slow, false);
  count_load(TRITONSERVER_ServerLoadModel(server, MODEL), "LoadModel");
  slow_step("unload/held", &held, false);
  count_load(TRITONSERVER_ServerLoadModel(server, MODEL), "LoadModel");
  slow_step("stop/execute", &slow, true);
  atomic_store(&server_gone, false);
  server = start(repo, 1);
  slow_step("stop/held", &held, true);
  if (DGET(load_errors) != 0) {
    tc_note("[exit] %ld loads failed", DGET(load_errors));
  }
  finish("exit", NULL, 5.0);
}

/* ---- parent ---- */

typedef struct kv {
  char name[64];
  long value;
} kv;

typedef struct result {
  kv kvs[256];
  int n;
} result;

static long
rget(const result* r, const char* name, bool* found)
{
  for (int i = 0; i < r->n; ++i) {
    if (strcmp(r->kvs[i].name, name) == 0) {
      if (found) {
        *found = true;
      }
      return r->kvs[i].value;
    }
  }
  if (found) {
    *found = false;
  }
  return 0;
}

static void
rset(result* r, const char* name, long value)
{
  for (int i = 0; i < r->n; ++i) {
    if (strcmp(r->kvs[i].name, name) == 0) {
      r->kvs[i].value = value;
      return;
    }
  }
  if (r->n < 256) {
    snprintf(r->kvs[r->n].name, sizeof(r->kvs[r->n].name), "%s", name);
    r->kvs[r->n++].value = value;
  }
}

static void
parse_reports(result* r, char* text)
{
  char* save = NULL;
  for (char* line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char name[64];
    long v;
    if (sscanf(line, "%63s %ld", name, &v) == 2) {
      rset(r, name, v);
    }
  }
}

typedef struct summary_row {
  char label[32];
  char outcome[48];
  long violations;
  char detail[512];
} summary_row;

static summary_row summary[16];
static int n_summary;

static void
run_scenario(const char* label, void (*body)(const char*), unsigned alarm_s)
{
  char* repo = tc_repo_new();
  int fds[2];
  REQUIRE(pipe(fds) == 0, "pipe");
  tc_note("=== %s", label);
  fflush(stdout);
  fflush(stderr);
  double t0 = ic_now_s();
  pid_t pid = fork();
  REQUIRE(pid >= 0, "fork");
  if (pid == 0) {
    close(fds[0]);
    report_fd = fds[1];
    tc_failures = 0;
    alarm(alarm_s);
    probe_open();
    alloc = ic_allocator_new();
    pthread_t mon;
    REQUIRE(pthread_create(&mon, NULL, monitor_thread, NULL) == 0, "pthread_create");
    body(repo);
    atomic_store(&monitor_stop, true);
    pthread_join(mon, NULL);
    snapshot();
    fflush(stdout);
    fflush(stderr);
    _exit(tc_failures ? 1 : 0);
  }
  close(fds[1]);
  size_t cap = 1 << 16, len = 0;
  char* text = malloc(cap);
  REQUIRE(text != NULL, "out of memory");
  for (;;) {
    if (len + 4096 + 1 > cap) {
      /* Keep only the tail: the last snapshots are what counts. */
      size_t keep = cap / 2;
      char* nl = memchr(text + len - keep, '\n', keep);
      size_t from = nl ? (size_t)(nl + 1 - text) : len - keep;
      memmove(text, text + from, len - from);
      len -= from;
    }
    ssize_t n = read(fds[0], text + len, cap - len - 1);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    len += (size_t)n;
  }
  text[len] = '\0';
  close(fds[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  double took = ic_now_s() - t0;
  result* r = calloc(1, sizeof(result));
  REQUIRE(r != NULL, "out of memory");
  parse_reports(r, text);
  free(text);

  summary_row* row = &summary[n_summary < 15 ? n_summary++ : 15];
  snprintf(row->label, sizeof(row->label), "%s", label);
  size_t dn = 0;
  int fails_before = tc_failures;
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    snprintf(row->outcome, sizeof(row->outcome), "%s (signal %d)",
             sig == SIGALRM ? "HUNG" : "CRASHED", sig);
    tc_fail(__FILE__, __LINE__, "[%s] %s: %s after %.1f s", label,
            sig == SIGALRM ? "hung (alarm)" : "crashed", strsignal(sig), took);
  } else if (WEXITSTATUS(st) != 0) {
    snprintf(row->outcome, sizeof(row->outcome), "checks failed (exit %d)", WEXITSTATUS(st));
    tc_fail(__FILE__, __LINE__, "[%s] failed checks in the child (see above)", label);
  } else {
    snprintf(row->outcome, sizeof(row->outcome), "ran");
  }
  bool found = false;
  rget(r, "probe.backend_init", &found);
  if (!found) {
    tc_fail(__FILE__, __LINE__, "[%s] no counters reported", label);
  }
  row->violations = 0;
  for (size_t i = 0; i < N_MUST_BE_ZERO; ++i) {
    char key[80];
    snprintf(key, sizeof(key), "probe.%s", kMustBeZero[i]);
    long v = rget(r, key, NULL);
    if (v != 0) {
      row->violations += v;
      dn += (size_t)snprintf(row->detail + dn, sizeof(row->detail) - dn, " %s=%ld",
                             kMustBeZero[i], v);
      tc_fail(__FILE__, __LINE__, "[%s] probe counter %s = %ld, expected 0", label,
              kMustBeZero[i], v);
    }
  }
  long fc = rget(r, "probe.factories_created", NULL);
  long fd = rget(r, "probe.factories_deleted", NULL);
  CHECK(fc == fd, "[%s] response factories: %ld created, %ld deleted", label, fc, fd);
  long rc = rget(r, "drv.req_created", NULL), rd = rget(r, "drv.req_deleted", NULL);
  CHECK(rc == rd, "[%s] requests: %ld created, %ld deleted", label, rc, rd);
  long rs = rget(r, "drv.responses", NULL), rsd = rget(r, "drv.resp_deleted", NULL);
  CHECK(rs == rsd, "[%s] responses: %ld received, %ld deleted", label, rs, rsd);
  long lost = rget(r, "drv.lost", NULL) + rget(r, "drv.outstanding", NULL);
  CHECK(lost == 0, "[%s] %ld accepted request(s) without FINAL response or release", label,
        lost);
  long al = rget(r, "drv.alloc", NULL), alr = rget(r, "drv.alloc_released", NULL);
  CHECK(al == alr, "[%s] allocator: %ld buffers allocated, %ld released", label, al, alr);
  if (fc != fd || rc != rd || rs != rsd || lost != 0 || al != alr) {
    dn += (size_t)snprintf(row->detail + dn, sizeof(row->detail) - dn,
                           " leaks(factories %ld/%ld requests %ld/%ld responses %ld/%ld lost "
                           "%ld buffers %ld/%ld)",
                           fc, fd, rc, rd, rs, rsd, lost, al, alr);
  }
  tc_note("[%s] %s in %.1f s; lifetime violations: %ld%s; hook calls %ld, executes %ld, "
          "instances %ld/%ld initialized/finalized",
          label, tc_failures == fails_before ? "PASS" : "FAIL", took, row->violations,
          row->detail, rget(r, "probe.hook_calls", NULL), rget(r, "probe.exec_calls", NULL),
          rget(r, "probe.inst_init", NULL), rget(r, "probe.inst_fini", NULL));
  free(r);
  tc_repo_remove(repo);
}

static bool
selected(int n)
{
  const char* only = getenv("TC_LIFETIME_ONLY");
  if (only == NULL || *only == '\0') {
    return true;
  }
  for (const char* p = only; *p;) {
    char* end = NULL;
    long v = strtol(p, &end, 10);
    if (end == p) {
      p++;
      continue;
    }
    if (v == n) {
      return true;
    }
    p = end;
  }
  return false;
}

int
main(void)
{
  double t0 = ic_now_s();
  if (selected(1)) {
    run_scenario("1 reload x200", scenario_reload, 45);
  }
  if (selected(2)) {
    run_scenario("2 unload/load x200", scenario_cycle, 45);
  }
  if (selected(3)) {
    for (delete_run = 0; delete_run < 5; ++delete_run) {
      char label[32];
      snprintf(label, sizeof(label), "3 stop+delete #%d", delete_run + 1);
      run_scenario(label, scenario_delete, 20);
    }
  }
  if (selected(4)) {
    run_scenario("4 reader held in hook", scenario_hook, 60);
  }
  if (selected(5)) {
    run_scenario("5 execute past exit timeout", scenario_exit, 90);
  }
  tc_note("summary (%.1f s):", ic_now_s() - t0);
  for (int i = 0; i < n_summary; ++i) {
    tc_note("  %-28s %-24s violations %ld%s", summary[i].label, summary[i].outcome,
            summary[i].violations, summary[i].detail);
  }
  return tc_finish("int_lifetime");
}
