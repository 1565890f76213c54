/* int_readiness_bounded: bounded readiness checks and self-healing instances (the
 * triton-core extensions of tritonrs.h), with their metrics and log lines.
 *
 * Each scenario runs in a forked child with an alarm() guard: a crash or a hang fails that
 * scenario and the others still run. Every server logs to <repo>/server.log
 * (TRITONSERVER_ServerOptionsSetLogFile) so that the lines can be counted.
 *
 *  1 bounded     backend 'slowhook' (hook blocks while <model_dir>/BLOCK_READY exists),
 *                readiness timeout 300 ms through TRITONRS_ServerOptionsSetReadinessTimeout:
 *                8 threads call TRITONSERVER_ServerIsReady together; each returns NOT READY
 *                within 300 + 50 ms; one hook call for all of them and never two at once;
 *                the report says "readiness check of instance slow_0_0 did not answer within
 *                300 ms"; later calls answer at once without calling the hook again; another
 *                model stays ready; once the hook returns the server is READY again. Two
 *                rounds: nv_instance_ready_check_timeouts 1 then 2, transitions 2 then 4,
 *                exactly one warning line per transition to not ready and one info line per
 *                return to ready, however often readiness was polled.
 *  2 bounded-env the same bound set by TRITON_CORE_READINESS_TIMEOUT_MS=300 (read by
 *                TRITONSERVER_ServerOptionsNew), without the setter.
 *  3 restart     backend 'stubinfer' (inference through a stub process), 4 inference
 *                threads, restart through TRITONRS_ServerOptionsSetInstanceRestart(true, 3, 3,
 *                20, 100) and the readiness monitor (25 ms); kill -9 the stub: NOT READY
 *                with the reason, a new stub, READY again; only requests in flight on the
 *                dead stub fail (each client thread backs off 300 ms after an error, so a
 *                second error would mean a request sent to the dead stub after the kill was
 *                noticed), none hangs; nv_instance_restarts 1, nv_instance_ready 1; the
 *                restart's log lines once each.
 *  4 give-up     model parameters triton_core.instance_restart="true" (server option off),
 *                max 3 attempts, a stub that exits at every start after the first: the
 *                restart gives up after 3 attempts, stays NOT READY with "could not be
 *                restarted after 3 attempt(s)", no more forks; requests get an error, none
 *                hangs; nv_instance_restart_failures 3.
 *  5 restart-off the default: kill -9 the stub with the monitor running: NOT READY with the
 *                reason, never restarted (no new fork, no Initialize), one warning line for
 *                200 polls, requests get the backend's error.
 *  6 give-up-nohs as 4, but the backend does not wait for its stub's handshake, so every
 *                restart attempt "succeeds" and the new stub dies right after: the restarts
 *                must still stop after the attempt cap ("could not be restarted after 3
 *                attempt(s)"), not go on forever.
 *  7 neighbour   a hung hook on model "a_slow" must not make "b_healthy" (checked after it,
 *                name order) not ready: no report entry, no timeout, no transition, no
 *                warning.
 *
 * Environment: TC_RB_ONLY=<n>[,<n>...] runs only those scenarios; TC_RB_STRICT=1 counts the
 * failures of the scenarios marked as known bugs; TC_KEEP_REPO=1 keeps the repositories (and
 * their server.log). */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "infer_common.h"
#include "triton/core/tritonrs.h"

/* The bound the issue names for a readiness call with a hung hook: deadline + 50 ms, plus
 * whatever the machine adds to a plain 300 ms sleep started at the same moment (a control
 * thread measures it): on a loaded 2-core CI runner the scheduler alone can add hundreds of
 * milliseconds, which is not the core's waiting. */
#define TIMEOUT_MS 300
#define SLACK_MS 50

/* ---- backend counters (dlopen of the library the core opened) ---- */

static long (*slowhook_counter)(const char*);
static long (*stubinfer_counter)(const char*);

static void*
open_backend(const char* name)
{
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s/libtriton_%s.so", TC_BACKEND_DIR, name, name);
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  REQUIRE(h != NULL, "dlopen(%s): %s", path, dlerror());
  return h;
}

static long
sh(const char* name)
{
  if (slowhook_counter == NULL) {
    slowhook_counter = (long (*)(const char*))dlsym(open_backend("slowhook"), "slowhook_counter");
    REQUIRE(slowhook_counter != NULL, "slowhook_counter missing");
  }
  return slowhook_counter(name);
}

static long
si(const char* name)
{
  if (stubinfer_counter == NULL) {
    stubinfer_counter =
        (long (*)(const char*))dlsym(open_backend("stubinfer"), "stubinfer_counter");
    REQUIRE(stubinfer_counter != NULL, "stubinfer_counter missing");
  }
  return stubinfer_counter(name);
}

/* ---- server ---- */

typedef struct srv_opts {
  uint64_t readiness_timeout_ms; /* 0: not set */
  uint64_t monitor_ms;           /* 0: not set */
  bool restart;                  /* TRITONRS_ServerOptionsSetInstanceRestart(true, ...) */
  unsigned restart_after, restart_max;
  uint64_t restart_base_ms, restart_cap_ms;
} srv_opts;

static char log_path[4096];

