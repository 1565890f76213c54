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
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_driver.h"

/* Print the nonzero counters. */
static void
print_counters(const char* label)
{
  char line[4096];
  size_t n = 0;
  for (int i = 0; i < pd_probe_count() && n < sizeof(line) - 64; ++i) {
    if (pd_probe_at(i) != 0) {
      n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%ld", pd_probe_name(i),
                            pd_probe_at(i));
    }
  }
  tc_note("[%s] probe:%s", label, n ? line : " (all 0)");
  n = 0;
  for (int i = 0; i < D_COUNT && n < sizeof(line) - 64; ++i) {
    if (atomic_load(&pd_drv[i]) != 0) {
      n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%ld", pd_counter_names[i],
                            atomic_load(&pd_drv[i]));
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
static atomic_bool stop_flag; /* threads leave their loop */

#define WINDOW 2

static void*
infer_thread(void* arg)
{
  long id = (long)(intptr_t)arg;
  float seed = (float)(id * 1000);
  while (!atomic_load(&stop_flag) && !atomic_load(&pd_server_gone)) {
    if (DGET(outstanding) >= WINDOW * 2) {
      tc_sleep_ms(1);
      continue;
    }
    if (!pd_send_one(server, MODEL, seed, NULL)) {
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
    if (atomic_load(&pd_server_gone)) {
      break;
    }
    TRITONSERVER_Error* err = TRITONSERVER_ServerIsReady(server, &ready);
    DINC(ready_calls);
    if (err != NULL) {
      DINC(ready_errors);
      TRITONSERVER_ErrorDelete(err);
    }
    if (atomic_load(&pd_server_gone)) {
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
  pd_require_probe_loaded();
  return s;
}

/* Delete the server: flag first, so that the threads start no new call. An error of
 * ServerDelete is printed, not counted (scenario 5 lets an Execute outlive the exit
 * timeout on purpose). */
static double
delete_server(TRITONSERVER_Server* s)
{
  atomic_store(&pd_server_gone, true);
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
    pd_wait_outstanding(drain_s);
    double t = delete_server(s);
    tc_note("[%s] ServerDelete took %.0f ms", label, t * 1000);
  }
  pd_wait_outstanding(drain_s);
  double deadline = ic_now_s() + drain_s;
  while (pd_probe("holds_in_flight") > 0 && ic_now_s() < deadline) {
    tc_sleep_ms(10);
  }
  pd_snapshot();
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
  CHECK(pd_probe("hook_calls") > 0, "the readiness hook was never called");
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
  long hooks = pd_probe("hooks_in_flight"), execs = pd_probe("execs_in_flight");
  double t0 = ic_now_s();
  CHECK_OK(TRITONSERVER_ServerStop(server));
  double t_stop = ic_now_s() - t0;
  tc_sleep_ms(20);
  long hooks2 = pd_probe("hooks_in_flight"), execs2 = pd_probe("execs_in_flight");
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
  long before = pd_probe("hook_calls");
  REQUIRE(pthread_create(&r->thread, NULL, held_reader_main, r) == 0, "pthread_create");
  double deadline = ic_now_s() + 3.0;
  while ((pd_probe("hooks_in_flight") < 1 || pd_probe("hook_calls") == before) && ic_now_s() < deadline) {
    tc_sleep_ms(1);
  }
  return CHECK(pd_probe("hooks_in_flight") >= 1, "[hook/%s] the reader never entered the hook", step);
}

static void
reader_report(held_reader* r, const char* step, double t_op0, double t_op1, long fini0,
              long fini_op, long viol0)
{
  pthread_join(r->thread, NULL);
  long viol = pd_probe("fini_while_hook") - viol0;
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
    fini0 = pd_probe("inst_fini");
    viol0 = pd_probe("fini_while_hook");
    probe_json(json, sizeof(json), 1, kHookUs, 0, 0, 1);
    t0 = ic_now_s();
    count_load(load_with_config(server, json), "reload");
    t1 = ic_now_s();
    reader_report(&r, "reload", t0, t1, fini0, pd_probe("inst_fini"), viol0);
  }
  /* unload */
  if (reader_enter(&r, server, "unload")) {
    fini0 = pd_probe("inst_fini");
    viol0 = pd_probe("fini_while_hook");
    t0 = ic_now_s();
    count_unload(TRITONSERVER_ServerUnloadModel(server, MODEL));
    t1 = ic_now_s();
    long fini_op = pd_probe("inst_fini");
    wait_state(server, "UNAVAILABLE", 3.0, state, sizeof(state));
    reader_report(&r, "unload", t0, t1, fini0, fini_op, viol0);
  }
  count_load(TRITONSERVER_ServerLoadModel(server, MODEL), "LoadModel");
  /* stop, then delete right away (the reader may still be inside) */
  if (reader_enter(&r, server, "stop")) {
    fini0 = pd_probe("inst_fini");
    viol0 = pd_probe("fini_while_hook");
    t0 = ic_now_s();
    CHECK_OK(TRITONSERVER_ServerStop(server));
    t1 = ic_now_s();
    long fini_op = pd_probe("inst_fini");
    double t_del = delete_server(server);
    tc_note("[hook/stop] ServerDelete right after ServerStop took %.0f ms", t_del * 1000);
    reader_report(&r, "stop", t0, t1, fini0, fini_op, viol0);
  } else {
    delete_server(server);
  }
  /* delete without stop, on a second server */
  atomic_store(&pd_server_gone, false);
  server = start(repo, 5);
  if (reader_enter(&r, server, "delete")) {
    fini0 = pd_probe("inst_fini");
    viol0 = pd_probe("fini_while_hook");
    t0 = ic_now_s();
    delete_server(server);
    t1 = ic_now_s();
    reader_report(&r, "delete", t0, t1, fini0, pd_probe("inst_fini"), viol0);
  } else {
    delete_server(server);
  }
  CHECK(DGET(load_errors) == 0 && DGET(unload_errors) == 0, "%ld loads / %ld unloads failed",
        DGET(load_errors), DGET(unload_errors));
  finish("hook", NULL, 5.0);
}

/* Scenario 5: Execute (or held requests) outliving the 1 s exit timeout. */
static void
slow_step(const char* step, const pd_req_opts* opts, bool stop)
{
  const char* gauge = opts->hold_ms > 0 ? "holds_in_flight" : "execs_in_flight";
  long fini0 = pd_probe("inst_fini");
  long v0 = pd_probe("fini_while_exec");
  long h0 = pd_probe("fini_while_holding");
  REQUIRE(pd_send_one(server, MODEL, 7.0f, opts), "[exit/%s] request refused", step);
  double deadline = ic_now_s() + 3.0;
  while (pd_probe(gauge) < 1 && ic_now_s() < deadline) {
    tc_sleep_ms(1);
  }
  CHECK(pd_probe(gauge) >= 1, "[exit/%s] the request never got into the backend", step);
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
        running_at_unavail = pd_probe(gauge) > 0;
      }
    }
    if (DGET(outstanding) == 0 && ic_now_s() - t0 > 4.0) {
      break;
    }
    tc_sleep_ms(10);
  }
  long fini_running = pd_probe("inst_fini") - fini0;
  if (stop) {
    t_del = delete_server(server);
    server = NULL;
  }
  pd_wait_outstanding(5.0);
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
          step, pd_probe("fini_while_exec") - v0,
          pd_probe("fini_while_holding") - h0);
}

