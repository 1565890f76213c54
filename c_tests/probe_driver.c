/* The driver side of the lifetime tests on the 'probe' test backend (see probe_driver.h). */
#include "probe_driver.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the probe backend's counters ---- */

static struct {
  long (*counter)(const char*);
  int (*count)(void);
  const char* (*name)(int);
  long (*at)(int);
  void (*set)(const char*, long); /* not called; required as int_lifetime always did */
} P;

void
pd_probe_open(void)
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

void
pd_require_probe_loaded(void)
{
  REQUIRE(pd_probe("backend_init") >= 1, "the probe library the core loaded is not the one "
                                         "opened here (backend_init = %ld)",
          pd_probe("backend_init"));
}

long
pd_probe(const char* name)
{
  return P.counter(name);
}

int
pd_probe_count(void)
{
  return P.count();
}

const char*
pd_probe_name(int i)
{
  return P.name(i);
}

long
pd_probe_at(int i)
{
  return P.at(i);
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

const char* const pd_counter_names[D_COUNT] = {
#define PD_NAME(n) #n,
    PD_COUNTERS(PD_NAME)
#undef PD_NAME
};
atomic_long pd_drv[D_COUNT];

/* ---- inference ---- */

atomic_bool pd_server_gone;
static TRITONSERVER_ResponseAllocator* alloc;

typedef struct infer_ctx {
  atomic_int pending; /* FINAL response + release callback */
  sem_t* done;        /* posted when both came (may be NULL) */
  float data[4];
} infer_ctx;

static void
ctx_done(infer_ctx* c)
{
  if (atomic_fetch_sub(&c->pending, 1) == 1) {
    atomic_fetch_sub(&pd_drv[D_outstanding], 1);
    if (c->done != NULL) {
      sem_post(c->done);
    }
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

bool
pd_send_one(TRITONSERVER_Server* server, const char* model, float seed,
            const pd_req_opts* opts)
{
  static const pd_req_opts kNone = {0, 0, false, NULL};
  if (opts == NULL) {
    opts = &kNone;
  }
  if (atomic_load(&pd_server_gone)) {
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
  c->done = opts->done;
  for (int i = 0; i < 4; ++i) {
    c->data[i] = seed + (float)i;
  }
  const int64_t shape[1] = {4};
  err = TRITONSERVER_InferenceRequestAddInput(r, "INPUT0", TRITONSERVER_TYPE_FP32, shape, 1);
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestAppendInputData(
        r, "INPUT0", c->data, sizeof(c->data), TRITONSERVER_MEMORY_CPU, 0);
  }
  if (err == NULL && opts->exec_sleep_us > 0) {
    err = TRITONSERVER_InferenceRequestSetIntParameter(r, "exec_sleep_us", opts->exec_sleep_us);
  }
  if (err == NULL && opts->hold_ms > 0) {
    err = TRITONSERVER_InferenceRequestSetIntParameter(r, "hold_ms", opts->hold_ms);
  }
  if (err == NULL && opts->use_factory) {
    err = TRITONSERVER_InferenceRequestSetBoolParameter(r, "use_factory", true);
  }
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestSetReleaseCallback(r, release_cb, c);
  }
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestSetResponseCallback(r, alloc, NULL, response_cb, c);
  }
  if (err == NULL) {
    atomic_fetch_add(&pd_drv[D_outstanding], 1);
    if (atomic_load(&pd_server_gone)) {
      err = TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_UNAVAILABLE, "server gone");
    } else {
      err = TRITONSERVER_ServerInferAsync(server, r, NULL);
    }
    if (err != NULL) {
      atomic_fetch_sub(&pd_drv[D_outstanding], 1);
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

bool
pd_wait_outstanding(double timeout_s)
{
  double deadline = ic_now_s() + timeout_s;
  while (DGET(outstanding) > 0 && ic_now_s() < deadline) {
    tc_sleep_ms(5);
  }
  long left = DGET(outstanding);
  if (left > 0) {
    DSET(lost, left);
  }
  return left == 0;
}

/* ---- child → parent reports ---- */

static int report_fd = -1;
static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;

/* One snapshot of every counter, written at once (a crash leaves the previous one). */
void
pd_snapshot(void)
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
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "drv.%s %ld\n", pd_counter_names[i],
                          atomic_load(&pd_drv[i]));
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

static atomic_bool monitor_stop;

static void*
monitor_thread(void* arg)
{
  (void)arg;
  while (!atomic_load(&monitor_stop)) {
    pd_snapshot();
    tc_sleep_ms(200);
  }
  return NULL;
}

/* ---- parent ---- */

long
pd_get(const pd_result* r, const char* name, bool* found)
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

/* "<name> <value>": the last value of each counter wins. */
static void
parse_line(pd_result* r, const char* line)
{
  char name[64];
  long v;
  if (sscanf(line, "%63s %ld", name, &v) != 2) {
    return;
  }
  for (int i = 0; i < r->n; ++i) {
    if (strcmp(r->kvs[i].name, name) == 0) {
      r->kvs[i].value = v;
      return;
    }
  }
  if (r->n < (int)(sizeof(r->kvs) / sizeof(r->kvs[0]))) {
    snprintf(r->kvs[r->n].name, sizeof(r->kvs[r->n].name), "%s", name);
    r->kvs[r->n++].value = v;
  }
}

/* Parse the reports line by line as they come, until the child closes the pipe. */
static void
read_reports(int fd, pd_result* r)
{
  char buf[8192], line[256];
  size_t ll = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == '\n') {
        line[ll] = '\0';
        parse_line(r, line);
        ll = 0;
      } else if (ll + 1 < sizeof(line)) {
        line[ll++] = buf[i];
      }
    }
  }
}