static TRITONSERVER_Server*
start(const char* repo, const srv_opts* o)
{
  snprintf(log_path, sizeof(log_path), "%s/server.log", repo);
  TRITONSERVER_ServerOptions* opt = NULL;
  REQUIRE_OK(TRITONSERVER_ServerOptionsNew(&opt));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetModelRepositoryPath(opt, repo));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetBackendDirectory(opt, TC_BACKEND_DIR));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetModelControlMode(opt, TRITONSERVER_MODEL_CONTROL_NONE));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetStrictReadiness(opt, true));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetStrictModelConfig(opt, true));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetExitTimeout(opt, 5));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetLogFile(opt, log_path));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetLogInfo(opt, true));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetLogWarn(opt, true));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetLogError(opt, true));
  const char* verbose = getenv("TC_VERBOSE");
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetLogVerbose(opt, verbose ? atoi(verbose) : 0));
  if (o->readiness_timeout_ms > 0) {
    REQUIRE_OK(TRITONRS_ServerOptionsSetReadinessTimeout(opt, o->readiness_timeout_ms));
  }
  if (o->monitor_ms > 0) {
    REQUIRE_OK(TRITONRS_ServerOptionsSetReadinessMonitor(opt, o->monitor_ms));
  }
  if (o->restart) {
    REQUIRE_OK(TRITONRS_ServerOptionsSetInstanceRestart(
        opt, true, o->restart_after, o->restart_max, o->restart_base_ms, o->restart_cap_ms));
  }
  TRITONSERVER_Server* s = NULL;
  REQUIRE_OK(TRITONSERVER_ServerNew(&s, opt));
  REQUIRE_OK(TRITONSERVER_ServerOptionsDelete(opt));
  return s;
}

/* The readiness report as compact JSON (malloc'd). */
static char*
report(TRITONSERVER_Server* s)
{
  TRITONSERVER_Message* m = NULL;
  REQUIRE_OK(TRITONRS_ServerReadinessReport(s, &m));
  char* json = tc_message_json(m);
  CHECK_OK(TRITONSERVER_MessageDelete(m));
  REQUIRE(json != NULL, "readiness report not serializable");
  return json;
}

/* The "reason" of the report's entry for `instance` into out ("" if none). */
static void
report_reason(const char* json, const char* instance, char* out, size_t size)
{
  out[0] = '\0';
  char needle[300];
  snprintf(needle, sizeof(needle), "\"instance\":\"%s\"", instance);
  char* obj = tc_json_object_with(json, needle);
  if (obj == NULL) {
    return;
  }
  const char* p = strstr(obj, "\"reason\":\"");
  if (p != NULL) {
    p += strlen("\"reason\":\"");
    size_t n = 0;
    while (p[n] != '\0' && p[n] != '"' && n + 1 < size) {
      n++;
    }
    memcpy(out, p, n);
    out[n] = '\0';
  }
  free(obj);
}

/* Integer field `key` of the report's entry for `instance` (-1 if absent). */
static long
report_field(const char* json, const char* instance, const char* key)
{
  char needle[300];
  snprintf(needle, sizeof(needle), "\"instance\":\"%s\"", instance);
  char* obj = tc_json_object_with(json, needle);
  if (obj == NULL) {
    return -1;
  }
  snprintf(needle, sizeof(needle), "\"%s\":", key);
  const char* p = strstr(obj, needle);
  long v = p ? strtol(p + strlen(needle), NULL, 10) : -1;
  free(obj);
  return v;
}

static char*
metrics(TRITONSERVER_Server* s)
{
  TRITONSERVER_Metrics* m = NULL;
  REQUIRE_OK(TRITONSERVER_ServerMetrics(s, &m));
  const char* base = NULL;
  size_t size = 0;
  REQUIRE_OK(TRITONSERVER_MetricsFormatted(m, TRITONSERVER_METRIC_PROMETHEUS, &base, &size));
  char* text = malloc(size + 1);
  REQUIRE(text != NULL, "out of memory");
  memcpy(text, base, size);
  text[size] = '\0';
  CHECK_OK(TRITONSERVER_MetricsDelete(m));
  return text;
}

/* The value of `family{instance="<inst>",model="<model>",version="1"}` (NAN if absent). */
static double
metric(const char* text, const char* family, const char* model, const char* inst)
{
  char needle[512];
  snprintf(needle, sizeof(needle), "\n%s{instance=\"%s\",model=\"%s\",version=\"1\"} ", family,
           inst, model);
  const char* p = strstr(text, needle);
  return p ? strtod(p + strlen(needle), NULL) : NAN;
}

static void
expect_metric(TRITONSERVER_Server* s, const char* family, const char* model, const char* inst,
              double want, const char* step)
{
  char* text = metrics(s);
  double got = metric(text, family, model, inst);
  if (!CHECK(got == want, "[%s] %s{instance=\"%s\",model=\"%s\",version=\"1\"} = %g, expected %g",
             step, family, inst, model, got, want)) {
    /* Show the instance's lines. */
    for (char* line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
      if (strstr(line, "nv_instance_") == line && strstr(line, inst) != NULL) {
        tc_note("  %s", line);
      }
    }
  }
  free(text);
}

/* Lines of the server log at `level` ('I', 'W', 'E': the first character of the default
 * format) containing every one of the (up to 2) substrings. */
static int
log_count(char level, const char* a, const char* b)
{
  FILE* f = fopen(log_path, "r");
  if (f == NULL) {
    return -1;
  }
  char line[8192];
  int n = 0;
  while (fgets(line, sizeof(line), f) != NULL) {
    if (line[0] == level && strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL)) {
      n++;
    }
  }
  fclose(f);
  return n;
}

static void
expect_log(char level, const char* a, const char* b, int want, const char* step)
{
  int got = log_count(level, a, b);
  CHECK(got == want, "[%s] %d %c line(s) with \"%s\"%s%s%s in %s, expected %d", step, got, level,
        a, b ? " and \"" : "", b ? b : "", b ? "\"" : "", log_path, want);
}

static int
ready(TRITONSERVER_Server* s)
{
  return tc_server_ready(s);
}

static bool
wait_for(bool (*pred)(void*), void* arg, double timeout_s)
{
  double deadline = ic_now_s() + timeout_s;
  while (!pred(arg)) {
    if (ic_now_s() > deadline) {
      return false;
    }
    tc_sleep_ms(2);
  }
  return true;
}

/* ---- scenario 1 / 2: a hung readiness hook ---- */

#define NTHREADS 8

typedef struct ready_call {
  TRITONSERVER_Server* s;
  pthread_barrier_t* barrier;
  double ms;
  int ready;
} ready_call;