static void
scenario_exit(const char* repo)
{
  write_probe_model(repo, 1, 0, 0, 0);
  server = start(repo, 1);
  pd_req_opts slow = {.exec_sleep_us = 3000000};
  pd_req_opts held = {.hold_ms = 3000, .use_factory = true};
  slow_step("unload/execute", &slow, false);
  count_load(TRITONSERVER_ServerLoadModel(server, MODEL), "LoadModel");
  slow_step("unload/held", &held, false);
  count_load(TRITONSERVER_ServerLoadModel(server, MODEL), "LoadModel");
  slow_step("stop/execute", &slow, true);
  atomic_store(&pd_server_gone, false);
  server = start(repo, 1);
  slow_step("stop/held", &held, true);
  if (DGET(load_errors) != 0) {
    tc_note("[exit] %ld loads failed", DGET(load_errors));
  }
  finish("exit", NULL, 5.0);
}

/* ---- parent ---- */

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
  tc_note("=== %s", label);
  char name[40], prefix[48];
  snprintf(name, sizeof(name), "[%s]", label);
  snprintf(prefix, sizeof(prefix), "[%s] ", label);
  int fails_before = tc_failures;
  pd_result* r = calloc(1, sizeof(*r));
  REQUIRE(r != NULL, "out of memory");
  tc_forked f;
  pd_run(name, body, repo, alarm_s, r, &f);

  summary_row* row = &summary[n_summary < 15 ? n_summary++ : 15];
  snprintf(row->label, sizeof(row->label), "%s", label);
  if (f.outcome == TC_HUNG || f.outcome == TC_CRASHED) {
    snprintf(row->outcome, sizeof(row->outcome), "%s (signal %d)",
             f.outcome == TC_HUNG ? "HUNG" : "CRASHED", f.signal);
  } else if (f.outcome == TC_FAILED) {
    snprintf(row->outcome, sizeof(row->outcome), "checks failed (exit %d)", f.exit_code);
  } else {
    snprintf(row->outcome, sizeof(row->outcome), "ran");
  }
  row->detail[0] = '\0';
  pd_totals t;
  pd_check(r, prefix, true, &t, row->detail, sizeof(row->detail));
  if (t.factories_created != t.factories_deleted || t.req_created != t.req_deleted ||
      t.responses != t.resp_deleted || t.lost != 0 || t.alloc != t.alloc_released) {
    size_t dn = strlen(row->detail);
    snprintf(row->detail + dn, sizeof(row->detail) - dn,
             " leaks(factories %ld/%ld requests %ld/%ld responses %ld/%ld lost %ld buffers "
             "%ld/%ld)",
             t.factories_created, t.factories_deleted, t.req_created, t.req_deleted,
             t.responses, t.resp_deleted, t.lost, t.alloc, t.alloc_released);
  }
  row->violations = t.violations;
  tc_note("[%s] %s in %.1f s; lifetime violations: %ld%s; hook calls %ld, executes %ld, "
          "instances %ld/%ld initialized/finalized",
          label, tc_failures == fails_before ? "PASS" : "FAIL", f.seconds, row->violations,
          row->detail, pd_get(r, "probe.hook_calls", NULL), pd_get(r, "probe.exec_calls", NULL),
          pd_get(r, "probe.inst_init", NULL), pd_get(r, "probe.inst_fini", NULL));
  free(r);
  tc_repo_remove(repo);
}

