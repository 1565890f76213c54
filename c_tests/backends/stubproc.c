/* Test backend 'stubproc': one child process per instance, like python_backend's stub.
 *
 * ModelInstanceInitialize forks a child that only sleeps and exits once its parent is
 * gone; the child never calls into the core. Its pid is written to
 * <model_dir>/<instance_name>.pid so tests can kill it. ModelInstanceReady reports the
 * instance not ready once the child has exited (waitpid WNOHANG), mirroring
 * python_backend >= 2.64. ModelInstanceFinalize SIGKILLs and reaps the child. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend_common.h"

TRITONSERVER_Error*
tb_hook_backend_initialize(TRITONBACKEND_Backend* backend)
{
  (void)backend;
  return NULL;
}

TRITONSERVER_Error*
tb_hook_model_initialize(TRITONBACKEND_Model* model, tb_model_state* state)
{
  (void)model;
  (void)state;
  return NULL;
}

static void
child_main(pid_t parent)
{
  /* Only async-signal-safe calls here: the parent is multi-threaded. Detach from the
   * test's stdio so ctest does not wait on us. */
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (devnull > 2) {
      close(devnull);
    }
  }
  for (;;) {
    if (getppid() != parent) {
      _exit(0);
    }
    sleep(1);
  }
}

static TRITONSERVER_Error*
write_pid_file(const tb_instance_state* state, pid_t pid)
{
  char path[PATH_MAX], tmp[PATH_MAX + 8];
  snprintf(path, sizeof(path), "%s/%s.pid", state->model->repository, state->name);
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  FILE* f = fopen(tmp, "w");
  if (f == NULL) {
    return tb_error(
        TRITONSERVER_ERROR_INTERNAL, "cannot write %s: %s", tmp, strerror(errno));
  }
  fprintf(f, "%ld\n", (long)pid);
  if (fclose(f) != 0 || rename(tmp, path) != 0) {
    return tb_error(
        TRITONSERVER_ERROR_INTERNAL, "cannot write %s: %s", path, strerror(errno));
  }
  return NULL;
}

static void
kill_and_reap(pid_t pid)
{
  kill(pid, SIGKILL);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

TRITONSERVER_Error*
tb_hook_instance_initialize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  (void)instance;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "fork failed: %s", strerror(errno));
  }
  if (pid == 0) {
    child_main(parent);
  }
  TRITONSERVER_Error* err = write_pid_file(state, pid);
  if (err != NULL) {
    kill_and_reap(pid);
    return err;
  }
  __atomic_store_n(&state->child, pid, __ATOMIC_SEQ_CST);
  return NULL;
}

void
tb_hook_instance_finalize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  (void)instance;
  pid_t pid = __atomic_exchange_n(&state->child, 0, __ATOMIC_SEQ_CST);
  if (pid > 0) {
    kill_and_reap(pid);
  }
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceReady(TRITONBACKEND_ModelInstance* instance)
{
  tb_instance_state* state = NULL;
  TRITONSERVER_Error* err = tb_instance_state_get(instance, &state);
  if (err != NULL) {
    return err;
  }
  pid_t pid = __atomic_load_n(&state->child, __ATOMIC_SEQ_CST);
  bool alive = false;
  if (pid > 0) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == 0) {
      alive = true;
    } else if (r == pid) {
      /* Reaped: remember it is gone (-1) so later checks do not waitpid a reused pid. */
      __atomic_compare_exchange_n(
          &state->child, &pid, -1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
    /* r < 0: ECHILD (someone else reaped it) or another error: not healthy. */
  }
  if (alive) {
    return NULL;
  }
  char msg[320];
  snprintf(msg, sizeof(msg), "Stub process '%s' is not healthy.", state->name);
  return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INTERNAL, msg);
}