static void*
ready_thread(void* arg)
{
  ready_call* c = arg;
  pthread_barrier_wait(c->barrier);
  uint64_t t0 = ic_now_ns();
  c->ready = tc_server_ready(c->s);
  c->ms = (double)(ic_now_ns() - t0) / 1e6;
  return NULL;
}

/* The control: how late a plain sleep of TIMEOUT_MS, started with the callers, wakes up. */
static void*
control_thread(void* arg)
{
  ready_call* c = arg;
  pthread_barrier_wait(c->barrier);
  uint64_t t0 = ic_now_ns();
  tc_sleep_ms(TIMEOUT_MS);
  double late = (double)(ic_now_ns() - t0) / 1e6 - TIMEOUT_MS;
  c->ms = late > 0 ? late : 0;
  return NULL;
}

static bool
hook_returned(void* arg)
{
  (void)arg;
  return sh("returned") == sh("blocked") && sh("in_flight") == 0;
}

/* One round: block the hook, 8 concurrent ServerIsReady, polls while it hangs, recover. */
static void
hung_round(TRITONSERVER_Server* s, const char* repo, int round, const char* label)
{
  char step[128];
  snprintf(step, sizeof(step), "%s round %d", label, round);
  long calls0 = sh("calls");
  tc_touch(repo, "slow", "BLOCK_READY");
  tc_sleep_ms(20); /* past the 1 ms reuse of the last "ready" answer */

  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, NTHREADS + 1);
  pthread_t th[NTHREADS];
  ready_call calls[NTHREADS];
  for (int i = 0; i < NTHREADS; ++i) {
    calls[i] = (ready_call){.s = s, .barrier = &barrier};
    REQUIRE(pthread_create(&th[i], NULL, ready_thread, &calls[i]) == 0, "pthread_create");
  }
  pthread_t control;
  ready_call load = {.s = s, .barrier = &barrier};
  REQUIRE(pthread_create(&control, NULL, control_thread, &load) == 0, "pthread_create");
  pthread_join(control, NULL);
  double bound = TIMEOUT_MS + SLACK_MS + load.ms;
  double worst = 0;
  for (int i = 0; i < NTHREADS; ++i) {
    pthread_join(th[i], NULL);
    worst = calls[i].ms > worst ? calls[i].ms : worst;
    CHECK(calls[i].ready == 0, "[%s] thread %d: ServerIsReady = %d, expected 0 (not ready)",
          step, i, calls[i].ready);
    CHECK(calls[i].ms <= bound,
          "[%s] thread %d: ServerIsReady took %.1f ms, bound %d + %d ms + %.1f ms (a plain "
          "sleep's lateness)",
          step, i, calls[i].ms, TIMEOUT_MS, SLACK_MS, load.ms);
  }
  pthread_barrier_destroy(&barrier);
  tc_note("[%s] 8 concurrent ServerIsReady: slowest %.1f ms (bound %.1f ms; a plain %d ms "
          "sleep woke %.1f ms late)",
          step, worst, bound, TIMEOUT_MS, load.ms);
  CHECK(sh("calls") - calls0 == 1, "[%s] %ld hook calls for 8 concurrent checks, expected 1",
        step, sh("calls") - calls0);
  CHECK(sh("in_flight") == 1, "[%s] hook calls in flight = %ld, expected 1 (still blocked)",
        step, sh("in_flight"));

  /* While the hook still hangs: answers at once, from the timed-out state, no new call. */
  double worst_poll = 0;
  for (int i = 0; i < 50; ++i) {
    uint64_t t0 = ic_now_ns();
    int r = ready(s);
    double ms = (double)(ic_now_ns() - t0) / 1e6;
    worst_poll = ms > worst_poll ? ms : worst_poll;
    CHECK(r == 0, "[%s] poll %d while hung: ServerIsReady = %d", step, i, r);
    tc_sleep_ms(2);
  }
  tc_note("[%s] 50 polls while the hook hangs: slowest %.1f ms", step, worst_poll);
  CHECK(worst_poll <= TIMEOUT_MS + SLACK_MS, "[%s] a poll while hung took %.1f ms", step,
        worst_poll);
  CHECK(tc_model_ready(s, "slow", 1) == 0, "[%s] ModelIsReady(slow) not 0", step);
  uint64_t t0 = ic_now_ns();
  CHECK(tc_model_ready(s, "other", 1) == 1, "[%s] ModelIsReady(other) not 1", step);
  double other_ms = (double)(ic_now_ns() - t0) / 1e6;
  CHECK(other_ms < TIMEOUT_MS, "[%s] ModelIsReady(other) took %.1f ms behind the hung hook",
        step, other_ms);
  CHECK(tc_server_live(s) == 1, "[%s] not live", step);

  char* json = report(s);
  char reason[512];
  report_reason(json, "slow_0_0", reason, sizeof(reason));
  char want[256];
  snprintf(want, sizeof(want),
           "readiness check of instance slow_0_0 did not answer within %d ms", TIMEOUT_MS);
  CHECK(strcmp(reason, want) == 0, "[%s] report reason '%s', expected '%s' (report %s)", step,
        reason, want, json);
  CHECK(strstr(json, "\"ready\":false") != NULL, "[%s] report not ready=false: %s", step, json);
  CHECK(report_field(json, "slow_0_0", "check_timeouts") == round,
        "[%s] report check_timeouts = %ld, expected %d", step,
        report_field(json, "slow_0_0", "check_timeouts"), round);
  CHECK(strstr(json, "\"model\":\"other\"") == NULL, "[%s] 'other' in the report: %s", step,
        json);
  free(json);
  CHECK(sh("calls") - calls0 == 1,
        "[%s] %ld hook calls while the first one hangs, expected 1 (single flight)", step,
        sh("calls") - calls0);
  CHECK(sh("max_in_flight") == 1, "[%s] at most %ld hook calls at once, expected 1", step,
        sh("max_in_flight"));
  expect_metric(s, "nv_instance_ready", "slow", "slow_0_0", 0, step);
  expect_metric(s, "nv_instance_ready_check_timeouts", "slow", "slow_0_0", round, step);
  expect_metric(s, "nv_instance_ready_transitions", "slow", "slow_0_0", 2 * round - 1, step);

  /* The hook answers again. */
  tc_unlink(repo, "slow", "BLOCK_READY");
  CHECK(wait_for(hook_returned, NULL, 5.0), "[%s] the blocked hook call did not return", step);
  int got = tc_wait_server_ready(s, 1, 2.0);
  CHECK(got == 1, "[%s] ServerIsReady = %d after the hook recovered, expected 1", step, got);
  json = report(s);
  CHECK(strcmp(json, "{\"ready\":true,\"not_ready\":[]}") == 0, "[%s] report %s", step, json);
  free(json);
  CHECK(sh("max_in_flight") == 1, "[%s] at most %ld hook calls at once, expected 1", step,
        sh("max_in_flight"));
  expect_metric(s, "nv_instance_ready", "slow", "slow_0_0", 1, step);
  expect_metric(s, "nv_instance_ready_check_timeouts", "slow", "slow_0_0", round, step);
  expect_metric(s, "nv_instance_ready_transitions", "slow", "slow_0_0", 2 * round, step);
  expect_metric(s, "nv_instance_restarts", "slow", "slow_0_0", 0, step);
  expect_metric(s, "nv_instance_restart_failures", "slow", "slow_0_0", 0, step);
  /* One line per transition, not one per poll (8 + 50 + more calls were made). */
  expect_log('W', "instance slow_0_0 is not ready: ", want, round, step);
  expect_log('W', "instance slow_0_0 is not ready", NULL, round, step);
  expect_log('I', "model 'slow' version 1 instance slow_0_0 is ready again", NULL, round, step);
}

