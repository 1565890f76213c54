/* Test backend 'slowhook': a readiness hook that hangs, like a python backend whose stub
 * process stopped answering.
 *
 * TRITONBACKEND_ModelInstanceReady blocks while <model_dir>/BLOCK_READY exists (looking
 * every 5 ms, for at most 30 s), then answers ready; without the file it answers ready at
 * once. It counts, process-wide, what the driver checks (read through the exported
 * slowhook_counter(name), dlopen of the same library path):
 *   calls          hook calls
 *   blocked        calls that found BLOCK_READY and blocked
 *   returned       blocked calls that have returned
 *   in_flight      hook calls running now
 *   max_in_flight  the most hook calls ever running at once for one instance
 * Execute answers every request with an error (no inference here). */
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend_common.h"

static atomic_long g_calls, g_blocked, g_returned, g_in_flight, g_max_in_flight;

TB_EXPORT long slowhook_counter(const char* name);

TB_EXPORT long
slowhook_counter(const char* name)
{
  if (strcmp(name, "calls") == 0) {
    return atomic_load(&g_calls);
  }
  if (strcmp(name, "blocked") == 0) {
    return atomic_load(&g_blocked);
  }
  if (strcmp(name, "returned") == 0) {
    return atomic_load(&g_returned);
  }
  if (strcmp(name, "in_flight") == 0) {
    return atomic_load(&g_in_flight);
  }
  if (strcmp(name, "max_in_flight") == 0) {
    return atomic_load(&g_max_in_flight);
  }
  return -1;
}

TRITONSERVER_Error*
tb_hook_instance_initialize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  (void)instance;
  state->user = calloc(1, sizeof(atomic_long)); /* calls in flight for this instance */
  return state->user ? NULL : tb_error(TRITONSERVER_ERROR_INTERNAL, "out of memory");
}

void
tb_hook_instance_finalize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  (void)instance;
  free(state->user);
  state->user = NULL;
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceReady(TRITONBACKEND_ModelInstance* instance)
{
  tb_instance_state* state = NULL;
  TB_RETURN_IF_ERROR(tb_instance_state_get(instance, &state));
  atomic_long* mine = state->user;
  atomic_fetch_add(&g_calls, 1);
  atomic_fetch_add(&g_in_flight, 1);
  long now = atomic_fetch_add(mine, 1) + 1;
  long max = atomic_load(&g_max_in_flight);
  while (now > max && !atomic_compare_exchange_weak(&g_max_in_flight, &max, now)) {
  }
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/BLOCK_READY", state->model->repository);
  if (access(path, F_OK) == 0) {
    atomic_fetch_add(&g_blocked, 1);
    for (int i = 0; i < 6000 && access(path, F_OK) == 0; ++i) {
      tb_sleep_ms(5);
    }
    atomic_fetch_add(&g_returned, 1);
  }
  atomic_fetch_sub(mine, 1);
  atomic_fetch_sub(&g_in_flight, 1);
  return NULL;
}
