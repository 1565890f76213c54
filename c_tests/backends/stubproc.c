/* Test backend 'stubproc': one child process per instance, like python_backend's stub.
 *
 * ModelInstanceInitialize forks a child that only sleeps and exits once its parent is
 * gone; the child never calls into the core. Its pid is written to
 * <model_dir>/<instance_name>.pid so tests can kill it. ModelInstanceReady reports the
 * instance not ready once the child has exited (waitpid WNOHANG), mirroring
 * python_backend >= 2.64. ModelInstanceFinalize SIGKILLs and reaps the child. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "backend_common.h"

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
  TRITONSERVER_Error* err = tb_write_pid_file(state, pid);
  if (err != NULL) {
    tb_kill_and_reap(pid);
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
    tb_kill_and_reap(pid);
  }
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceReady(TRITONBACKEND_ModelInstance* instance)
{
  return tb_stub_ready(instance);
}