static void
bounded_common(const char* repo, bool from_env)
{
  tc_repo_add_model(repo, "slow", "slowhook", 1, NULL);
  tc_repo_add_model(repo, "other", "healthy", 1, NULL);
  srv_opts o = {0};
  if (from_env) {
    char v[32];
    snprintf(v, sizeof(v), "%d", TIMEOUT_MS);
    REQUIRE(setenv("TRITON_CORE_READINESS_TIMEOUT_MS", v, 1) == 0, "setenv");
  } else {
    o.readiness_timeout_ms = TIMEOUT_MS;
  }
  TRITONSERVER_Server* s = start(repo, &o);
  const char* label = from_env ? "bounded-env" : "bounded";
  CHECK(ready(s) == 1, "[%s] not ready at start", label);
  hung_round(s, repo, 1, label);
  if (!from_env) {
    hung_round(s, repo, 2, label);
  }
  tc_server_delete(s);
}

static void
scenario_bounded(const char* repo)
{
  bounded_common(repo, false);
}

static void
scenario_bounded_env(const char* repo)
{
  bounded_common(repo, true);
}

/* ---- inference threads on the stub model ---- */

static TRITONSERVER_ResponseAllocator* alloc;

typedef struct infer_thread {
  TRITONSERVER_Server* s;
  int id;
  atomic_bool* stop;
  pthread_t th;
  long sent, ok, failed, refused, hung, bad_data;
  double first_ok_after_fail_s; /* when the first success after a failure came */
  char fail_msg[4][600];
  double fail_at[4];
} infer_thread;

static void*
infer_main(void* arg)
{
  infer_thread* t = arg;
  /* On the heap: leaked if a request hangs (its callbacks may still come). */
  ic_call* callp = malloc(sizeof(ic_call));
  REQUIRE(callp != NULL, "out of memory");
  ic_call_init(callp, false);
  callp->delete_on_release = true;
  long seq = 0;
  while (!atomic_load(t->stop)) {
    float in[4], want[4];
    for (int i = 0; i < 4; ++i) {
      in[i] = (float)(t->id * 1000 + (seq % 500)) + (float)i / 4.0f;
      want[i] = in[i] + 1.0f;
    }
    seq++;
    ic_call_reset(callp);
    callp->check_output = "OUTPUT0";
    callp->check_data = want;
    callp->check_size = sizeof(want);
    TRITONSERVER_InferenceRequest* r = NULL;
    TRITONSERVER_Error* err = TRITONSERVER_InferenceRequestNew(&r, t->s, "si", -1);
    if (err != NULL) {
      TRITONSERVER_ErrorDelete(err);
      t->refused++;
      tc_sleep_ms(50);
      continue;
    }
    const int64_t shape[1] = {4};
    REQUIRE_OK(
        TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_FP32, shape, 1));
    REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(r, "INPUT0", in, sizeof(in),
                                                            TRITONSERVER_MEMORY_CPU, 0));
    REQUIRE_OK(ic_set_callbacks(r, alloc, callp));
    t->sent++;
    err = TRITONSERVER_ServerInferAsync(t->s, r, NULL);
    if (err != NULL) {
      if (t->failed < 4) {
        snprintf(t->fail_msg[t->failed], sizeof(t->fail_msg[0]), "InferAsync: %s",
                 TRITONSERVER_ErrorMessage(err));
        t->fail_at[t->failed] = ic_now_s();
      }
      t->failed++;
      t->refused++;
      TRITONSERVER_ErrorDelete(err);
      CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));
      tc_sleep_ms(300);
      continue;
    }
    if (!ic_wait_done(callp, 10.0)) {
      t->hung++;
      tc_fail(__FILE__, __LINE__, "inference thread %d: no FINAL response + release in 10 s",
              t->id);
      break; /* the call may still be written to: leave it alone */
    }
    pthread_mutex_lock(&callp->mu);
    bool failed = callp->error_responses > 0;
    bool bad = callp->check_failures > 0;
    if (failed && t->failed < 4) {
      snprintf(t->fail_msg[t->failed], sizeof(t->fail_msg[0]), "%s", callp->first_error);
      t->fail_at[t->failed] = ic_now_s();
    }
    pthread_mutex_unlock(&callp->mu);
    if (failed) {
      t->failed++;
      tc_sleep_ms(300); /* a client's back-off after an error */
    } else if (bad) {
      t->bad_data++;
    } else {
      t->ok++;
      if (t->failed > 0 && t->first_ok_after_fail_s == 0) {
        t->first_ok_after_fail_s = ic_now_s();
      }
    }
  }
  if (t->hung == 0) {
    ic_call_destroy(callp);
    free(callp);
  }
  return NULL;
}

