/* Helpers shared by the C tests (see common.h). */
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int tc_failures = 0;

void
tc_fail(const char* file, int line, const char* fmt, ...)
{
  tc_failures++;
  fprintf(stdout, "FAIL %s:%d: ", file, line);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
}

bool
tc_check(bool ok, const char* file, int line, const char* fmt, ...)
{
  if (ok) {
    return true;
  }
  tc_failures++;
  fprintf(stdout, "FAIL %s:%d: ", file, line);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
  return false;
}

void
tc_note(const char* fmt, ...)
{
  fputs("# ", stdout);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
}

bool
tc_check_ok(TRITONSERVER_Error* err, const char* expr, const char* file, int line)
{
  if (err == NULL) {
    return true;
  }
  tc_fail(
      file, line, "%s returned error %s: %s", expr, TRITONSERVER_ErrorCodeString(err),
      TRITONSERVER_ErrorMessage(err));
  TRITONSERVER_ErrorDelete(err);
  return false;
}

static const char*
code_name(TRITONSERVER_Error_Code code)
{
  switch (code) {
    case TRITONSERVER_ERROR_UNKNOWN:
      return "UNKNOWN";
    case TRITONSERVER_ERROR_INTERNAL:
      return "INTERNAL";
    case TRITONSERVER_ERROR_NOT_FOUND:
      return "NOT_FOUND";
    case TRITONSERVER_ERROR_INVALID_ARG:
      return "INVALID_ARG";
    case TRITONSERVER_ERROR_UNAVAILABLE:
      return "UNAVAILABLE";
    case TRITONSERVER_ERROR_UNSUPPORTED:
      return "UNSUPPORTED";
    case TRITONSERVER_ERROR_ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case TRITONSERVER_ERROR_CANCELLED:
      return "CANCELLED";
  }
  return "?";
}

bool
tc_expect_err(
    TRITONSERVER_Error* err, TRITONSERVER_Error_Code code, const char* expr,
    const char* file, int line)
{
  if (err == NULL) {
    tc_fail(file, line, "%s succeeded, expected error %s", expr, code_name(code));
    return false;
  }
  TRITONSERVER_Error_Code got = TRITONSERVER_ErrorCode(err);
  const char* msg = TRITONSERVER_ErrorMessage(err);
  bool ok = got == code && msg != NULL;
  if (!ok) {
    tc_fail(
        file, line, "%s returned %s (%s), expected %s", expr, code_name(got),
        msg ? msg : "(null message)", code_name(code));
  }
  TRITONSERVER_ErrorDelete(err);
  return ok;
}

void
tc_abort(void)
{
  fprintf(stdout, "ABORT after %d failure(s)\n", tc_failures);
  fflush(stdout);
  exit(1);
}

int
tc_finish(const char* test_name)
{
  if (tc_failures == 0) {
    fprintf(stdout, "PASS %s\n", test_name);
    return 0;
  }
  fprintf(stdout, "FAILED %s: %d failure(s)\n", test_name, tc_failures);
  return 1;
}

