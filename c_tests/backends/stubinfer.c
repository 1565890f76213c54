/* Test backend 'stubinfer': inference through one child process per instance, like
 * python_backend's stub, for the self-healing tests (int_readiness_bounded).
 *
 * ModelInstanceInitialize forks a stub connected by a socketpair. The stub closes every
 * other descriptor, sends one byte ('R', the handshake) and then answers each request of
 * 4 FP32 values with the 4 values + 1 (after sleeping `stubinfer.delay_ms`); it exits when
 * its parent is gone. Unless `stubinfer.handshake` is "false", Initialize waits (up to 5 s)
 * for the handshake and fails if the stub exited first ("stub process of instance 'X'
 * exited during startup"), as the python backend does when its stub does not come up.
 * The stub's pid is written to <model_dir>/<instance>.pid.
 *
 * Model configuration parameters (string values):
 *   stubinfer.delay_ms            the stub sleeps this long per request (default 0)
 *   stubinfer.die_at_start_after  N: the stub exits at once, before the handshake, on every
 *                                 start of an instance after its N-th (default: never; 0 =
 *                                 every start, so the first load fails)
 *   stubinfer.handshake           "false": Initialize does not wait for the stub
 *
 * Execute sends INPUT0 (FP32 [4]) to the stub and answers OUTPUT0 = INPUT0 + 1. When the
 * stub is gone the request gets an INTERNAL error response "stubinfer: stub process of
 * instance 'X' is gone (...)". ModelInstanceReady: not ready (INTERNAL "Stub process 'X' is
 * not healthy.") once the stub exited (waitpid WNOHANG). Finalize SIGKILLs and reaps it.
 *
 * Counters (process-wide) for the driver, through the exported stubinfer_counter(name):
 *   starts, start_deaths (stubs told to exit at start), handshake_failures, inst_init,
 *   inst_fini, hook_calls, requests, ok, failed_in_flight (the stub vanished while it held
 *   the request), failed_dead (the stub was already gone when the request came). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend_common.h"

/* ---- counters ---- */

#define SI_COUNTERS(X)                                                                 \
  X(starts) X(start_deaths) X(handshake_failures) X(inst_init) X(inst_fini) X(hook_calls) \
  X(requests) X(ok) X(failed_in_flight) X(failed_dead)

enum {
#define SI_ENUM(n) C_##n,
  SI_COUNTERS(SI_ENUM)
#undef SI_ENUM
  C_COUNT
};
static const char* const kNames[C_COUNT] = {
#define SI_NAME(n) #n,
    SI_COUNTERS(SI_NAME)
#undef SI_NAME
};
static atomic_long g_counters[C_COUNT];
#define INC(c) atomic_fetch_add(&g_counters[C_##c], 1)

TB_EXPORT long stubinfer_counter(const char* name);

TB_EXPORT long
stubinfer_counter(const char* name)
{
  for (int i = 0; i < C_COUNT; ++i) {
    if (strcmp(kNames[i], name) == 0) {
      return atomic_load(&g_counters[i]);
    }
  }
  return -1;
}

/* Starts per instance name (restarts re-initialize an instance with the same name). */
#define SI_MAX_INSTANCES 64
static pthread_mutex_t g_starts_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  char name[256];
  long starts;
} g_starts[SI_MAX_INSTANCES];

static long
count_start(const char* model_dir, const char* instance)
{
  char key[256];
  snprintf(key, sizeof(key), "%.120s/%.120s", model_dir, instance);
  pthread_mutex_lock(&g_starts_mu);
  long n = -1;
  for (int i = 0; i < SI_MAX_INSTANCES; ++i) {
    if (g_starts[i].name[0] == '\0') {
      snprintf(g_starts[i].name, sizeof(g_starts[i].name), "%s", key);
    }
    if (strcmp(g_starts[i].name, key) == 0) {
      n = ++g_starts[i].starts;
      break;
    }
  }
  pthread_mutex_unlock(&g_starts_mu);
  return n;
}

/* ---- per instance ---- */

typedef struct si_instance {
  int sock; /* parent's end of the socketpair */
  long delay_ms;
  pthread_mutex_t mu; /* one request at a time on the socket */
} si_instance;

/* Copy of the string value of model configuration parameter `key` into out ("" if absent). */
static void
config_param(TRITONBACKEND_Model* model, const char* key, char* out, size_t size)
{
  out[0] = '\0';
  char* json = tb_model_config_json(model);
  if (json == NULL) {
    return;
  }
  char needle[256];
  snprintf(needle, sizeof(needle), "\"%s\"", key);
  const char* p = strstr(json, needle);
  if (p != NULL) {
    p = strstr(p, "\"string_value\"");
  }
  if (p != NULL) {
    p = strchr(p + strlen("\"string_value\""), '"');
  }
  if (p != NULL) {
    const char* end = strchr(p + 1, '"');
    size_t n = end ? (size_t)(end - p - 1) : 0;
    if (n >= size) {
      n = size - 1;
    }
    memcpy(out, p + 1, n);
    out[n] = '\0';
  }
  free(json);
}