/* One request to "si" from this thread; its final response's error message into msg (""
 * on success). Returns false if it hung. */
static bool
infer_once(TRITONSERVER_Server* s, char* msg, size_t size, double* took_ms)
{
  /* On the heap: leaked if the request hangs (its callbacks may still come). */
  ic_call* callp = malloc(sizeof(ic_call));
  REQUIRE(callp != NULL, "out of memory");
  ic_call_init(callp, false);
  callp->delete_on_release = true;
  float in[4] = {1, 2, 3, 4};
  TRITONSERVER_InferenceRequest* r = NULL;
  REQUIRE_OK(TRITONSERVER_InferenceRequestNew(&r, s, "si", -1));
  const int64_t shape[1] = {4};
  REQUIRE_OK(TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_FP32, shape, 1));
  REQUIRE_OK(TRITONSERVER_InferenceRequestAppendInputData(r, "INPUT0", in, sizeof(in),
                                                          TRITONSERVER_MEMORY_CPU, 0));
  REQUIRE_OK(ic_set_callbacks(r, alloc, callp));
  uint64_t t0 = ic_now_ns();
  TRITONSERVER_Error* err = TRITONSERVER_ServerInferAsync(s, r, NULL);
  if (err != NULL) {
    snprintf(msg, size, "InferAsync refused: %s", TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
    CHECK_OK(TRITONSERVER_InferenceRequestDelete(r));
    *took_ms = (double)(ic_now_ns() - t0) / 1e6;
    ic_call_destroy(callp);
    free(callp);
    return true;
  }
  bool done = ic_wait_done(callp, 10.0);
  *took_ms = (double)(ic_now_ns() - t0) / 1e6;
  if (!done) {
    return false;
  }
  pthread_mutex_lock(&callp->mu);
  snprintf(msg, size, "%s", callp->error_responses > 0 ? callp->first_error : "");
  pthread_mutex_unlock(&callp->mu);
  ic_call_destroy(callp);
  free(callp);
  return true;
}

/* ---- the stub model ---- */

static char si_repo[4096];
static pid_t si_old_pid;

static void
add_stub_model(const char* repo, const char* params)
{
  char extra[2048];
  snprintf(extra, sizeof(extra),
           "parameters [ { key: \"stubinfer.delay_ms\" value: { string_value: \"10\" } }%s%s ]\n",
           params ? ", " : "", params ? params : "");
  tc_repo_add_model(repo, "si", "stubinfer", 1, extra);
  snprintf(si_repo, sizeof(si_repo), "%s", repo);
}

static bool
new_stub_alive(void* arg)
{
  (void)arg;
  pid_t p = tc_read_stub_pid(si_repo, "si", 0);
  return p > 0 && p != si_old_pid && tc_process_alive(p);
}

static bool
old_stub_gone(void* arg)
{
  (void)arg;
  return tc_process_gone(si_old_pid);
}

static pid_t
kill_stub(const char* step)
{
  pid_t pid = tc_read_stub_pid(si_repo, "si", 0);
  REQUIRE(pid > 0 && tc_process_alive(pid), "[%s] stub pid %ld not alive", step, (long)pid);
  REQUIRE(kill(pid, SIGKILL) == 0, "[%s] kill(%ld): %s", step, (long)pid, strerror(errno));
  si_old_pid = pid;
  return pid;
}

static const char* kStubReason = "Stub process 'si_0_0' is not healthy.";

/* ---- scenario 3: restart under load ---- */