tc_outcome
pd_run(const char* name, void (*body)(const char* repo), const char* repo, unsigned alarm_s,
       pd_result* r, tc_forked* info)
{
  int fds[2];
  REQUIRE(pipe(fds) == 0, "pipe");
  pid_t pid = tc_fork(alarm_s);
  if (pid == 0) {
    close(fds[0]);
    report_fd = fds[1];
    pd_probe_open();
    alloc = ic_allocator_new();
    pthread_t mon;
    REQUIRE(pthread_create(&mon, NULL, monitor_thread, NULL) == 0, "pthread_create");
    body(repo);
    atomic_store(&monitor_stop, true);
    pthread_join(mon, NULL);
    pd_snapshot();
    tc_child_exit();
  }
  close(fds[1]);
  memset(r, 0, sizeof(*r));
  if (pid > 0) {
    read_reports(fds[0], r);
  }
  close(fds[0]);
  return tc_wait_forked(name, pid, info);
}

bool
pd_check(const pd_result* r, const char* prefix, bool count_outstanding, pd_totals* t,
         char* detail, size_t detail_size)
{
  int failures_before = tc_failures;
  bool found = false;
  pd_get(r, "probe.backend_init", &found);
  CHECK(found, "%sno counters reported", prefix);
  t->violations = 0;
  size_t dn = strlen(detail);
  for (size_t i = 0; i < N_MUST_BE_ZERO; ++i) {
    char key[80];
    snprintf(key, sizeof(key), "probe.%s", kMustBeZero[i]);
    long v = pd_get(r, key, NULL);
    if (v != 0) {
      t->violations += v;
      if (dn < detail_size) {
        dn += (size_t)snprintf(detail + dn, detail_size - dn, " %s=%ld", kMustBeZero[i], v);
      }
      tc_fail(__FILE__, __LINE__, "%sprobe counter %s = %ld, expected 0", prefix,
              kMustBeZero[i], v);
    }
  }
  t->factories_created = pd_get(r, "probe.factories_created", NULL);
  t->factories_deleted = pd_get(r, "probe.factories_deleted", NULL);
  CHECK(t->factories_created == t->factories_deleted,
        "%sresponse factories: %ld created, %ld deleted", prefix, t->factories_created,
        t->factories_deleted);
  t->req_created = pd_get(r, "drv.req_created", NULL);
  t->req_deleted = pd_get(r, "drv.req_deleted", NULL);
  CHECK(t->req_created == t->req_deleted, "%srequests: %ld created, %ld deleted", prefix,
        t->req_created, t->req_deleted);
  t->responses = pd_get(r, "drv.responses", NULL);
  t->resp_deleted = pd_get(r, "drv.resp_deleted", NULL);
  CHECK(t->responses == t->resp_deleted, "%sresponses: %ld received, %ld deleted", prefix,
        t->responses, t->resp_deleted);
  t->lost = pd_get(r, "drv.lost", NULL) +
            (count_outstanding ? pd_get(r, "drv.outstanding", NULL) : 0);
  CHECK(t->lost == 0, "%s%ld accepted request(s) without FINAL response or release", prefix,
        t->lost);
  t->alloc = pd_get(r, "drv.alloc", NULL);
  t->alloc_released = pd_get(r, "drv.alloc_released", NULL);
  CHECK(t->alloc == t->alloc_released, "%sallocator: %ld buffers allocated, %ld released",
        prefix, t->alloc, t->alloc_released);
  return tc_failures == failures_before;
}