static bool
write_all(int fd, const void* buf, size_t n)
{
  const char* p = buf;
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w <= 0) {
      return false;
    }
    p += w;
    n -= (size_t)w;
  }
  return true;
}

/* Read exactly n bytes, waiting at most timeout_ms for each piece. 1: done, 0: EOF or
 * error, -1: timeout. */
static int
read_all(int fd, void* buf, size_t n, int timeout_ms)
{
  char* p = buf;
  while (n > 0) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int r = poll(&pfd, 1, timeout_ms);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r == 0) {
      return -1;
    }
    if (r < 0) {
      return 0;
    }
    ssize_t got = recv(fd, p, n, 0);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      return 0;
    }
    p += got;
    n -= (size_t)got;
  }
  return 1;
}

/* The stub: only async-signal-safe calls (the parent is multi-threaded). */
static void
stub_main(pid_t parent, int sock, bool die_at_start, long delay_ms)
{
  for (int fd = 0; fd < 4096; ++fd) {
    if (fd != sock) {
      close(fd);
    }
  }
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (devnull > 2 && devnull != sock) {
      close(devnull);
    }
  }
  if (die_at_start) {
    _exit(3);
  }
  char ready = 'R';
  if (!write_all(sock, &ready, 1)) {
    _exit(4);
  }
  for (;;) {
    struct pollfd pfd = {sock, POLLIN, 0};
    int r = poll(&pfd, 1, 1000);
    if (getppid() != parent) {
      _exit(0);
    }
    if (r <= 0) {
      continue;
    }
    float v[4];
    if (read_all(sock, v, sizeof(v), 1000) != 1) {
      _exit(0);
    }
    if (delay_ms > 0) {
      tb_sleep_ms(delay_ms);
    }
    for (int i = 0; i < 4; ++i) {
      v[i] += 1.0f;
    }
    if (!write_all(sock, v, sizeof(v))) {
      _exit(0);
    }
  }
}

TRITONSERVER_Error*
tb_hook_instance_initialize(TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  INC(inst_init);
  TRITONBACKEND_Model* model = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_ModelInstanceModel(instance, &model);
  if (err != NULL) {
    return tb_wrap(err, "TRITONBACKEND_ModelInstanceModel");
  }
  char v[64];
  config_param(model, "stubinfer.delay_ms", v, sizeof(v));
  long delay_ms = v[0] ? strtol(v, NULL, 10) : 0;
  config_param(model, "stubinfer.die_at_start_after", v, sizeof(v));
  long die_after = v[0] ? strtol(v, NULL, 10) : -1;
  config_param(model, "stubinfer.handshake", v, sizeof(v));
  bool handshake = strcmp(v, "false") != 0;

  long start = count_start(state->model->repository, state->name);
  bool die_at_start = die_after >= 0 && start > die_after;
  INC(starts);
  if (die_at_start) {
    INC(start_deaths);
  }

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "socketpair: %s", strerror(errno));
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(sv[0]);
    close(sv[1]);
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "fork failed: %s", strerror(errno));
  }
  if (pid == 0) {
    stub_main(parent, sv[1], die_at_start, delay_ms);
    _exit(0);
  }
  close(sv[1]);
  if (handshake) {
    char ready = 0;
    int r = read_all(sv[0], &ready, 1, 5000);
    if (r != 1 || ready != 'R') {
      INC(handshake_failures);
      close(sv[0]);
      tb_kill_and_reap(pid);
      return tb_error(
          TRITONSERVER_ERROR_INTERNAL, "stub process of instance '%s' %s", state->name,
          r == -1 ? "did not start within 5 s" : "exited during startup");
    }
  }
  err = tb_write_pid_file(state, pid);
  if (err != NULL) {
    close(sv[0]);
    tb_kill_and_reap(pid);
    return err;
  }
  si_instance* si = calloc(1, sizeof(*si));
  if (si == NULL) {
    close(sv[0]);
    tb_kill_and_reap(pid);
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "out of memory");
  }
  si->sock = sv[0];
  si->delay_ms = delay_ms;
  pthread_mutex_init(&si->mu, NULL);
  state->user = si;
  __atomic_store_n(&state->child, pid, __ATOMIC_SEQ_CST);
  return NULL;
}