static void
scenario_restart(const char* repo)
{
  const char* step = "restart";
  add_stub_model(repo, NULL);
  srv_opts o = {.monitor_ms = 25,
                .restart = true,
                .restart_after = 3,
                .restart_max = 3,
                .restart_base_ms = 20,
                .restart_cap_ms = 100};
  TRITONSERVER_Server* s = start(repo, &o);
  alloc = ic_allocator_new();
  CHECK(ready(s) == 1, "[%s] not ready at start", step);

  atomic_bool stop = false;
  infer_thread th[4];
  for (int i = 0; i < 4; ++i) {
    th[i] = (infer_thread){.s = s, .id = i + 1, .stop = &stop};
    REQUIRE(pthread_create(&th[i].th, NULL, infer_main, &th[i]) == 0, "pthread_create");
  }
  tc_sleep_ms(300);
  long ok_before = 0;
  for (int i = 0; i < 4; ++i) {
    ok_before += th[i].ok;
  }
  double t_kill = ic_now_s();
  pid_t old = kill_stub(step);

  /* NOT READY with the reason. */
  char first_reason[512] = "";
  double t_not_ready = 0;
  while (ic_now_s() < t_kill + 5.0) {
    char* json = report(s);
    bool nr = strstr(json, "\"ready\":false") != NULL;
    if (nr) {
      report_reason(json, "si_0_0", first_reason, sizeof(first_reason));
      t_not_ready = ic_now_s();
      free(json);
      break;
    }
    free(json);
    tc_sleep_ms(2);
  }
  CHECK(t_not_ready > 0, "[%s] never NOT READY within 5 s of kill -9", step);
  CHECK(strcmp(first_reason, kStubReason) == 0 ||
            strncmp(first_reason, "not ready: restarting (attempt 1 of 3", 37) == 0,
        "[%s] first not-ready reason '%s', expected '%s' (or the restart in progress)", step,
        first_reason, kStubReason);
  tc_note("[%s] NOT READY %.0f ms after kill -9: %s", step, (t_not_ready - t_kill) * 1e3,
          first_reason);

  /* Restarted: a new stub, and READY again. */
  CHECK(wait_for(new_stub_alive, NULL, 10.0), "[%s] no new stub within 10 s", step);
  double t_new = ic_now_s();
  int got = tc_wait_server_ready(s, 1, 5.0);
  double t_ready = ic_now_s();
  CHECK(got == 1, "[%s] ServerIsReady = %d after the restart, expected 1", step, got);
  tc_note("[%s] new stub %.0f ms, READY %.0f ms after kill -9", step, (t_new - t_kill) * 1e3,
          (t_ready - t_kill) * 1e3);
  CHECK(wait_for(old_stub_gone, NULL, 5.0), "[%s] the killed stub %ld was not reaped", step,
        (long)old);

  tc_sleep_ms(400); /* traffic on the new stub */
  atomic_store(&stop, true);
  long sent = 0, ok = 0, failed = 0, hung = 0, bad = 0, ok_after = 0;
  for (int i = 0; i < 4; ++i) {
    pthread_join(th[i].th, NULL);
    infer_thread* t = &th[i];
    sent += t->sent;
    ok += t->ok;
    failed += t->failed;
    hung += t->hung;
    bad += t->bad_data;
    ok_after += t->first_ok_after_fail_s > 0;
    CHECK(t->failed <= 1, "[%s] inference thread %d: %ld failed requests, expected at most 1 "
          "(the one in flight on the killed stub)", step, t->id, t->failed);
    for (long k = 0; k < t->failed && k < 4; ++k) {
      tc_note("[%s] thread %d failure %ld at +%.0f ms: %s", step, t->id, k + 1,
              (t->fail_at[k] - t_kill) * 1e3, t->fail_msg[k]);
      CHECK(strstr(t->fail_msg[k], "stub process of instance 'si_0_0' is gone") != NULL,
            "[%s] thread %d: failure not from the dead stub: %s", step, t->id, t->fail_msg[k]);
      CHECK(t->fail_at[k] - t_kill < 1.0, "[%s] thread %d: failure %.0f ms after the kill",
            step, t->id, (t->fail_at[k] - t_kill) * 1e3);
    }
  }
  tc_note("[%s] requests: %ld sent, %ld ok (%ld before the kill), %ld failed, %ld hung; "
          "backend: %ld failed in flight, %ld sent to a dead stub",
          step, sent, ok, ok_before, failed, hung, si("failed_in_flight"), si("failed_dead"));
  CHECK(hung == 0, "[%s] %ld request(s) hung", step, hung);
  CHECK(bad == 0, "[%s] %ld response(s) with wrong data", step, bad);
  CHECK(failed <= 4, "[%s] %ld failed requests, expected at most 4 (in flight at the kill)",
        step, failed);
  CHECK(ok > ok_before, "[%s] no successful request after the restart", step);
  CHECK(ok_before > 0, "[%s] no successful request before the kill", step);

  CHECK(si("starts") == 2 && si("inst_init") == 2 && si("inst_fini") == 1,
        "[%s] starts %ld, initialize %ld, finalize %ld; expected 2, 2, 1", step, si("starts"),
        si("inst_init"), si("inst_fini"));
  char* json = report(s);
  CHECK(strcmp(json, "{\"ready\":true,\"not_ready\":[]}") == 0, "[%s] report %s", step, json);
  free(json);
  expect_metric(s, "nv_instance_restarts", "si", "si_0_0", 1, step);
  expect_metric(s, "nv_instance_ready", "si", "si_0_0", 1, step);
  expect_metric(s, "nv_instance_restart_failures", "si", "si_0_0", 0, step);
  expect_metric(s, "nv_instance_ready_transitions", "si", "si_0_0", 2, step);
  expect_metric(s, "nv_instance_ready_check_timeouts", "si", "si_0_0", 0, step);
  expect_log('W', "model 'si' version 1 instance si_0_0 is not ready: ", kStubReason, 1, step);
  expect_log('W', "instance si_0_0 is not ready", NULL, 1, step);
  expect_log('W', "instance si_0_0 failed 3 readiness checks in a row; restarting it", NULL, 1,
             step);
  expect_log('I', "instance si_0_0 restarted (attempt 1)", NULL, 1, step);
  expect_log('I', "model 'si' version 1 instance si_0_0 is ready again", NULL, 1, step);

  pid_t now = tc_read_stub_pid(repo, "si", 0);
  tc_server_delete(s);
  CHECK(tc_process_gone(now) || (tc_sleep_ms(500), tc_process_gone(now)),
        "[%s] stub %ld still there after ServerDelete", step, (long)now);
  TRITONSERVER_ResponseAllocatorDelete(alloc);
}

/* ---- scenarios 4 and 6: a stub that dies at every start gives up ---- */

static const char* kRestartParams =
    "{ key: \"triton_core.instance_restart\" value: { string_value: \"true\" } }, "
    "{ key: \"triton_core.instance_restart_after_failures\" value: { string_value: \"1\" } }, "
    "{ key: \"triton_core.instance_restart_max_attempts\" value: { string_value: \"3\" } }, "
    "{ key: \"triton_core.instance_restart_backoff_base_ms\" value: { string_value: \"20\" } }, "
    "{ key: \"triton_core.instance_restart_backoff_cap_ms\" value: { string_value: \"40\" } }, "
    "{ key: \"stubinfer.die_at_start_after\" value: { string_value: \"1\" } }";