void
tc_sleep_ms(unsigned ms)
{
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static double now_s(void);

/* ---- forked children ---- */

static double fork_t0;

pid_t
tc_fork(unsigned alarm_s)
{
  fflush(NULL); /* or the child would write what is buffered again */
  fork_t0 = now_s();
  pid_t pid = fork();
  if (pid == 0) {
    tc_failures = 0;
    if (alarm_s > 0) {
      alarm(alarm_s);
    }
  }
  return pid;
}

void
tc_child_exit(void)
{
  fflush(stdout);
  fflush(stderr);
  _exit(tc_failures ? 1 : 0);
}

tc_outcome
tc_wait_forked(const char* name, pid_t pid, tc_forked* info)
{
  tc_forked f = {TC_FAILED, 0, -1, 0.0};
  if (pid < 0) {
    tc_fail(__FILE__, __LINE__, "%s: fork failed: %s", name, strerror(errno));
  } else {
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    f.seconds = now_s() - fork_t0;
    if (WIFSIGNALED(st)) {
      f.signal = WTERMSIG(st);
      f.outcome = f.signal == SIGALRM ? TC_HUNG : TC_CRASHED;
      tc_fail(__FILE__, __LINE__, "%s: %s: %s (signal %d) after %.1f s", name,
              f.outcome == TC_HUNG ? "hung (alarm)" : "crashed", strsignal(f.signal), f.signal,
              f.seconds);
    } else {
      f.exit_code = WEXITSTATUS(st);
      if (f.exit_code == 0) {
        f.outcome = TC_PASSED;
      } else {
        tc_fail(__FILE__, __LINE__, "%s: failed checks in the child (exit %d, see above)",
                name, f.exit_code);
      }
    }
  }
  if (info != NULL) {
    *info = f;
  }
  return f.outcome;
}

tc_outcome
tc_run_forked(const char* name, void (*fn)(void*), void* arg, unsigned alarm_s)
{
  pid_t pid = tc_fork(alarm_s);
  if (pid == 0) {
    fn(arg);
    tc_child_exit();
  }
  return tc_wait_forked(name, pid, NULL);
}

bool
tc_selected(const char* env, int n)
{
  const char* only = getenv(env);
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

/* ---- repositories ---- */

char*
tc_repo_new(void)
{
  const char* tmp = getenv("TMPDIR");
  if (tmp == NULL || tmp[0] == '\0') {
    tmp = "/tmp";
  }
  char* path = malloc(PATH_MAX);
  REQUIRE(path != NULL, "out of memory");
  snprintf(path, PATH_MAX, "%s/tc_repo_XXXXXX", tmp);
  REQUIRE(mkdtemp(path) != NULL, "mkdtemp(%s): %s", path, strerror(errno));
  return path;
}

static void
write_file(const char* path, const char* content)
{
  FILE* f = fopen(path, "w");
  REQUIRE(f != NULL, "fopen(%s): %s", path, strerror(errno));
  fputs(content, f);
  REQUIRE(fclose(f) == 0, "fclose(%s): %s", path, strerror(errno));
}

void
tc_repo_add_model(
    const char* repo, const char* name, const char* backend, int instance_count,
    const char* extra)
{
  char dir[PATH_MAX], path[PATH_MAX + 32], config[4096], group[128] = "";
  snprintf(dir, sizeof(dir), "%s/%s", repo, name);
  REQUIRE(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir(%s): %s", dir, strerror(errno));
  snprintf(path, sizeof(path), "%s/1", dir);
  REQUIRE(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir(%s): %s", path, strerror(errno));
  if (instance_count > 0) {
    snprintf(
        group, sizeof(group), "instance_group [ { count: %d kind: KIND_CPU } ]\n",
        instance_count);
  }
  snprintf(
      config, sizeof(config),
      "name: \"%s\"\n"
      "backend: \"%s\"\n"
      "max_batch_size: 0\n"
      "input [ { name: \"INPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
      "output [ { name: \"OUTPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
      "%s%s",
      name, backend, group, extra ? extra : "");
  snprintf(path, sizeof(path), "%s/config.pbtxt", dir);
  write_file(path, config);
}

static int
rm_entry(const char* path, const struct stat* sb, int type, struct FTW* ftw)
{
  (void)sb;
  (void)type;
  (void)ftw;
  return remove(path);
}

void
tc_repo_remove(char* repo)
{
  if (repo == NULL) {
    return;
  }
  if (getenv("TC_KEEP_REPO") == NULL) {
    nftw(repo, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  } else {
    tc_note("keeping repository %s", repo);
  }
  free(repo);
}

void
tc_touch(const char* repo, const char* model, const char* file)
{
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s/%s", repo, model, file);
  write_file(path, "");
  /* The core reuses a completed readiness answer for 1 ms (TRITONRS_ServerOptionsSetReadiness
   * Reuse): a check right after flipping a test backend's state could still see the old one. */
  tc_sleep_ms(2);
}

void
tc_unlink(const char* repo, const char* model, const char* file)
{
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s/%s", repo, model, file);
  REQUIRE(unlink(path) == 0, "unlink(%s): %s", path, strerror(errno));
  tc_sleep_ms(2); /* see tc_touch */
}

pid_t
tc_read_stub_pid(const char* repo, const char* model, int index)
{
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s/%s_0_%d.pid", repo, model, model, index);
  FILE* f = fopen(path, "r");
  if (f == NULL) {
    return -1;
  }
  long pid = -1;
  if (fscanf(f, "%ld", &pid) != 1) {
    pid = -1;
  }
  fclose(f);
  return (pid_t)pid;
}

bool
tc_process_gone(pid_t pid)
{
  return kill(pid, 0) == -1 && errno == ESRCH;
}

bool
tc_process_alive(pid_t pid)
{
  if (pid <= 0 || kill(pid, 0) != 0) {
    return false;
  }
  /* A zombie still answers kill(pid, 0): look at /proc/<pid>/stat. */
  char path[64], buf[512];
  snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
  FILE* f = fopen(path, "r");
  if (f == NULL) {
    return true;
  }
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char* close_paren = strrchr(buf, ')');
  return !(close_paren != NULL && close_paren[1] == ' ' && close_paren[2] == 'Z');
}

/* ---- server ---- */

TRITONSERVER_Server*
tc_server_start(const tc_server_config* config, TRITONSERVER_Error** err_out)
{
  TRITONSERVER_ServerOptions* options = NULL;
  REQUIRE_OK(TRITONSERVER_ServerOptionsNew(&options));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetModelRepositoryPath(options, config->repo));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetBackendDirectory(options, TC_BACKEND_DIR));
  REQUIRE_OK(
      TRITONSERVER_ServerOptionsSetModelControlMode(options, config->control_mode));
  REQUIRE_OK(
      TRITONSERVER_ServerOptionsSetStrictReadiness(options, config->strict_readiness));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetStrictModelConfig(options, true));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetExitOnError(options, config->exit_on_error));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetExitTimeout(
      options, config->exit_timeout_s ? config->exit_timeout_s : 5));
  if (config->startup_models != NULL) {
    for (const char* const* m = config->startup_models; *m != NULL; ++m) {
      REQUIRE_OK(TRITONSERVER_ServerOptionsSetStartupModel(options, *m));
    }
  }
  const char* verbose_env = getenv("TC_VERBOSE");
  int verbose = verbose_env ? atoi(verbose_env) : 0;
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetLogInfo(options, verbose > 0));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetLogWarn(options, true));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetLogError(options, true));
  REQUIRE_OK(TRITONSERVER_ServerOptionsSetLogVerbose(options, verbose));

  TRITONSERVER_Server* server = NULL;
  TRITONSERVER_Error* err = TRITONSERVER_ServerNew(&server, options);
  REQUIRE_OK(TRITONSERVER_ServerOptionsDelete(options));
  if (err != NULL) {
    if (err_out != NULL) {
      *err_out = err;
      return NULL;
    }
    REQUIRE_OK(err);
  }
  if (err_out != NULL) {
    *err_out = NULL;
  }
  REQUIRE(server != NULL, "ServerNew succeeded but returned NULL");
  return server;
}