void
tb_hook_instance_finalize(TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  (void)instance;
  INC(inst_fini);
  pid_t pid = __atomic_exchange_n(&state->child, 0, __ATOMIC_SEQ_CST);
  if (pid > 0) {
    tb_kill_and_reap(pid);
  }
  si_instance* si = state->user;
  if (si != NULL) {
    close(si->sock);
    pthread_mutex_destroy(&si->mu);
    free(si);
    state->user = NULL;
  }
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceReady(TRITONBACKEND_ModelInstance* instance)
{
  INC(hook_calls);
  return tb_stub_ready(instance);
}

/* Ask the stub; NULL on success (out filled), else the error to answer with. */
static TRITONSERVER_Error*
ask_stub(tb_instance_state* state, const float in[4], float out[4])
{
  si_instance* si = state->user;
  pthread_mutex_lock(&si->mu);
  bool sent = write_all(si->sock, in, 4 * sizeof(float));
  int r = sent ? read_all(si->sock, out, 4 * sizeof(float), 10000) : 0;
  pthread_mutex_unlock(&si->mu);
  if (r == 1) {
    return NULL;
  }
  if (!sent) {
    INC(failed_dead);
  } else {
    INC(failed_in_flight);
  }
  return tb_error(
      TRITONSERVER_ERROR_INTERNAL, "stub process of instance '%s' is gone (%s)", state->name,
      !sent ? "it was gone when the request came"
            : (r == -1 ? "no answer within 10 s" : "it vanished while holding the request"));
}

static TRITONSERVER_Error*
infer_one(tb_instance_state* state, TRITONBACKEND_Request* request,
          TRITONBACKEND_Response* response)
{
  TRITONBACKEND_Input* input = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_RequestInput(request, "INPUT0", &input);
  if (err != NULL) {
    return tb_wrap(err, "TRITONBACKEND_RequestInput");
  }
  uint64_t byte_size = 0;
  uint32_t buffers = 0;
  err = TRITONBACKEND_InputProperties(input, NULL, NULL, NULL, NULL, &byte_size, &buffers);
  if (err != NULL) {
    return tb_wrap(err, "TRITONBACKEND_InputProperties");
  }
  float in[4] = {0, 0, 0, 0};
  if (byte_size != sizeof(in)) {
    return tb_error(TRITONSERVER_ERROR_INVALID_ARG, "INPUT0 must be FP32 [4]");
  }
  uint64_t off = 0;
  for (uint32_t b = 0; b < buffers; ++b) {
    const void* src = NULL;
    uint64_t size = 0;
    TRITONSERVER_MemoryType mt = TRITONSERVER_MEMORY_CPU;
    int64_t mt_id = 0;
    err = TRITONBACKEND_InputBuffer(input, b, &src, &size, &mt, &mt_id);
    if (err != NULL) {
      return tb_wrap(err, "TRITONBACKEND_InputBuffer");
    }
    if (off + size > sizeof(in)) {
      return tb_error(TRITONSERVER_ERROR_INVALID_ARG, "INPUT0 buffers too large");
    }
    memcpy((char*)in + off, src, (size_t)size);
    off += size;
  }
  float out[4];
  err = ask_stub(state, in, out);
  if (err != NULL) {
    return err;
  }
  const int64_t shape[1] = {4};
  TRITONBACKEND_Output* output = NULL;
  err = TRITONBACKEND_ResponseOutput(
      response, &output, "OUTPUT0", TRITONSERVER_TYPE_FP32, shape, 1);
  if (err != NULL) {
    return tb_wrap(err, "TRITONBACKEND_ResponseOutput");
  }
  void* dst = NULL;
  TRITONSERVER_MemoryType mt = TRITONSERVER_MEMORY_CPU;
  int64_t mt_id = 0;
  err = TRITONBACKEND_OutputBuffer(output, &dst, sizeof(out), &mt, &mt_id);
  if (err != NULL) {
    return tb_wrap(err, "TRITONBACKEND_OutputBuffer");
  }
  memcpy(dst, out, sizeof(out));
  return NULL;
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceExecute(
    TRITONBACKEND_ModelInstance* instance, TRITONBACKEND_Request** requests,
    const uint32_t request_count)
{
  /* On an error, the core answers and releases the requests. */
  tb_instance_state* state = NULL;
  TB_RETURN_IF_ERROR(tb_instance_state_get(instance, &state));
  for (uint32_t r = 0; r < request_count; ++r) {
    INC(requests);
    TRITONBACKEND_Response* response = NULL;
    TRITONSERVER_Error* err = TRITONBACKEND_ResponseNew(&response, requests[r]);
    if (err == NULL) {
      TRITONSERVER_Error* ierr = infer_one(state, requests[r], response);
      if (ierr == NULL) {
        INC(ok);
      }
      TRITONSERVER_Error* serr =
          TRITONBACKEND_ResponseSend(response, TRITONSERVER_RESPONSE_COMPLETE_FINAL, ierr);
      TRITONSERVER_ErrorDelete(ierr);
      TRITONSERVER_ErrorDelete(serr);
    } else {
      TRITONSERVER_ErrorDelete(err);
    }
    TRITONSERVER_ErrorDelete(
        TRITONBACKEND_RequestRelease(requests[r], TRITONSERVER_REQUEST_RELEASE_ALL));
  }
  return NULL;
}
