/* The real python backend (Triton 2.51, PyPI nvidia-pytriton==0.7.0) serving python
 * models through the core in-process, driven only through the public C API.
 *
 * Environment (set by ctest, see CMakeLists.txt; the test is skipped with exit 77 when
 * TC_PYTHON_BACKEND_DIR is unset):
 *   TC_PYTHON_BACKEND_DIR  backend directory holding python/libtriton_python.so and the stub
 *                          (scripts/fetch-pytriton.sh prints it)
 *   TC_PYTHON_MODELS       source of the models (tests/python/models), copied to a temp repo
 *   PATH                   the venv's bin first, so the stub imports numpy from there
 *   TC_VERBOSE=<n>         core info logging + verbose level n; TC_KEEP_REPO=1 keeps the repo
 *
 * Scenarios: add_sub outputs (also a subset of requested outputs, concurrent requests, a
 * missing input), repeat_decoupled streaming n responses then FINAL, bls calling add_sub
 * through the core, identity_bytes (BYTES, config from auto_complete_config), unload and
 * reload, kill -9 of the add_sub stub (later requests get error responses, nothing hangs),
 * ServerDelete leaving no stub process. Every wait is bounded; a watchdog (SIGALRM) ends
 * the test with the name of the step that hung. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/* Not part of the inference API under test: a core without it still runs the rest. */
#pragma weak TRITONSERVER_ServerModelConfig

#ifndef TC_PYTHON_MODELS_DEFAULT
#define TC_PYTHON_MODELS_DEFAULT ""
#endif

#define WAIT_S 30.0 /* bound of every single wait */
#define MAX_RESP 16
#define MAX_OUT 4
static const int kExitTimeoutS = 5;

/* ---- watchdog ---- */

static const char* volatile g_step = "start";

static void
on_alarm(int sig)
{
  (void)sig;
  static const char head[] = "FAIL watchdog: step did not finish in time: ";
  (void)!write(STDOUT_FILENO, head, sizeof(head) - 1);
  const char* s = g_step;
  (void)!write(STDOUT_FILENO, s, strlen(s));
  (void)!write(STDOUT_FILENO, "\n", 1);
  _exit(2);
}

/* Start a step: name it (for the watchdog and the log) and arm the watchdog. */
static void
step(const char* name, unsigned budget_s)
{
  g_step = name;
  tc_note("step: %s", name);
  alarm(budget_s);
}

static double
now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- response allocator: CPU malloc ---- */

static atomic_int g_allocs = 0;
static atomic_int g_releases = 0;

static TRITONSERVER_Error*
alloc_fn(
    TRITONSERVER_ResponseAllocator* allocator, const char* tensor_name, size_t byte_size,
    TRITONSERVER_MemoryType memory_type, int64_t memory_type_id, void* userp,
    void** buffer, void** buffer_userp, TRITONSERVER_MemoryType* actual_memory_type,
    int64_t* actual_memory_type_id)
{
  (void)allocator;
  (void)tensor_name;
  (void)memory_type;
  (void)memory_type_id;
  (void)userp;
  *buffer_userp = NULL;
  *actual_memory_type = TRITONSERVER_MEMORY_CPU;
  *actual_memory_type_id = 0;
  if (byte_size == 0) {
    *buffer = NULL;
    return NULL;
  }
  *buffer = malloc(byte_size);
  if (*buffer == NULL) {
    return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INTERNAL, "test allocator: out of memory");
  }
  atomic_fetch_add(&g_allocs, 1);
  return NULL;
}

static TRITONSERVER_Error*
release_fn(
    TRITONSERVER_ResponseAllocator* allocator, void* buffer, void* buffer_userp,
    size_t byte_size, TRITONSERVER_MemoryType memory_type, int64_t memory_type_id)
{
  (void)allocator;
  (void)buffer_userp;
  (void)byte_size;
  (void)memory_type;
  (void)memory_type_id;
  if (buffer != NULL) {
    atomic_fetch_add(&g_releases, 1);
    free(buffer);
  }
  return NULL;
}

/* ---- one inference call ---- */

typedef struct out_tensor {
  char name[64];
  TRITONSERVER_DataType datatype;
  int64_t shape[8];
  uint64_t dim_count;
  unsigned char* data; /* malloc'd copy */
  size_t byte_size;
  TRITONSERVER_MemoryType memory_type;
} out_tensor;

typedef struct response_rec {
  bool is_null;
  uint32_t flags;
  bool has_error;
  TRITONSERVER_Error_Code error_code;
  char error_msg[512];
  char model[64];
  uint32_t n_out;
  out_tensor out[MAX_OUT];
} response_rec;

typedef struct in_tensor {
  const char* name;
  TRITONSERVER_DataType datatype;
  int64_t shape[4];
  uint64_t dim_count;
  const void* data;
  size_t byte_size;
} in_tensor;

typedef struct call {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int n_resp; /* callbacks received, NULL responses included */
  response_rec resp[MAX_RESP];
  int n_final;
  int after_final; /* callbacks received after a FINAL one */
  int n_release;
  uint32_t release_flags;
  char cb_error[256]; /* first API failure inside a callback */
  void* in_data[8];   /* input copies, alive until the release callback */
  int n_in;
} call;

