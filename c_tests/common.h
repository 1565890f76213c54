/* Helpers shared by the C tests: result checks, temporary model repositories, server
 * start-up, readiness polling and minimal JSON inspection. */
#ifndef TRITON_CTESTS_COMMON_H
#define TRITON_CTESTS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "triton/core/tritonserver.h"

#ifndef TC_BACKEND_DIR
#error "TC_BACKEND_DIR must be defined (compile definition)"
#endif

/* Number of failed checks so far. */
extern int tc_failures;

void tc_fail(const char* file, int line, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Report a failure unless `ok`; returns `ok`. */
bool tc_check(bool ok, const char* file, int line, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Consume `err`; true if it was NULL (success), else report the failure. */
bool tc_check_ok(TRITONSERVER_Error* err, const char* expr, const char* file, int line);
/* Consume `err`; true if it is an error with `code`, else report the failure. */
bool tc_expect_err(
    TRITONSERVER_Error* err, TRITONSERVER_Error_Code code, const char* expr,
    const char* file, int line);

/* CHECK_OK / EXPECT_ERR / CHECK record a failure and continue; they evaluate to a bool
 * telling whether the check passed. REQUIRE_* abort the test (exit 1) on failure. */
#define CHECK_OK(expr) tc_check_ok((expr), #expr, __FILE__, __LINE__)
#define EXPECT_ERR(expr, code) tc_expect_err((expr), (code), #expr, __FILE__, __LINE__)
#define CHECK(cond, ...) tc_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define REQUIRE_OK(expr)      \
  do {                        \
    if (!CHECK_OK(expr)) {    \
      tc_abort();             \
    }                         \
  } while (0)
#define REQUIRE(cond, ...)                       \
  do {                                           \
    if (!(cond)) {                               \
      tc_fail(__FILE__, __LINE__, __VA_ARGS__);  \
      tc_abort();                                \
    }                                            \
  } while (0)

/* Print the summary and exit(1). */
void tc_abort(void) __attribute__((noreturn));
/* Print the summary; returns the process exit code (0 iff no failure). */
int tc_finish(const char* test_name);
/* Informational line on stdout, prefixed with "# ". */
void tc_note(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- forked children (one per scenario or case) ---- */

/* How a forked child ended. */
typedef enum tc_outcome {
  TC_PASSED = 0, /* exit status 0 */
  TC_FAILED,     /* another exit status (checks failed in the child), or fork failed */
  TC_CRASHED,    /* killed by a signal other than SIGALRM */
  TC_HUNG,       /* killed by SIGALRM: the alarm() of tc_fork went off */
} tc_outcome;

typedef struct tc_forked {
  tc_outcome outcome;
  int signal;     /* TC_CRASHED / TC_HUNG: the signal */
  int exit_code;  /* TC_FAILED: the exit status (-1 if fork failed) */
  double seconds; /* from tc_fork to the end of the wait */
} tc_forked;

/* Fork after flushing every output stream. In the child (0 returned): tc_failures = 0 (the child counts
 * its own failures) and alarm(alarm_s) unless alarm_s is 0. In the parent: the child's pid,
 * or -1 if fork failed. End the child with tc_child_exit. */
pid_t tc_fork(unsigned alarm_s);
/* Flush stdio and _exit: 0 if no check failed in this child, else 1. */
void tc_child_exit(void) __attribute__((noreturn));
/* Wait for the child `pid` of the last tc_fork (-1: fork failed) and classify how it ended.
 * Anything but TC_PASSED is reported as a failure naming `name` ("<name>: crashed: ...",
 * "<name>: hung (alarm): ...", "<name>: failed checks in the child ..."). `info` (may be
 * NULL) receives the details. */
tc_outcome tc_wait_forked(const char* name, pid_t pid, tc_forked* info);
/* The three at once: fn(arg) in a forked child, alarm(alarm_s) (0: none) as hang guard. */
tc_outcome tc_run_forked(const char* name, void (*fn)(void*), void* arg, unsigned alarm_s);
/* The same for statements instead of a function: `outcome` (an lvalue) gets the result. */
#define TC_FORKED(outcome, name, alarm_s, ...)          \
  do {                                                  \
    pid_t tc_pid__ = tc_fork(alarm_s);                  \
    if (tc_pid__ == 0) {                                \
      __VA_ARGS__;                                      \
      tc_child_exit();                                  \
    }                                                   \
    (outcome) = tc_wait_forked((name), tc_pid__, NULL); \
  } while (0)
/* True if `n` is listed in environment variable `env` ("1,4": scenarios 1 and 4), or if
 * `env` is unset or empty (everything runs). */
bool tc_selected(const char* env, int n);

/* ---- temporary model repositories ---- */

/* Create an empty repository directory (mkdtemp under $TMPDIR or /tmp). The returned
 * string is owned by the helpers; remove it with tc_repo_remove. */
char* tc_repo_new(void);
/* Add <repo>/<name>/config.pbtxt and <repo>/<name>/1/. `extra` (may be NULL) is appended
 * verbatim to the config. instance_count > 0 adds instance_group [{count, KIND_CPU}]. */
void tc_repo_add_model(
    const char* repo, const char* name, const char* backend, int instance_count,
    const char* extra);
/* rm -rf the repository and free the string. */
void tc_repo_remove(char* repo);
/* Create / remove <repo>/<model>/<file>. */
void tc_touch(const char* repo, const char* model, const char* file);
void tc_unlink(const char* repo, const char* model, const char* file);
/* Read <repo>/<model>/<model>_0_<index>.pid written by the stubproc backend (-1 if
 * absent or unreadable). */
pid_t tc_read_stub_pid(const char* repo, const char* model, int index);
/* True if a process with this pid exists and is not a zombie. */
bool tc_process_alive(pid_t pid);
/* True if kill(pid, 0) fails with ESRCH (no such process, zombies included). */
bool tc_process_gone(pid_t pid);

/* ---- server ---- */

typedef struct tc_server_config {
  const char* repo;
  TRITONSERVER_ModelControlMode control_mode;
  bool strict_readiness;
  /* NULL-terminated list for TRITONSERVER_ServerOptionsSetStartupModel (EXPLICIT). */
  const char* const* startup_models;
  unsigned int exit_timeout_s; /* 0 → 5 */
  bool exit_on_error;
} tc_server_config;

/* Start a server. On ServerNew failure, *err (if non-NULL) receives the error and NULL is
 * returned; with err == NULL the failure is fatal. */
TRITONSERVER_Server* tc_server_start(
    const tc_server_config* config, TRITONSERVER_Error** err);
/* ServerDelete, reporting any error. */
void tc_server_delete(TRITONSERVER_Server* server);

/* 1 ready / 0 not ready / -1 the call returned an error (reported unless quiet). */
int tc_server_ready(TRITONSERVER_Server* server);
int tc_server_live(TRITONSERVER_Server* server);
int tc_model_ready(TRITONSERVER_Server* server, const char* model, int64_t version);

/* Poll (every 50 ms) until the predicate returns `want` or `timeout_s` elapses.
 * Returns the last observed value. */
int tc_wait_server_ready(TRITONSERVER_Server* server, int want, double timeout_s);
int tc_wait_model_ready(
    TRITONSERVER_Server* server, const char* model, int64_t version, int want,
    double timeout_s);

/* ---- messages and JSON ---- */

/* NUL-terminated, whitespace-outside-strings-removed copy of a message's JSON (malloc'd);
 * NULL on error (reported). Does not delete the message. */
char* tc_message_json(TRITONSERVER_Message* message);
/* Remove whitespace outside JSON strings, in place. */
void tc_json_compact(char* json);
/* Find the innermost-enclosing {...} object of `json` containing `needle`; returns a
 * malloc'd copy or NULL. */
char* tc_json_object_with(const char* json, const char* needle);

void tc_sleep_ms(unsigned ms);

#endif
