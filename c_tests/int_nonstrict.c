/* int_nonstrict: with strict readiness off the server is ready whatever the models'
 * state; the models themselves still report their own readiness. */
#include <stdio.h>
#include <string.h>

#include "common.h"

int
main(void)
{
  char* repo = tc_repo_new();
  tc_repo_add_model(repo, "healthy", "healthy", 1, NULL);
  tc_repo_add_model(repo, "flagfile", "flagfile", 2, NULL);
  tc_repo_add_model(repo, "nobackend", "doesnotexist", 1, NULL);
  tc_touch(repo, "flagfile", "NOT_READY");

  static const char* const startup[] = {"healthy", "flagfile", NULL};
  tc_server_config config = {
      .repo = repo,
      .control_mode = TRITONSERVER_MODEL_CONTROL_EXPLICIT,
      .strict_readiness = false,
      .startup_models = startup,
      .exit_timeout_s = 5,
  };
  TRITONSERVER_Server* s = tc_server_start(&config, NULL);

  CHECK(tc_server_live(s) == 1, "server not live");
  CHECK(tc_server_ready(s) == 1, "server not ready with a not-ready model (non-strict)");
  CHECK(tc_model_ready(s, "flagfile", 1) == 0, "flagfile ready despite NOT_READY flag");
  CHECK(tc_model_ready(s, "flagfile", -1) == 0,
        "flagfile (version -1) ready despite NOT_READY flag");
  CHECK(tc_model_ready(s, "healthy", 1) == 1, "healthy not ready");

  /* A failed load does not affect server readiness in non-strict mode either. */
  TRITONSERVER_Error* err = TRITONSERVER_ServerLoadModel(s, "nobackend");
  CHECK(err != NULL, "LoadModel(nobackend) succeeded");
  TRITONSERVER_ErrorDelete(err);
  CHECK(tc_server_ready(s) == 1, "server not ready after a failed load (non-strict)");
  CHECK(tc_model_ready(s, "nobackend", 1) == 0, "nobackend ready");

  tc_unlink(repo, "flagfile", "NOT_READY");
  CHECK(tc_model_ready(s, "flagfile", 1) == 1, "flagfile not ready after flag removal");
  CHECK(tc_server_ready(s) == 1, "server not ready");

  tc_server_delete(s);
  tc_repo_remove(repo);
  return tc_finish("int_nonstrict");
}