static void
cb_error(call* c, const char* what, TRITONSERVER_Error* err)
{
  if (c->cb_error[0] == '\0') {
    snprintf(
        c->cb_error, sizeof(c->cb_error), "%s: %s", what,
        err ? TRITONSERVER_ErrorMessage(err) : "(no message)");
  }
  if (err) {
    TRITONSERVER_ErrorDelete(err);
  }
}

static void
response_cb(TRITONSERVER_InferenceResponse* response, const uint32_t flags, void* userp)
{
  call* c = userp;
  pthread_mutex_lock(&c->mu);
  if (c->n_final > 0) {
    c->after_final++;
  }
  if (c->n_resp < MAX_RESP) {
    response_rec* r = &c->resp[c->n_resp];
    memset(r, 0, sizeof(*r));
    r->flags = flags;
    r->is_null = response == NULL;
    if (response != NULL) {
      TRITONSERVER_Error* rerr = TRITONSERVER_InferenceResponseError(response);
      if (rerr != NULL) {
        /* A new error object the caller owns, as 2.51's implementation does (its header says
         * the response owns it). */
        r->has_error = true;
        r->error_code = TRITONSERVER_ErrorCode(rerr);
        snprintf(r->error_msg, sizeof(r->error_msg), "%s", TRITONSERVER_ErrorMessage(rerr));
        TRITONSERVER_ErrorDelete(rerr);
      }
      const char* model = NULL;
      int64_t version = 0;
      TRITONSERVER_Error* err = TRITONSERVER_InferenceResponseModel(response, &model, &version);
      if (err != NULL) {
        cb_error(c, "InferenceResponseModel", err);
      } else if (model != NULL) {
        snprintf(r->model, sizeof(r->model), "%s", model);
      }
      uint32_t count = 0;
      err = TRITONSERVER_InferenceResponseOutputCount(response, &count);
      if (err != NULL) {
        cb_error(c, "InferenceResponseOutputCount", err);
      }
      for (uint32_t i = 0; i < count && i < MAX_OUT; ++i) {
        out_tensor* o = &r->out[i];
        const char* name = NULL;
        const int64_t* shape = NULL;
        const void* base = NULL;
        int64_t mem_id = 0;
        void* buf_userp = NULL;
        err = TRITONSERVER_InferenceResponseOutput(
            response, i, &name, &o->datatype, &shape, &o->dim_count, &base, &o->byte_size,
            &o->memory_type, &mem_id, &buf_userp);
        if (err != NULL) {
          cb_error(c, "InferenceResponseOutput", err);
          continue;
        }
        snprintf(o->name, sizeof(o->name), "%s", name ? name : "(null)");
        for (uint64_t d = 0; d < o->dim_count && d < 8; ++d) {
          o->shape[d] = shape[d];
        }
        if (o->byte_size > 0) {
          o->data = malloc(o->byte_size);
          if (o->data != NULL && base != NULL) {
            memcpy(o->data, base, o->byte_size);
          }
        }
        r->n_out++;
      }
      err = TRITONSERVER_InferenceResponseDelete(response);
      if (err != NULL) {
        cb_error(c, "InferenceResponseDelete", err);
      }
    }
  } else if (response != NULL) {
    TRITONSERVER_Error* err = TRITONSERVER_InferenceResponseDelete(response);
    if (err != NULL) {
      cb_error(c, "InferenceResponseDelete", err);
    }
  }
  c->n_resp++;
  if (flags & TRITONSERVER_RESPONSE_COMPLETE_FINAL) {
    c->n_final++;
  }
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void
release_cb(TRITONSERVER_InferenceRequest* request, const uint32_t flags, void* userp)
{
  call* c = userp;
  pthread_mutex_lock(&c->mu);
  c->n_release++;
  c->release_flags = flags;
  if (flags & TRITONSERVER_REQUEST_RELEASE_ALL) {
    TRITONSERVER_Error* err = TRITONSERVER_InferenceRequestDelete(request);
    if (err != NULL) {
      cb_error(c, "InferenceRequestDelete", err);
    }
  }
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static call*
call_new(void)
{
  call* c = calloc(1, sizeof(*c));
  REQUIRE(c != NULL, "out of memory");
  pthread_mutex_init(&c->mu, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cv, &attr);
  pthread_condattr_destroy(&attr);
  return c;
}

static void
call_free(call* c)
{
  if (c == NULL) {
    return;
  }
  for (int i = 0; i < c->n_resp && i < MAX_RESP; ++i) {
    for (uint32_t j = 0; j < c->resp[i].n_out; ++j) {
      free(c->resp[i].out[j].data);
    }
  }
  for (int i = 0; i < c->n_in; ++i) {
    free(c->in_data[i]);
  }
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(c);
}

static TRITONSERVER_ResponseAllocator* g_allocator = NULL;

/* Build a request and ServerInferAsync it. On success returns the call (callbacks
 * pending); if a step before or at InferAsync fails, the request is deleted, *err_out gets
 * the error (or it is reported when err_out is NULL) and NULL is returned. */
static call*
infer_start(
    TRITONSERVER_Server* server, const char* model, const in_tensor* inputs, int n_in,
    const char* const* outputs, TRITONSERVER_Error** err_out)
{
  call* c = call_new();
  TRITONSERVER_InferenceRequest* req = NULL;
  TRITONSERVER_Error* err = TRITONSERVER_InferenceRequestNew(&req, server, model, -1);
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestSetId(req, model);
  }
  for (int i = 0; err == NULL && i < n_in; ++i) {
    const in_tensor* t = &inputs[i];
    err = TRITONSERVER_InferenceRequestAddInput(
        req, t->name, t->datatype, t->shape, t->dim_count);
    if (err == NULL) {
      void* copy = malloc(t->byte_size ? t->byte_size : 1);
      REQUIRE(copy != NULL, "out of memory");
      memcpy(copy, t->data, t->byte_size);
      c->in_data[c->n_in++] = copy;
      err = TRITONSERVER_InferenceRequestAppendInputData(
          req, t->name, copy, t->byte_size, TRITONSERVER_MEMORY_CPU, 0);
    }
  }
  for (const char* const* o = outputs; err == NULL && o != NULL && *o != NULL; ++o) {
    err = TRITONSERVER_InferenceRequestAddRequestedOutput(req, *o);
  }
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestSetReleaseCallback(req, release_cb, c);
  }
  if (err == NULL) {
    err = TRITONSERVER_InferenceRequestSetResponseCallback(
        req, g_allocator, NULL, response_cb, c);
  }
  if (err == NULL) {
    err = TRITONSERVER_ServerInferAsync(server, req, NULL);
  }
  if (err != NULL) {
    /* The request still belongs to us. */
    if (req != NULL) {
      CHECK_OK(TRITONSERVER_InferenceRequestDelete(req));
    }
    call_free(c);
    if (err_out != NULL) {
      *err_out = err;
    } else {
      char what[128];
      snprintf(what, sizeof(what), "inference request to '%s'", model);
      tc_check_ok(err, what, __FILE__, __LINE__);
    }
    return NULL;
  }
  if (err_out != NULL) {
    *err_out = NULL;
  }
  return c;
}

