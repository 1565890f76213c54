/* int_readiness: server / model readiness in strict mode, including runtime readiness
 * reported by backends through TRITONBACKEND_ModelInstanceReady.
 *
 * Models: healthy (ModelInstanceReady → ready), noready (no ModelInstanceReady),
 * flagfile (not ready while <model_dir>/NOT_READY exists), stubproc (a child process
 * per instance; not ready once it died), nobackend (backend library does not exist,
 * loaded explicitly). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

#define STUB_COUNT 2
static const char* const kServing[] = {"healthy", "noready", "flagfile", "stubproc", NULL};

static void
expect_model(TRITONSERVER_Server* s, const char* model, int want, const char* step)
{
  int v1 = tc_model_ready(s, model, 1);
  int vlatest = tc_model_ready(s, model, -1);
  CHECK(v1 == want, "[%s] ModelIsReady(%s, 1) = %d, expected %d", step, model, v1, want);
  CHECK(vlatest == want, "[%s] ModelIsReady(%s, -1) = %d, expected %d", step, model,
        vlatest, want);
}

static void
expect_others_ready(TRITONSERVER_Server* s, const char* except, const char* step)
{
  for (const char* const* m = kServing; *m != NULL; ++m) {
    if (except == NULL || strcmp(*m, except) != 0) {
      expect_model(s, *m, 1, step);
    }
  }
}

static void
read_stub_pids(const char* repo, pid_t pids[STUB_COUNT], const char* step)
{
  for (int i = 0; i < STUB_COUNT; ++i) {
    pids[i] = tc_read_stub_pid(repo, "stubproc", i);
    CHECK(pids[i] > 0, "[%s] no pid file for stubproc instance %d", step, i);
  }
}

int
main(void)
{
  char* repo = tc_repo_new();
  tc_repo_add_model(repo, "healthy", "healthy", 2, NULL);
  tc_repo_add_model(repo, "noready", "noready", 1, NULL);
  tc_repo_add_model(repo, "flagfile", "flagfile", 2, NULL);
  tc_repo_add_model(repo, "stubproc", "stubproc", STUB_COUNT, NULL);
  tc_repo_add_model(repo, "nobackend", "doesnotexist", 1, NULL);

  tc_server_config config = {
      .repo = repo,
      .control_mode = TRITONSERVER_MODEL_CONTROL_EXPLICIT,
      .strict_readiness = true,
      .startup_models = kServing,
      .exit_timeout_s = 5,
      .exit_on_error = false,
  };
  TRITONSERVER_Server* s = tc_server_start(&config, NULL);

  /* 1. Everything up. */
  const char* step = "startup";
  tc_note("%s", step);
  CHECK(tc_server_live(s) == 1, "[%s] server not live", step);
  CHECK(tc_server_ready(s) == 1, "[%s] server not ready", step);
  expect_others_ready(s, NULL, step);

  /* 2. Flag file → flagfile model and server not ready, others still ready. */
  step = "flag file present";
  tc_note("%s", step);
  tc_touch(repo, "flagfile", "NOT_READY");
  expect_model(s, "flagfile", 0, step);
  CHECK(tc_server_ready(s) == 0, "[%s] server ready, expected not ready", step);
  CHECK(tc_server_live(s) == 1, "[%s] server not live", step);
  expect_others_ready(s, "flagfile", step);

  /* 3. Flag removed → ready again. */
  step = "flag file removed";
  tc_note("%s", step);
  tc_unlink(repo, "flagfile", "NOT_READY");
  expect_model(s, "flagfile", 1, step);
  CHECK(tc_server_ready(s) == 1, "[%s] server not ready", step);

  /* 4. A stub dies → stubproc and server not ready, server still live. */
  step = "stub killed";
  tc_note("%s", step);
  pid_t first[STUB_COUNT];
  read_stub_pids(repo, first, step);
  for (int i = 0; i < STUB_COUNT; ++i) {
    CHECK(tc_process_alive(first[i]), "[%s] stub %d (pid %ld) not alive before kill",
          step, i, (long)first[i]);
  }
  if (first[0] > 0) {
    CHECK(kill(first[0], SIGKILL) == 0, "[%s] kill(%ld): %s", step, (long)first[0],
          strerror(errno));
  }
  int got = tc_wait_model_ready(s, "stubproc", 1, 0, 5.0);
  CHECK(got == 0, "[%s] ModelIsReady(stubproc, 1) = %d after 5 s, expected 0", step, got);
  expect_model(s, "stubproc", 0, step);
  CHECK(tc_server_ready(s) == 0, "[%s] server ready, expected not ready", step);
  CHECK(tc_server_live(s) == 1, "[%s] server not live", step);
  expect_others_ready(s, "stubproc", step);

  /* 5. Unload the broken model → server ready again; its remaining stub is reaped. */
  step = "stubproc unloaded";
  tc_note("%s", step);
  CHECK_OK(TRITONSERVER_ServerUnloadModel(s, "stubproc"));
  got = tc_wait_server_ready(s, 1, 5.0);
  CHECK(got == 1, "[%s] server ready = %d after 5 s, expected 1", step, got);
  got = tc_wait_model_ready(s, "stubproc", 1, 0, 5.0);
  CHECK(got == 0, "[%s] ModelIsReady(stubproc, 1) = %d, expected 0", step, got);
  for (int i = 0; i < STUB_COUNT; ++i) {
    int waited = 0;
    while (first[i] > 0 && !tc_process_gone(first[i]) && waited < 5000) {
      tc_sleep_ms(50);
      waited += 50;
    }
    CHECK(first[i] <= 0 || tc_process_gone(first[i]),
          "[%s] stub %d (pid %ld) still exists 5 s after unload", step, i,
          (long)first[i]);
  }

  /* 6. Load it again → ready, with fresh stubs. */
  step = "stubproc reloaded";
  tc_note("%s", step);
  CHECK_OK(TRITONSERVER_ServerLoadModel(s, "stubproc"));
  expect_model(s, "stubproc", 1, step);
  CHECK(tc_server_ready(s) == 1, "[%s] server not ready", step);
  pid_t second[STUB_COUNT];
  read_stub_pids(repo, second, step);
  for (int i = 0; i < STUB_COUNT; ++i) {
    CHECK(second[i] != first[i], "[%s] stub %d pid unchanged (%ld)", step, i,
          (long)second[i]);
    CHECK(tc_process_alive(second[i]), "[%s] new stub %d (pid %ld) not alive", step, i,
          (long)second[i]);
  }

  /* 7. A model whose backend does not exist → load error, server not ready. */
  step = "missing backend loaded";
  tc_note("%s", step);
  TRITONSERVER_Error* err = TRITONSERVER_ServerLoadModel(s, "nobackend");
  if (CHECK(err != NULL, "[%s] LoadModel(nobackend) succeeded", step)) {
    const char* msg = TRITONSERVER_ErrorMessage(err);
    tc_note("LoadModel(nobackend): %s: %s", TRITONSERVER_ErrorCodeString(err), msg);
    CHECK(TRITONSERVER_ErrorCode(err) == TRITONSERVER_ERROR_INVALID_ARG,
          "[%s] LoadModel(nobackend) code %s, expected Invalid argument", step,
          TRITONSERVER_ErrorCodeString(err));
    CHECK(strstr(msg, "load failed for model 'nobackend'") != NULL,
          "[%s] unexpected LoadModel message: %s", step, msg);
    CHECK(strstr(msg, "version 1 is at UNAVAILABLE state") != NULL,
          "[%s] unexpected LoadModel message: %s", step, msg);
    TRITONSERVER_ErrorDelete(err);
  }
  expect_model(s, "nobackend", 0, step);
  CHECK(tc_server_ready(s) == 0, "[%s] server ready, expected not ready (strict)", step);
  CHECK(tc_server_live(s) == 1, "[%s] server not live", step);
  expect_others_ready(s, NULL, step);

  /* 8. Unloading the failed model makes the server ready again (our behaviour; real 2.51
   * keeps the failed version's UNAVAILABLE entry and stays not ready). */
  step = "missing backend unloaded";
  tc_note("%s", step);
  CHECK_OK(TRITONSERVER_ServerUnloadModel(s, "nobackend"));
  got = tc_wait_server_ready(s, 1, 5.0);
  CHECK(got == 1, "[%s] server ready = %d after 5 s, expected 1", step, got);

  /* 9. Unknown model / version → success with ready=false. */
  step = "unknown model";
  tc_note("%s", step);
  CHECK(tc_model_ready(s, "no_such_model", -1) == 0,
        "[%s] ModelIsReady(no_such_model, -1) not (success, false)", step);
  CHECK(tc_model_ready(s, "no_such_model", 1) == 0,
        "[%s] ModelIsReady(no_such_model, 1) not (success, false)", step);
  CHECK(tc_model_ready(s, "healthy", 7) == 0,
        "[%s] ModelIsReady(healthy, 7) not (success, false)", step);

  /* 10. ServerDelete → no stub left. */
  step = "server deleted";
  tc_note("%s", step);
  read_stub_pids(repo, second, step);
  tc_server_delete(s);
  for (int i = 0; i < STUB_COUNT; ++i) {
    if (second[i] <= 0) {
      continue;
    }
    if (!tc_process_gone(second[i])) {
      int waited = 0;
      while (!tc_process_gone(second[i]) && waited < 3000) {
        tc_sleep_ms(50);
        waited += 50;
      }
      tc_fail(__FILE__, __LINE__,
              "[%s] stub %d (pid %ld) still exists right after ServerDelete (%s)", step,
              i, (long)second[i],
              tc_process_gone(second[i]) ? "gone a little later"
                                         : "still there after 3 s");
    }
  }

  tc_repo_remove(repo);
  return tc_finish("int_readiness");
}