int
main(void)
{
  double t0 = ic_now_s();
  if (tc_selected("TC_LIFETIME_ONLY", 1)) {
    run_scenario("1 reload x200", scenario_reload, 45);
  }
  if (tc_selected("TC_LIFETIME_ONLY", 2)) {
    run_scenario("2 unload/load x200", scenario_cycle, 45);
  }
  if (tc_selected("TC_LIFETIME_ONLY", 3)) {
    for (delete_run = 0; delete_run < 5; ++delete_run) {
      char label[32];
      snprintf(label, sizeof(label), "3 stop+delete #%d", delete_run + 1);
      run_scenario(label, scenario_delete, 20);
    }
  }
  if (tc_selected("TC_LIFETIME_ONLY", 4)) {
    run_scenario("4 reader held in hook", scenario_hook, 60);
  }
  if (tc_selected("TC_LIFETIME_ONLY", 5)) {
    run_scenario("5 execute past exit timeout", scenario_exit, 90);
  }
  tc_note("summary (%.1f s):", ic_now_s() - t0);
  for (int i = 0; i < n_summary; ++i) {
    tc_note("  %-28s %-24s violations %ld%s", summary[i].label, summary[i].outcome,
            summary[i].violations, summary[i].detail);
  }
  return tc_finish("int_lifetime");
}