/* Wait until the FINAL callback and the release callback both came (bounded). Returns
 * false on timeout: the call is then leaked on purpose (callbacks may still arrive). */
static bool
call_wait(call* c, double timeout_s, const char* what)
{
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += (time_t)timeout_s;
  pthread_mutex_lock(&c->mu);
  int rc = 0;
  while ((c->n_final == 0 || c->n_release == 0) && rc != ETIMEDOUT) {
    rc = pthread_cond_timedwait(&c->cv, &c->mu, &deadline);
  }
  bool done = c->n_final > 0 && c->n_release > 0;
  int n_resp = c->n_resp, n_final = c->n_final, n_release = c->n_release;
  pthread_mutex_unlock(&c->mu);
  if (!done) {
    tc_fail(
        __FILE__, __LINE__,
        "%s: not complete after %.0f s (responses %d, final %d, released %d)", what,
        timeout_s, n_resp, n_final, n_release);
    return false;
  }
  /* Give a stray late callback a moment to show up before the checks. */
  tc_sleep_ms(20);
  pthread_mutex_lock(&c->mu);
  pthread_mutex_unlock(&c->mu);
  CHECK(c->cb_error[0] == '\0', "%s: API call failed in a callback: %s", what, c->cb_error);
  CHECK(c->n_final == 1, "%s: %d FINAL callbacks, expected 1", what, c->n_final);
  CHECK(c->after_final == 0, "%s: %d callbacks after the FINAL one", what, c->after_final);
  CHECK(c->n_release == 1, "%s: release callback called %d times", what, c->n_release);
  CHECK(
      c->release_flags & TRITONSERVER_REQUEST_RELEASE_ALL,
      "%s: release flags %u without RELEASE_ALL", what, c->release_flags);
  return true;
}

/* The non-NULL responses that carry no error. */
static int
data_responses(const call* c)
{
  int n = 0;
  for (int i = 0; i < c->n_resp && i < MAX_RESP; ++i) {
    n += !c->resp[i].is_null && !c->resp[i].has_error;
  }
  return n;
}

static const out_tensor*
find_output(const response_rec* r, const char* name)
{
  for (uint32_t i = 0; i < r->n_out; ++i) {
    if (strcmp(r->out[i].name, name) == 0) {
      return &r->out[i];
    }
  }
  return NULL;
}

static bool
check_fp32_output(
    const response_rec* r, const char* name, const float* want, int n, const char* what)
{
  const out_tensor* o = find_output(r, name);
  if (!CHECK(o != NULL, "%s: output %s missing (%u outputs)", what, name, r->n_out)) {
    return false;
  }
  bool ok = CHECK(
      o->datatype == TRITONSERVER_TYPE_FP32, "%s: %s datatype %s", what, name,
      TRITONSERVER_DataTypeString(o->datatype));
  ok &= CHECK(
      o->dim_count == 1 && o->shape[0] == n, "%s: %s shape dims=%lu [%ld]", what, name,
      (unsigned long)o->dim_count, (long)o->shape[0]);
  ok &= CHECK(
      o->memory_type == TRITONSERVER_MEMORY_CPU, "%s: %s memory type %s", what, name,
      TRITONSERVER_MemoryTypeString(o->memory_type));
  if (!CHECK(
          o->byte_size == (size_t)n * sizeof(float) && o->data != NULL,
          "%s: %s byte size %zu", what, name, o->byte_size)) {
    return false;
  }
  const float* got = (const float*)o->data;
  for (int i = 0; i < n; ++i) {
    ok &= CHECK(
        got[i] == want[i], "%s: %s[%d] = %g, expected %g", what, name, i, got[i], want[i]);
  }
  return ok;
}

