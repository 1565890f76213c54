/* Runner of the NULL-argument cases: each case in a forked child, so that a crash or a hang
 * fails that case only. Also the weak stand-ins for the getters of other contexts. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nc.h"

static nc_result* g_current;
static int g_pipe = -1;

const char*
nc_context_name(nc_context c)
{
  switch (c) {
    case NC_CTX_FRONTEND: return "frontend";
    case NC_CTX_BACKEND: return "backend";
    case NC_CTX_BACKEND_ATTR: return "backend_attr";
    case NC_CTX_REPOAGENT: return "repoagent";
    case NC_CTX_CACHE: return "cache";
    case NC_CTX_COUNT: break;
  }
  return "?";
}

void
nc_fail(nc_result* r, const char* fmt, ...)
{
  size_t len = strlen(r->detail);
  if (len > 0 && len + 2 < sizeof(r->detail)) {
    strcpy(r->detail + len, "; ");
    len += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->detail + len, sizeof(r->detail) - len, fmt, ap);
  va_end(ap);
  r->failed = true;
}

static bool
names(const char* msg, const char* function, const char* param)
{
  char quoted[160];
  snprintf(quoted, sizeof(quoted), "'%s'", param);
  return strstr(msg, function) != NULL && strstr(msg, quoted) != NULL;
}

void
nc_check_error(nc_result* r, TRITONSERVER_Error* err)
{
  const nc_case* c = r->c;
  if (c->expect == NC_EXPECT_SUCCESS) {
    if (err != NULL) {
      nc_fail(
          r, "returned %s \"%s\"; expected success (NULL allowed: %s)",
          TRITONSERVER_ErrorCodeString(err), TRITONSERVER_ErrorMessage(err),
          c->allowed_because);
      TRITONSERVER_ErrorDelete(err);
    }
    return;
  }
  if (err == NULL) {
    nc_fail(r, "succeeded; expected INVALID_ARG");
    return;
  }
  const char* msg = TRITONSERVER_ErrorMessage(err);
  if (TRITONSERVER_ErrorCode(err) != TRITONSERVER_ERROR_INVALID_ARG) {
    nc_fail(
        r, "returned %s \"%s\"; expected INVALID_ARG", TRITONSERVER_ErrorCodeString(err),
        msg);
  } else if (!names(msg, c->function, c->param)) {
    nc_fail(r, "message \"%s\" does not name the function and '%s'", msg, c->param);
  }
  TRITONSERVER_ErrorDelete(err);
}

static void
child_finish(void)
{
  const nc_result* r = g_current;
  if (g_pipe >= 0 && r != NULL) {
    size_t len = strlen(r->detail);
    const char* p = r->detail;
    while (len > 0) {
      ssize_t n = write(g_pipe, p, len);
      if (n <= 0) break;
      p += n;
      len -= (size_t)n;
    }
  }
  _exit(r != NULL && r->failed ? 1 : 0);
}

void
nc_fixture_failed(const char* what, TRITONSERVER_Error* err)
{
  if (g_current == NULL) {
    fprintf(stderr, "nc: fixture %s failed outside a case\n", what);
    abort();
  }
  if (err != NULL) {
    nc_fail(
        g_current, "fixture %s failed: %s \"%s\"", what, TRITONSERVER_ErrorCodeString(err),
        TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
  } else {
    nc_fail(g_current, "fixture %s failed", what);
  }
  child_finish();
  _exit(1); /* not reached */
}