static void
give_up_common(const char* repo, bool handshake, const char* step)
{
  char params[2048];
  snprintf(params, sizeof(params), "%s%s", kRestartParams,
           handshake ? ""
                     : ", { key: \"stubinfer.handshake\" value: { string_value: \"false\" } }");
  add_stub_model(repo, params);
  srv_opts o = {.monitor_ms = 25}; /* restart off in the server: the model asks for it */
  TRITONSERVER_Server* s = start(repo, &o);
  alloc = ic_allocator_new();
  CHECK(ready(s) == 1, "[%s] not ready at start", step);
  pid_t old = kill_stub(step);
  double t_kill = ic_now_s();

  char reason[1024] = "";
  bool gave_up = false;
  while (ic_now_s() < t_kill + 5.0) {
    char* json = report(s);
    report_reason(json, "si_0_0", reason, sizeof(reason));
    free(json);
    if (strstr(reason, "could not be restarted after") != NULL) {
      gave_up = true;
      break;
    }
    tc_sleep_ms(5);
  }
  tc_note("[%s] %.0f ms after kill -9: starts %ld, restarts initialized %ld, reason: %s", step,
          (ic_now_s() - t_kill) * 1e3, si("starts"), si("inst_init"), reason);
  CHECK(gave_up, "[%s] no 'could not be restarted after' within 5 s (reason '%s')", step,
        reason);
  CHECK(strstr(reason, "not ready: instance si_0_0 could not be restarted after 3 attempt(s)") ==
            reason,
        "[%s] reason '%s'", step, reason);
  if (handshake) {
    CHECK(strstr(reason, "stub process of instance 'si_0_0' exited during startup") != NULL,
          "[%s] reason lacks the backend's error: '%s'", step, reason);
  }
  long starts = si("starts");
  /* Stays NOT READY, and nothing is started any more. */
  int not_ready = 0;
  for (int i = 0; i < 100; ++i) {
    not_ready += ready(s) == 0;
    tc_sleep_ms(5);
  }
  CHECK(not_ready == 100, "[%s] %d of 100 polls NOT READY after giving up", step, not_ready);
  tc_sleep_ms(200);
  CHECK(si("starts") == starts, "[%s] %ld more stub start(s) after giving up", step,
        si("starts") - starts);
  CHECK(starts == 4, "[%s] %ld stub starts, expected 4 (the first + 3 attempts)", step, starts);
  if (handshake) {
    CHECK(tc_read_stub_pid(repo, "si", 0) == old, "[%s] the pid file changed", step);
  }
  char* json = report(s);
  report_reason(json, "si_0_0", reason, sizeof(reason));
  CHECK(strstr(reason, "could not be restarted after 3 attempt(s)") != NULL,
        "[%s] the reason changed: '%s'", step, reason);
  /* With the handshake each attempt fails to initialize (3 failures, no restart). Without
   * it each attempt brings the instance up (3 restarts) and it dies again at once: the streak
   * stops at the cap (1 failure: giving up). */
  long want_failures = handshake ? 3 : 1, want_restarts = handshake ? 0 : 3;
  CHECK(report_field(json, "si_0_0", "restart_failures") == want_failures,
        "[%s] report restart_failures %ld, expected %ld", step,
        report_field(json, "si_0_0", "restart_failures"), want_failures);
  free(json);
  expect_metric(s, "nv_instance_ready", "si", "si_0_0", 0, step);
  expect_metric(s, "nv_instance_restarts", "si", "si_0_0", (double)want_restarts, step);
  expect_metric(s, "nv_instance_restart_failures", "si", "si_0_0", (double)want_failures, step);
  expect_log('E', "instance si_0_0 could not be restarted after 3 attempt(s)", NULL, 1, step);
  if (handshake) {
    expect_log('W', "instance si_0_0 is not ready", NULL, 1, step);
  } else {
    /* Each restarted stub may pass a check before it dies: one line per transition. */
    int got = log_count('W', "instance si_0_0 is not ready", NULL);
    CHECK(got >= 1 && got <= 4, "[%s] %d not-ready warning(s), expected 1 to 4 (one per death)",
          step, got);
  }

  /* A request gets its final response (an error), quickly. */
  char msg[512];
  double took = 0;
  CHECK(infer_once(s, msg, sizeof(msg), &took), "[%s] a request hung after giving up", step);
  tc_note("[%s] request after giving up (%.1f ms): %s", step, took, msg);
  CHECK(msg[0] != '\0', "[%s] a request succeeded on an instance that gave up", step);
  CHECK(took < 2000, "[%s] the request took %.0f ms", step, took);
  tc_server_delete(s);
  TRITONSERVER_ResponseAllocatorDelete(alloc);
}

static void
scenario_give_up(const char* repo)
{
  give_up_common(repo, true, "give-up");
}

static void
scenario_give_up_nohs(const char* repo)
{
  give_up_common(repo, false, "give-up-nohs");
}

/* ---- scenario 5: restart off ---- */

static void
scenario_restart_off(const char* repo)
{
  const char* step = "restart-off";
  add_stub_model(repo, NULL);
  srv_opts o = {.monitor_ms = 25};
  TRITONSERVER_Server* s = start(repo, &o);
  alloc = ic_allocator_new();
  CHECK(ready(s) == 1, "[%s] not ready at start", step);
  pid_t old = kill_stub(step);
  int got = tc_wait_server_ready(s, 0, 5.0);
  CHECK(got == 0, "[%s] ServerIsReady = %d 5 s after kill -9, expected 0", step, got);
  int not_ready = 0;
  for (int i = 0; i < 200; ++i) {
    not_ready += ready(s) == 0;
    tc_sleep_ms(5);
  }
  CHECK(not_ready == 200, "[%s] %d of 200 polls NOT READY", step, not_ready);
  char* json = report(s);
  char reason[512];
  report_reason(json, "si_0_0", reason, sizeof(reason));
  CHECK(strcmp(reason, kStubReason) == 0, "[%s] reason '%s', expected '%s'", step, reason,
        kStubReason);
  CHECK(report_field(json, "si_0_0", "restarts") == 0, "[%s] report restarts %ld", step,
        report_field(json, "si_0_0", "restarts"));
  free(json);
  CHECK(si("starts") == 1 && si("inst_init") == 1 && si("inst_fini") == 0,
        "[%s] starts %ld, initialize %ld, finalize %ld; expected 1, 1, 0 (no restart)", step,
        si("starts"), si("inst_init"), si("inst_fini"));
  CHECK(tc_read_stub_pid(repo, "si", 0) == old, "[%s] the pid file changed", step);
  expect_metric(s, "nv_instance_ready", "si", "si_0_0", 0, step);
  expect_metric(s, "nv_instance_ready_transitions", "si", "si_0_0", 1, step);
  expect_metric(s, "nv_instance_restarts", "si", "si_0_0", 0, step);
  expect_metric(s, "nv_instance_restart_failures", "si", "si_0_0", 0, step);
  expect_metric(s, "nv_instance_ready_check_timeouts", "si", "si_0_0", 0, step);
  expect_log('W', "model 'si' version 1 instance si_0_0 is not ready: ", kStubReason, 1, step);
  expect_log('W', "instance si_0_0 is not ready", NULL, 1, step);
  expect_log('W', "restarting", NULL, 0, step);
  expect_log('I', "restarted", NULL, 0, step);
  expect_log('E', "could not be restarted", NULL, 0, step);

  char msg[512];
  double took = 0;
  CHECK(infer_once(s, msg, sizeof(msg), &took), "[%s] a request hung", step);
  CHECK(strstr(msg, "stub process of instance 'si_0_0' is gone") != NULL,
        "[%s] request on the dead stub: '%s'", step, msg);
  tc_server_delete(s);
  TRITONSERVER_ResponseAllocatorDelete(alloc);
}