/* ---- inputs of the scenarios ---- */

static void
fp32_inputs(in_tensor in[2], const float* a, const float* b)
{
  memset(in, 0, 2 * sizeof(in_tensor));
  in[0] = (in_tensor){"INPUT0", TRITONSERVER_TYPE_FP32, {4}, 1, a, 4 * sizeof(float)};
  in[1] = (in_tensor){"INPUT1", TRITONSERVER_TYPE_FP32, {4}, 1, b, 4 * sizeof(float)};
}

/* add_sub (or bls) with a, b: one data response with the FINAL flag and correct outputs. */
static void
check_add_sub(
    TRITONSERVER_Server* server, const char* model, float base, bool want_sub,
    const char* const* outputs)
{
  float a[4], b[4], sum[4], diff[4];
  for (int i = 0; i < 4; ++i) {
    a[i] = base + (float)i;
    b[i] = 10.0f * (float)(i + 1);
    sum[i] = a[i] + b[i];
    diff[i] = a[i] - b[i];
  }
  in_tensor in[2];
  fp32_inputs(in, a, b);
  char what[96];
  snprintf(what, sizeof(what), "%s(base %g)", model, base);
  call* c = infer_start(server, model, in, 2, outputs, NULL);
  if (c == NULL || !call_wait(c, WAIT_S, what)) {
    return;
  }
  if (CHECK(c->n_resp == 1, "%s: %d response callbacks, expected 1", what, c->n_resp)) {
    const response_rec* r = &c->resp[0];
    CHECK(!r->is_null, "%s: NULL response", what);
    CHECK(!r->has_error, "%s: error response: %s", what, r->error_msg);
    CHECK(r->flags == TRITONSERVER_RESPONSE_COMPLETE_FINAL, "%s: flags %u", what, r->flags);
    CHECK(strcmp(r->model, model) == 0, "%s: response model '%s'", what, r->model);
    if (!r->is_null && !r->has_error) {
      check_fp32_output(r, "OUTPUT0", sum, 4, what);
      if (want_sub) {
        CHECK(r->n_out == 2, "%s: %u outputs, expected 2", what, r->n_out);
        check_fp32_output(r, "OUTPUT1", diff, 4, what);
      } else {
        CHECK(r->n_out == 1, "%s: %u outputs, expected 1", what, r->n_out);
      }
    }
  }
  call_free(c);
}

/* Requests add_sub expecting an error response (stub dead). Returns true if one came. */
static bool
expect_error_response(TRITONSERVER_Server* server, const char* model, const char* what)
{
  float a[4] = {1, 2, 3, 4}, b[4] = {1, 1, 1, 1};
  in_tensor in[2];
  fp32_inputs(in, a, b);
  TRITONSERVER_Error* err = NULL;
  double t0 = now_s();
  call* c = infer_start(server, model, in, 2, NULL, &err);
  if (c == NULL) {
    tc_note(
        "%s: ServerInferAsync itself failed (%s: %s)", what, TRITONSERVER_ErrorCodeString(err),
        TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
    return true;
  }
  if (!call_wait(c, WAIT_S, what)) {
    return false;
  }
  bool got_error = false;
  for (int i = 0; i < c->n_resp && i < MAX_RESP; ++i) {
    if (c->resp[i].has_error) {
      got_error = true;
      TRITONSERVER_Error* e = TRITONSERVER_ErrorNew(c->resp[i].error_code, "");
      tc_note(
          "%s: error response after %.2f s: %s: %s", what, now_s() - t0,
          TRITONSERVER_ErrorCodeString(e), c->resp[i].error_msg);
      TRITONSERVER_ErrorDelete(e);
    }
  }
  CHECK(got_error, "%s: expected an error response, got %d data response(s)", what,
        data_responses(c));
  call_free(c);
  return got_error;
}

/* ---- processes ---- */

/* Children of this process whose command line runs triton_python_backend_stub; if
 * `instance` is non-NULL, only the stub whose arguments include exactly that instance
 * name. Zombies are skipped unless include_zombies. Returns the count (≤ max). */
static int
find_stubs(const char* instance, bool include_zombies, pid_t* pids, int max)
{
  int n = 0;
  DIR* proc = opendir("/proc");
  if (proc == NULL) {
    return 0;
  }
  pid_t self = getpid();
  struct dirent* e;
  while ((e = readdir(proc)) != NULL && n < max) {
    char* end = NULL;
    long pid = strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') {
      continue;
    }
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE* f = fopen(path, "r");
    if (f == NULL) {
      continue;
    }
    size_t len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    const char* rp = strrchr(buf, ')');
    char state = 0;
    long ppid = 0;
    if (rp == NULL || sscanf(rp + 1, " %c %ld", &state, &ppid) != 2 || ppid != self) {
      continue;
    }
    if (state == 'Z' && !include_zombies) {
      continue;
    }
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
      continue;
    }
    ssize_t got = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    bool is_stub = false, has_instance = instance == NULL;
    if (got > 0 || state == 'Z') {
      buf[got > 0 ? got : 0] = '\0';
      for (ssize_t off = 0; off < got; off += (ssize_t)strlen(buf + off) + 1) {
        const char* arg = buf + off;
        if (strstr(arg, "triton_python_backend_stub") != NULL) {
          is_stub = true;
        }
        if (instance != NULL && strcmp(arg, instance) == 0) {
          has_instance = true;
        }
      }
      if (state == 'Z' && got <= 0) {
        is_stub = true; /* a zombie has no command line left; count it */
        has_instance = instance == NULL;
      }
    }
    if (is_stub && has_instance) {
      pids[n++] = (pid_t)pid;
    }
  }
  closedir(proc);
  return n;
}