void
tc_server_delete(TRITONSERVER_Server* server)
{
  if (server != NULL) {
    CHECK_OK(TRITONSERVER_ServerDelete(server));
  }
}

int
tc_server_ready(TRITONSERVER_Server* server)
{
  bool ready = false;
  if (!CHECK_OK(TRITONSERVER_ServerIsReady(server, &ready))) {
    return -1;
  }
  return ready ? 1 : 0;
}

int
tc_server_live(TRITONSERVER_Server* server)
{
  bool live = false;
  if (!CHECK_OK(TRITONSERVER_ServerIsLive(server, &live))) {
    return -1;
  }
  return live ? 1 : 0;
}

int
tc_model_ready(TRITONSERVER_Server* server, const char* model, int64_t version)
{
  bool ready = false;
  if (!CHECK_OK(TRITONSERVER_ServerModelIsReady(server, model, version, &ready))) {
    return -1;
  }
  return ready ? 1 : 0;
}

static double
now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
tc_wait_server_ready(TRITONSERVER_Server* server, int want, double timeout_s)
{
  double deadline = now_s() + timeout_s;
  int got;
  while ((got = tc_server_ready(server)) != want && got >= 0 && now_s() < deadline) {
    tc_sleep_ms(50);
  }
  return got;
}

int
tc_wait_model_ready(
    TRITONSERVER_Server* server, const char* model, int64_t version, int want,
    double timeout_s)
{
  double deadline = now_s() + timeout_s;
  int got;
  while ((got = tc_model_ready(server, model, version)) != want && got >= 0 &&
         now_s() < deadline) {
    tc_sleep_ms(50);
  }
  return got;
}

/* ---- JSON ---- */

void
tc_json_compact(char* json)
{
  char* out = json;
  bool in_string = false, escaped = false;
  for (char* p = json; *p != '\0'; ++p) {
    char c = *p;
    if (in_string) {
      *out++ = c;
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      *out++ = c;
    } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      *out++ = c;
    }
  }
  *out = '\0';
}

char*
tc_message_json(TRITONSERVER_Message* message)
{
  const char* base = NULL;
  size_t size = 0;
  if (!CHECK_OK(TRITONSERVER_MessageSerializeToJson(message, &base, &size))) {
    return NULL;
  }
  if (!CHECK(base != NULL, "MessageSerializeToJson returned a NULL base")) {
    return NULL;
  }
  char* copy = malloc(size + 1);
  REQUIRE(copy != NULL, "out of memory");
  memcpy(copy, base, size);
  copy[size] = '\0';
  tc_json_compact(copy);
  return copy;
}

char*
tc_json_object_with(const char* json, const char* needle)
{
  const char* hit = strstr(json, needle);
  if (hit == NULL) {
    return NULL;
  }
  int depth = 0;
  const char* start = NULL;
  for (const char* p = hit; p >= json; --p) {
    if (*p == '}') {
      depth++;
    } else if (*p == '{') {
      if (depth == 0) {
        start = p;
        break;
      }
      depth--;
    }
  }
  if (start == NULL) {
    return NULL;
  }
  bool in_string = false, escaped = false;
  depth = 0;
  for (const char* p = start; *p != '\0'; ++p) {
    char c = *p;
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      depth++;
    } else if (c == '}' && --depth == 0) {
      size_t len = (size_t)(p - start) + 1;
      char* out = malloc(len + 1);
      REQUIRE(out != NULL, "out of memory");
      memcpy(out, start, len);
      out[len] = '\0';
      return out;
    }
  }
  return NULL;
}