/* ---- scenario 7: a hung hook and a healthy model checked after it ---- */

static void
scenario_neighbour(const char* repo)
{
  const char* step = "neighbour";
  /* Models are checked in name order: "b_healthy" comes after the hung "a_slow". */
  tc_repo_add_model(repo, "a_slow", "slowhook", 1, NULL);
  tc_repo_add_model(repo, "b_healthy", "healthy", 1, NULL);
  srv_opts o = {.readiness_timeout_ms = TIMEOUT_MS};
  TRITONSERVER_Server* s = start(repo, &o);
  CHECK(ready(s) == 1, "[%s] not ready at start", step);
  tc_touch(repo, "a_slow", "BLOCK_READY");
  tc_sleep_ms(20);
  CHECK(ready(s) == 0, "[%s] ready with a hung hook", step);
  char* json = report(s);
  char reason[512];
  report_reason(json, "b_healthy_0_0", reason, sizeof(reason));
  CHECK(reason[0] == '\0', "[%s] the healthy model is reported not ready: '%s'", step, reason);
  free(json);
  CHECK(tc_model_ready(s, "b_healthy", 1) == 1, "[%s] ModelIsReady(b_healthy) not 1", step);
  expect_metric(s, "nv_instance_ready_check_timeouts", "b_healthy", "b_healthy_0_0", 0, step);
  expect_metric(s, "nv_instance_ready_transitions", "b_healthy", "b_healthy_0_0", 0, step);
  expect_log('W', "instance b_healthy_0_0 is not ready", NULL, 0, step);
  tc_unlink(repo, "a_slow", "BLOCK_READY");
  CHECK(wait_for(hook_returned, NULL, 5.0), "[%s] the blocked hook call did not return", step);
  CHECK(tc_wait_server_ready(s, 1, 2.0) == 1, "[%s] not ready again", step);
  tc_server_delete(s);
}

/* ---- driver ---- */

static int n_run;
static char summary[8][160];

/* `known_bug`: the scenario shows a library bug not fixed yet; its failure is reported as
 * XFAIL (not counted) unless TC_RB_STRICT=1, and its passing as XPASS (remove the mark). */
static void
run(int n, const char* label, void (*body)(const char*), unsigned alarm_s,
    const char* known_bug)
{
  if (!tc_selected("TC_RB_ONLY", n)) {
    return;
  }
  char* repo = tc_repo_new();
  tc_note("=== %d %s (%s)", n, label, repo);
  int failures_before = tc_failures;
  pid_t pid = tc_fork(alarm_s);
  if (pid == 0) {
    body(repo);
    tc_child_exit();
  }
  char name[64];
  snprintf(name, sizeof(name), "[%s]", label);
  tc_forked f;
  tc_wait_forked(name, pid, &f);
  static const char* const kOutcome[] = {"PASS", "FAIL", "CRASHED", "HUNG (alarm)"};
  const char* outcome = kOutcome[f.outcome];
  bool failed = f.outcome != TC_PASSED;
  const char* strict = getenv("TC_RB_STRICT");
  if (known_bug != NULL && (strict == NULL || strcmp(strict, "1") != 0)) {
    if (failed) {
      tc_failures = failures_before;
      tc_note("[%s] XFAIL (not counted; TC_RB_STRICT=1 counts it): known bug: %s", label,
              known_bug);
      outcome = "XFAIL";
    } else {
      tc_note("[%s] XPASS: the known bug seems fixed (%s): remove its mark in main()", label,
              known_bug);
      outcome = "XPASS";
    }
  }
  snprintf(summary[n_run++ % 8], sizeof(summary[0]), "%d %-14s %-12s %.1f s", n, label, outcome,
           f.seconds);
  if (failed && getenv("TC_KEEP_REPO") == NULL) {
    tc_note("[%s] server log:", label);
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "sed 's/^/#   /' '%s/server.log' | tail -40", repo);
    fflush(stdout);
    if (system(cmd) != 0) {
      tc_note("(no log)");
    }
  }
  tc_repo_remove(repo);
}

int
main(void)
{
  double t0 = ic_now_s();
  run(1, "bounded", scenario_bounded, 30, NULL);
  run(2, "bounded-env", scenario_bounded_env, 30, NULL);
  run(3, "restart", scenario_restart, 40, NULL);
  run(4, "give-up", scenario_give_up, 30, NULL);
  run(5, "restart-off", scenario_restart_off, 30, NULL);
  run(6, "give-up-nohs", scenario_give_up_nohs, 30, NULL);
  run(7, "neighbour", scenario_neighbour, 30, NULL);
  tc_note("summary (%.1f s):", ic_now_s() - t0);
  for (int i = 0; i < n_run && i < 8; ++i) {
    tc_note("  %s", summary[i]);
  }
  return tc_finish("int_readiness_bounded");
}