static pid_t
stub_of(const char* instance)
{
  pid_t pids[4];
  int n = find_stubs(instance, false, pids, 4);
  CHECK(n <= 1, "%d live stubs for instance %s", n, instance);
  return n >= 1 ? pids[0] : -1;
}

static void
note_stubs(const char* when)
{
  pid_t pids[32];
  int n = find_stubs(NULL, true, pids, 32);
  char line[512] = "";
  for (int i = 0; i < n; ++i) {
    char one[32];
    snprintf(one, sizeof(one), " %ld%s", (long)pids[i], tc_process_alive(pids[i]) ? "" : "(Z)");
    strncat(line, one, sizeof(line) - strlen(line) - 1);
  }
  tc_note("%s: %d stub process(es):%s", when, n, line);
}

/* Number of the python backend's shared-memory regions in /dev/shm. */
static int
count_shm_regions(void)
{
  int n = 0;
  DIR* d = opendir("/dev/shm");
  if (d == NULL) {
    return -1;
  }
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    n += strncmp(e->d_name, "triton_python_backend_shm_region_", 33) == 0;
  }
  closedir(d);
  return n;
}

static bool
wait_process_not_alive(pid_t pid, double timeout_s)
{
  double deadline = now_s() + timeout_s;
  while (tc_process_alive(pid) && now_s() < deadline) {
    tc_sleep_ms(50);
  }
  return !tc_process_alive(pid);
}

/* ---- repository copy ---- */

static void
copy_tree(const char* src, const char* dst)
{
  DIR* d = opendir(src);
  REQUIRE(d != NULL, "opendir(%s): %s", src, strerror(errno));
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
        strcmp(e->d_name, "__pycache__") == 0) {
      continue;
    }
    char s[PATH_MAX], t[PATH_MAX];
    snprintf(s, sizeof(s), "%s/%s", src, e->d_name);
    snprintf(t, sizeof(t), "%s/%s", dst, e->d_name);
    struct stat st;
    REQUIRE(stat(s, &st) == 0, "stat(%s): %s", s, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
      REQUIRE(mkdir(t, 0755) == 0, "mkdir(%s): %s", t, strerror(errno));
      copy_tree(s, t);
    } else if (S_ISREG(st.st_mode)) {
      FILE* in = fopen(s, "rb");
      FILE* out = fopen(t, "wb");
      REQUIRE(in != NULL && out != NULL, "copy %s -> %s: %s", s, t, strerror(errno));
      char buf[8192];
      size_t n;
      while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
        REQUIRE(fwrite(buf, 1, n, out) == n, "write %s: %s", t, strerror(errno));
      }
      fclose(in);
      REQUIRE(fclose(out) == 0, "close %s: %s", t, strerror(errno));
    }
  }
  closedir(d);
}

/* ---- server ---- */

static const char* const kModels[] = {"add_sub", "repeat_decoupled", "bls", "identity_bytes"};
#define N_MODELS (int)(sizeof(kModels) / sizeof(kModels[0]))

static TRITONSERVER_Server*
start_server(const char* repo, const char* backend_dir)
{
  TRITONSERVER_ServerOptions* options = NULL;
  REQUIRE_OK(TRITONSERVER_ServerOptionsNew(&options));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetModelRepositoryPath(options, repo));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetBackendDirectory(options, backend_dir));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetModelControlMode(
      options, TRITONSERVER_MODEL_CONTROL_EXPLICIT));
  for (int i = 0; i < N_MODELS; ++i) {
    REQUIRE_OK(TRITONSERVER_ServerOptionsSetStartupModel(options, kModels[i]));
  }
  /* Not strict: the python backend's auto-complete runs (identity_bytes needs it). */
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetStrictModelConfig(options, false));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetStrictReadiness(options, true));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetExitOnError(options, true));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetExitTimeout(options, kExitTimeoutS));
  const char* verbose_env = getenv("TC_VERBOSE");
  int verbose = verbose_env ? atoi(verbose_env) : 0;
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetLogInfo(options, verbose > 0));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetLogWarn(options, true));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetLogError(options, true));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetLogVerbose(options, verbose));

  TRITONSERVER_Server* server = NULL;
  TRITONSERVER_Error* err = TRITONSERVER_ServerNew(&server, options);
  CHECK_OK(TRITONSERVER_ServerOptionsDelete(options));
  REQUIRE_OK(err);
  REQUIRE(server != NULL, "ServerNew succeeded but returned NULL");
  return server;
}

/* ---- scenarios ---- */