bool
nc_run_case(const nc_case* c, FILE* out, unsigned timeout_s)
{
  int fds[2];
  char detail[1024] = "";
  bool passed = false;
  if (pipe(fds) != 0) {
    snprintf(detail, sizeof(detail), "pipe: %s", strerror(errno));
    goto report;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(detail, sizeof(detail), "fork: %s", strerror(errno));
    close(fds[0]);
    close(fds[1]);
    goto report;
  }
  if (pid == 0) {
    close(fds[0]);
    g_pipe = fds[1];
    alarm(timeout_s);
    static nc_result r;
    memset(&r, 0, sizeof(r));
    r.c = c;
    g_current = &r;
    c->run(&r);
    child_finish();
  }
  close(fds[1]);
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fds[0], detail + len, sizeof(detail) - 1 - len);
    if (n > 0) {
      len += (size_t)n;
      if (len == sizeof(detail) - 1) break;
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  detail[len] = '\0';
  close(fds[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    size_t l = strlen(detail);
    snprintf(
        detail + l, sizeof(detail) - l, "%s%s (signal %d: %s)", l ? "; " : "",
        sig == SIGALRM ? "timed out" : "crashed", sig, strsignal(sig));
  } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
    passed = true;
  } else if (detail[0] == '\0') {
    snprintf(detail, sizeof(detail), "child exited with status %d", WEXITSTATUS(st));
  }
report:
  for (char* p = detail; *p; ++p) {
    if (*p == '\n') *p = ' ';
  }
  if (passed && c->expect == NC_EXPECT_SUCCESS) {
    snprintf(detail, sizeof(detail), "succeeded (NULL allowed: %s)", c->allowed_because);
  } else if (passed) {
    snprintf(detail, sizeof(detail), "ok");
  }
  fprintf(
      out, "%s %s %s [%s]: %s\n", passed ? "PASS" : "FAIL", c->function, c->param,
      nc_context_name(c->context), detail);
  fflush(out);
  return passed;
}

void
nc_run_context(nc_context ctx)
{
  const char* path = getenv("NC_REPORT");
  FILE* out = path != NULL ? fopen(path, "a") : NULL;
  if (out == NULL) out = stdout;
  fprintf(out, "BEGIN %s\n", nc_context_name(ctx));
  for (size_t i = 0; i < nc_case_count; ++i) {
    if (nc_cases[i].context == ctx) nc_run_case(&nc_cases[i], out, 30);
  }
  fprintf(out, "END %s\n", nc_context_name(ctx));
  if (out != stdout) fclose(out);
}

/* ---- getters of other contexts ---- */
#define NC_WEAK(type, name)                                  \
  __attribute__((weak)) type name(void)                      \
  {                                                          \
    nc_fixture_failed(#name " (not in this context)", NULL); \
  }

NC_WEAK(TRITONSERVER_Server*, nc_server)
NC_WEAK(TRITONSERVER_InferenceRequest*, nc_request)
NC_WEAK(TRITONSERVER_InferenceResponse*, nc_response)
NC_WEAK(TRITONSERVER_Metrics*, nc_metrics)
NC_WEAK(TRITONBACKEND_Backend*, nc_backend)
NC_WEAK(TRITONBACKEND_Model*, nc_model)
NC_WEAK(TRITONBACKEND_ModelInstance*, nc_instance)
NC_WEAK(TRITONBACKEND_Request*, nc_brequest)
NC_WEAK(TRITONBACKEND_Response*, nc_bresponse)
NC_WEAK(TRITONBACKEND_Response*, nc_bresponse_with_output)
NC_WEAK(TRITONBACKEND_ResponseFactory*, nc_factory)
NC_WEAK(TRITONBACKEND_Input*, nc_input)
NC_WEAK(TRITONBACKEND_Output*, nc_output)
NC_WEAK(TRITONBACKEND_State*, nc_state)
NC_WEAK(TRITONBACKEND_MemoryManager*, nc_memory_manager)
NC_WEAK(void*, nc_mm_buffer)
NC_WEAK(TRITONBACKEND_ModelInstanceResponseStatistics*, nc_response_statistics)
NC_WEAK(TRITONBACKEND_BackendAttribute*, nc_backend_attribute)
NC_WEAK(TRITONREPOAGENT_Agent*, nc_agent)
NC_WEAK(TRITONREPOAGENT_AgentModel*, nc_agent_model)
NC_WEAK(const char*, nc_acquired_location)
NC_WEAK(const char*, nc_agent_location)
NC_WEAK(TRITONCACHE_Allocator*, nc_cache_allocator)
NC_WEAK(TRITONCACHE_CacheEntry*, nc_insert_entry)