static void
scenario_decoupled(TRITONSERVER_Server* server, int n)
{
  int32_t value = n;
  in_tensor in = {"IN", TRITONSERVER_TYPE_INT32, {1}, 1, &value, sizeof(value)};
  char what[64];
  snprintf(what, sizeof(what), "repeat_decoupled(n=%d)", n);
  call* c = infer_start(server, "repeat_decoupled", &in, 1, NULL, NULL);
  if (c == NULL || !call_wait(c, WAIT_S, what)) {
    return;
  }
  int data = 0, nulls = 0;
  for (int i = 0; i < c->n_resp && i < MAX_RESP; ++i) {
    const response_rec* r = &c->resp[i];
    bool last = i == c->n_resp - 1;
    if (r->is_null) {
      nulls++;
      CHECK(last, "%s: NULL response #%d is not the last callback", what, i);
      continue;
    }
    if (!CHECK(!r->has_error, "%s: response #%d is an error: %s", what, i, r->error_msg)) {
      continue;
    }
    CHECK(
        last || r->flags == 0, "%s: response #%d has flags %u before the end", what, i,
        r->flags);
    const out_tensor* o = find_output(r, "OUT");
    if (CHECK(o != NULL && r->n_out == 1, "%s: response #%d: %u outputs, OUT %s", what, i,
              r->n_out, o ? "present" : "missing") &&
        CHECK(
            o->datatype == TRITONSERVER_TYPE_INT32 && o->byte_size == sizeof(int32_t) &&
                o->data != NULL && o->dim_count == 1 && o->shape[0] == 1,
            "%s: response #%d: OUT %s %zu bytes", what, i,
            TRITONSERVER_DataTypeString(o->datatype), o->byte_size)) {
      int32_t got;
      memcpy(&got, o->data, sizeof(got));
      CHECK(got == data, "%s: response #%d: OUT = %d, expected %d", what, i, got, data);
    }
    data++;
  }
  CHECK(data == n, "%s: %d data responses, expected %d", what, data, n);
  CHECK(
      c->resp[c->n_resp - 1].flags & TRITONSERVER_RESPONSE_COMPLETE_FINAL,
      "%s: the last callback lacks FINAL", what);
  tc_note(
      "%s: %d data responses, FINAL %s", what, data,
      nulls ? "as a separate NULL response" : "on the last data response");
  call_free(c);
}

static void
scenario_bytes(TRITONSERVER_Server* server)
{
  static const char* const strings[] = {"hello", "", "triton core"};
  unsigned char buf[64];
  size_t len = 0;
  for (int i = 0; i < 3; ++i) {
    uint32_t n = (uint32_t)strlen(strings[i]);
    memcpy(buf + len, &n, 4); /* little-endian host */
    memcpy(buf + len + 4, strings[i], n);
    len += 4 + n;
  }
  in_tensor in = {"INPUT0", TRITONSERVER_TYPE_BYTES, {3}, 1, buf, len};
  call* c = infer_start(server, "identity_bytes", &in, 1, NULL, NULL);
  if (c == NULL || !call_wait(c, WAIT_S, "identity_bytes")) {
    return;
  }
  if (CHECK(c->n_resp == 1 && !c->resp[0].is_null, "identity_bytes: %d responses",
            c->n_resp) &&
      CHECK(!c->resp[0].has_error, "identity_bytes: error %s", c->resp[0].error_msg)) {
    const out_tensor* o = find_output(&c->resp[0], "OUTPUT0");
    if (CHECK(o != NULL, "identity_bytes: OUTPUT0 missing")) {
      CHECK(
          o->datatype == TRITONSERVER_TYPE_BYTES, "identity_bytes: datatype %s",
          TRITONSERVER_DataTypeString(o->datatype));
      CHECK(o->dim_count == 1 && o->shape[0] == 3, "identity_bytes: shape [%ld]",
            (long)o->shape[0]);
      CHECK(
          o->byte_size == len && o->data != NULL && memcmp(o->data, buf, len) == 0,
          "identity_bytes: %zu bytes differ from the %zu sent", o->byte_size, len);
    }
  }
  call_free(c);

  /* The inputs came from auto_complete_config (TRITONBACKEND_ModelSetConfig). */
  TRITONSERVER_Message* config = NULL;
  if (!CHECK(
          &TRITONSERVER_ServerModelConfig != NULL,
          "TRITONSERVER_ServerModelConfig is not exported: auto-complete not checked")) {
    return;
  }
  if (CHECK_OK(TRITONSERVER_ServerModelConfig(server, "identity_bytes", -1, 1, &config))) {
    char* json = tc_message_json(config);
    if (json != NULL) {
      char* input = tc_json_object_with(json, "\"name\":\"INPUT0\"");
      CHECK(
          input != NULL && strstr(input, "\"data_type\":\"TYPE_STRING\"") != NULL,
          "identity_bytes: auto-completed config lacks INPUT0 TYPE_STRING: %s", json);
      free(input);
      free(json);
    }
    CHECK_OK(TRITONSERVER_MessageDelete(config));
  }
}

static void
scenario_concurrent(TRITONSERVER_Server* server)
{
  enum { N = 8 };
  float a[N][4], b[N][4];
  call* calls[N] = {0};
  for (int k = 0; k < N; ++k) {
    for (int i = 0; i < 4; ++i) {
      a[k][i] = (float)(100 * k + i);
      b[k][i] = (float)(k - i);
    }
    in_tensor in[2];
    fp32_inputs(in, a[k], b[k]);
    calls[k] = infer_start(server, k % 2 ? "bls" : "add_sub", in, 2, NULL, NULL);
  }
  for (int k = 0; k < N; ++k) {
    char what[64];
    snprintf(what, sizeof(what), "concurrent #%d (%s)", k, k % 2 ? "bls" : "add_sub");
    if (calls[k] == NULL || !call_wait(calls[k], WAIT_S, what)) {
      continue;
    }
    float sum[4];
    for (int i = 0; i < 4; ++i) {
      sum[i] = a[k][i] + b[k][i];
    }
    if (CHECK(calls[k]->n_resp == 1 && !calls[k]->resp[0].has_error,
              "%s: %d responses, error '%s'", what, calls[k]->n_resp,
              calls[k]->resp[0].error_msg)) {
      check_fp32_output(&calls[k]->resp[0], "OUTPUT0", sum, 4, what);
    }
    call_free(calls[k]);
  }
}

static void
scenario_missing_input(TRITONSERVER_Server* server)
{
  float a[4] = {1, 2, 3, 4};
  in_tensor in = {"INPUT0", TRITONSERVER_TYPE_FP32, {4}, 1, a, sizeof(a)};
  TRITONSERVER_Error* err = NULL;
  call* c = infer_start(server, "add_sub", &in, 1, NULL, &err);
  if (c != NULL) {
    /* Accept an error response too, but the request must still complete. */
    if (call_wait(c, WAIT_S, "add_sub missing INPUT1")) {
      CHECK(c->n_resp >= 1 && c->resp[0].has_error,
            "add_sub missing INPUT1: neither InferAsync nor the response failed");
      tc_note("add_sub missing INPUT1: error response: %s", c->resp[0].error_msg);
      call_free(c);
    }
    return;
  }
  tc_note(
      "add_sub missing INPUT1: ServerInferAsync -> %s: %s", TRITONSERVER_ErrorCodeString(err),
      TRITONSERVER_ErrorMessage(err));
  EXPECT_ERR(err, TRITONSERVER_ERROR_INVALID_ARG);
}

int
main(void)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char* backend_dir = getenv("TC_PYTHON_BACKEND_DIR");
  if (backend_dir == NULL || backend_dir[0] == '\0') {
    tc_note("TC_PYTHON_BACKEND_DIR not set (scripts/fetch-pytriton.sh): skipped");
    return 77;
  }
  const char* models = getenv("TC_PYTHON_MODELS");
  if (models == NULL || models[0] == '\0') {
    models = TC_PYTHON_MODELS_DEFAULT;
  }
  signal(SIGALRM, on_alarm);

  int shm_before = count_shm_regions();
  char* repo = tc_repo_new();
  copy_tree(models, repo);
  tc_note("repository %s (from %s), backends %s", repo, models, backend_dir);

  REQUIRE_OK(TRITONSERVER_ResponseAllocatorNew(&g_allocator, alloc_fn, release_fn, NULL));

  step("ServerNew (loads the four python models)", 180);
  double t0 = now_s();
  TRITONSERVER_Server* server = start_server(repo, backend_dir);
  tc_note("ServerNew took %.1f s", now_s() - t0);

  step("readiness after start", 60);
  CHECK(tc_server_ready(server) == 1, "server not ready after start");
  for (int i = 0; i < N_MODELS; ++i) {
    CHECK(tc_model_ready(server, kModels[i], -1) == 1, "model %s not ready", kModels[i]);
  }
  note_stubs("after start");
  pid_t first_stub = stub_of("add_sub_0_0");
  CHECK(first_stub > 0, "no live stub process for add_sub_0_0 among the children");

  step("add_sub", 60);
  check_add_sub(server, "add_sub", 1.0f, true, NULL);
  {
    static const char* const only_out1[] = {"OUTPUT1", NULL};
    float a[4] = {5, 6, 7, 8}, b[4] = {1, 2, 3, 4}, diff[4] = {4, 4, 4, 4};
    in_tensor in[2];
    fp32_inputs(in, a, b);
    call* c = infer_start(server, "add_sub", in, 2, only_out1, NULL);
    if (c != NULL && call_wait(c, WAIT_S, "add_sub OUTPUT1 only")) {
      if (CHECK(c->n_resp == 1 && !c->resp[0].has_error, "add_sub OUTPUT1 only: error %s",
                c->resp[0].error_msg)) {
        CHECK(c->resp[0].n_out == 1, "add_sub OUTPUT1 only: %u outputs", c->resp[0].n_out);
        check_fp32_output(&c->resp[0], "OUTPUT1", diff, 4, "add_sub OUTPUT1 only");
      }
      call_free(c);
    }
  }

  step("add_sub with a missing input", 60);
  scenario_missing_input(server);

  step("repeat_decoupled", 60);
  scenario_decoupled(server, 3);
  scenario_decoupled(server, 0);
  scenario_decoupled(server, 5);

  step("bls", 60);
  check_add_sub(server, "bls", 7.0f, false, NULL);

  step("identity_bytes", 60);
  scenario_bytes(server);

  step("concurrent requests", 120);
  scenario_concurrent(server);

  step("unload add_sub", 60);
  CHECK_OK(TRITONSERVER_ServerUnloadModel(server, "add_sub"));
  CHECK(tc_wait_model_ready(server, "add_sub", -1, 0, WAIT_S) == 0, "add_sub still ready");
  CHECK(
      first_stub <= 0 || wait_process_not_alive(first_stub, WAIT_S),
      "stub %ld of add_sub still running after unload", (long)first_stub);
  {
    float a[4] = {0}, b[4] = {0};
    in_tensor in[2];
    fp32_inputs(in, a, b);
    TRITONSERVER_Error* err = NULL;
    call* c = infer_start(server, "add_sub", in, 2, NULL, &err);
    if (CHECK(c == NULL, "inference on the unloaded add_sub was accepted")) {
      tc_note(
          "infer on unloaded add_sub -> %s: %s", TRITONSERVER_ErrorCodeString(err),
          TRITONSERVER_ErrorMessage(err));
      /* 2.51: NOT_FOUND "Request for unknown model: 'add_sub' has no available versions" */
      EXPECT_ERR(err, TRITONSERVER_ERROR_NOT_FOUND);
    } else if (call_wait(c, WAIT_S, "add_sub unloaded")) {
      call_free(c);
    }
  }

  step("reload add_sub", 120);
  CHECK_OK(TRITONSERVER_ServerLoadModel(server, "add_sub"));
  CHECK(tc_wait_model_ready(server, "add_sub", -1, 1, WAIT_S) == 1, "add_sub not ready");
  pid_t second_stub = stub_of("add_sub_0_0");
  CHECK(
      second_stub > 0 && second_stub != first_stub,
      "after reload the add_sub stub is %ld (before: %ld)", (long)second_stub,
      (long)first_stub);
  check_add_sub(server, "add_sub", 3.0f, true, NULL);
  check_add_sub(server, "bls", 4.0f, false, NULL);

  step("kill -9 of the add_sub stub", 120);
  if (second_stub > 0) {
    CHECK(kill(second_stub, SIGKILL) == 0, "kill(%ld): %s", (long)second_stub, strerror(errno));
    CHECK(wait_process_not_alive(second_stub, WAIT_S), "stub %ld survived SIGKILL",
          (long)second_stub);
    expect_error_response(server, "add_sub", "add_sub after kill (1st)");
    expect_error_response(server, "add_sub", "add_sub after kill (2nd)");
    expect_error_response(server, "bls", "bls after add_sub's stub was killed");
    int ready = tc_model_ready(server, "add_sub", -1);
    tc_note(
        "add_sub readiness after its stub was killed: %s (the 2.51 python backend exports no "
        "TRITONBACKEND_ModelInstanceReady, so the model stays READY)",
        ready == 1 ? "READY" : ready == 0 ? "NOT READY" : "error");
    int sready = tc_server_ready(server);
    tc_note("server readiness after the kill: %s", sready == 1 ? "ready" : "not ready");
    /* The other models are unaffected. */
    scenario_decoupled(server, 2);
  }

  step("ServerDelete", 120);
  pid_t stubs[32];
  int n_stubs = find_stubs(NULL, true, stubs, 32);
  note_stubs("before ServerDelete");
  t0 = now_s();
  {
    /* The 2.51 python backend cannot finalize an instance whose stub was killed: its
     * TerminateStub still believes the stub healthy, sends the finalize message and waits
     * for the reply forever. So add_sub never finishes unloading; the core must give up
     * after the exit timeout (upstream: INTERNAL "Exit timeout expired. Exiting
     * immediately.") instead of hanging. Success is fine too. */
    TRITONSERVER_Error* err = TRITONSERVER_ServerDelete(server);
    double took = now_s() - t0;
    tc_note("ServerDelete took %.1f s", took);
    if (err != NULL) {
      tc_note(
          "ServerDelete -> %s: %s (expected with the killed stub: the 2.51 python backend "
          "never finishes finalizing that instance)",
          TRITONSERVER_ErrorCodeString(err), TRITONSERVER_ErrorMessage(err));
      CHECK(
          TRITONSERVER_ErrorCode(err) == TRITONSERVER_ERROR_INTERNAL ||
              TRITONSERVER_ErrorCode(err) == TRITONSERVER_ERROR_UNAVAILABLE,
          "ServerDelete: unexpected error code %s", TRITONSERVER_ErrorCodeString(err));
      TRITONSERVER_ErrorDelete(err);
    }
    CHECK(
        took < kExitTimeoutS + 15.0, "ServerDelete took %.1f s (exit timeout %d s)", took,
        kExitTimeoutS);
  }
  step("stub processes after ServerDelete", 60);
  for (int i = 0; i < n_stubs; ++i) {
    CHECK(
        wait_process_not_alive(stubs[i], 10.0), "stub %ld still running after ServerDelete",
        (long)stubs[i]);
  }
  int zombies = 0;
  for (int i = 0; i < n_stubs; ++i) {
    zombies += !tc_process_gone(stubs[i]);
  }
  if (zombies > 0) {
    tc_note(
        "%d stub(s) left as unreaped zombies after ServerDelete (reaping them is the "
        "backend's job; the core must not waitpid generically)",
        zombies);
  }
  note_stubs("after ServerDelete");
  int shm_after = count_shm_regions();
  tc_note(
      "/dev/shm: %d python backend region(s) before the server, %d after ServerDelete%s",
      shm_before, shm_after,
      shm_after > shm_before ? " (an instance that never finished finalizing keeps its region)"
                             : "");

  CHECK(
      atomic_load(&g_allocs) == atomic_load(&g_releases),
      "allocator: %d buffers allocated, %d released", atomic_load(&g_allocs),
      atomic_load(&g_releases));
  tc_note("allocator: %d buffers allocated and released", atomic_load(&g_allocs));
  CHECK_OK(TRITONSERVER_ResponseAllocatorDelete(g_allocator));
  alarm(0);
  tc_repo_remove(repo);
  return tc_finish("int_python");
}
