/* int_lifecycle: a model whose TRITONBACKEND_ModelInitialize fails; model index and
 * server metadata JSON; exit_on_error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static char*
model_index(TRITONSERVER_Server* s, uint32_t flags)
{
  TRITONSERVER_Message* msg = NULL;
  if (!CHECK_OK(TRITONSERVER_ServerModelIndex(s, flags, &msg))) {
    return NULL;
  }
  char* json = tc_message_json(msg);
  CHECK_OK(TRITONSERVER_MessageDelete(msg));
  return json;
}

static void
check_index(TRITONSERVER_Server* s)
{
  char* json = model_index(s, 0);
  if (json == NULL) {
    return;
  }
  tc_note("model index: %s", json);
  CHECK(json[0] == '[', "model index is not a JSON array: %s", json);

  char* entry = tc_json_object_with(json, "\"name\":\"failinit\"");
  if (CHECK(entry != NULL, "failinit not in model index")) {
    CHECK(strstr(entry, "\"state\":\"UNAVAILABLE\"") != NULL,
          "failinit entry not UNAVAILABLE: %s", entry);
    CHECK(strstr(entry, "\"version\":\"1\"") != NULL,
          "failinit entry has no version \"1\": %s", entry);
    const char* reason = strstr(entry, "\"reason\":\"");
    if (CHECK(reason != NULL, "failinit entry has no reason: %s", entry)) {
      CHECK(reason[10] != '"', "failinit reason is empty: %s", entry);
      CHECK(strstr(reason, "fails on purpose") != NULL,
            "failinit reason does not carry the backend's error: %s", entry);
    }
    free(entry);
  }
  entry = tc_json_object_with(json, "\"name\":\"healthy\"");
  if (CHECK(entry != NULL, "healthy not in model index")) {
    CHECK(strstr(entry, "\"state\":\"READY\"") != NULL, "healthy entry not READY: %s",
          entry);
    free(entry);
  }
  free(json);

  json = model_index(s, TRITONSERVER_INDEX_FLAG_READY);
  if (json != NULL) {
    tc_note("ready model index: %s", json);
    CHECK(strstr(json, "\"name\":\"healthy\"") != NULL,
          "healthy missing from the READY index: %s", json);
    CHECK(strstr(json, "\"name\":\"failinit\"") == NULL,
          "failinit listed in the READY index: %s", json);
    free(json);
  }
}

static void
check_metadata(TRITONSERVER_Server* s)
{
  TRITONSERVER_Message* msg = NULL;
  if (!CHECK_OK(TRITONSERVER_ServerMetadata(s, &msg))) {
    return;
  }
  char* json = tc_message_json(msg);
  CHECK_OK(TRITONSERVER_MessageDelete(msg));
  if (json == NULL) {
    return;
  }
  tc_note("server metadata: %s", json);
  CHECK(json[0] == '{', "metadata is not a JSON object: %s", json);
  CHECK(strstr(json, "\"name\":\"triton\"") != NULL, "metadata name is not triton: %s",
        json);
  const char* version = strstr(json, "\"version\":\"");
  CHECK(version != NULL && version[11] != '"', "metadata has no version: %s", json);
  CHECK(strstr(json, "\"extensions\":[") != NULL, "metadata has no extensions array: %s",
        json);
  free(json);
}

/* ServerNew with exit_on_error=true and a failing model returns an error and no server.
 * The error is what real 2.51 returns:
 *   EXPLICIT (startup models): the load error itself, INVALID_ARG
 *     "load failed for model 'failinit': version 1 is at UNAVAILABLE state: ...";
 *   NONE (whole repository): INTERNAL "failed to load all models". */
static void
check_exit_on_error_failure(
    TRITONSERVER_Error* err, TRITONSERVER_Server* s, bool explicit_mode)
{
  const char* mode = explicit_mode ? "EXPLICIT" : "NONE";
  if (!CHECK(err != NULL && s == NULL,
             "[%s] ServerNew with exit_on_error and a failing model did not fail", mode)) {
    TRITONSERVER_ErrorDelete(err);
    return;
  }
  const char* msg = TRITONSERVER_ErrorMessage(err);
  tc_note("[%s] ServerNew: %s: %s", mode, TRITONSERVER_ErrorCodeString(err), msg);
  if (explicit_mode) {
    CHECK(TRITONSERVER_ErrorCode(err) == TRITONSERVER_ERROR_INVALID_ARG,
          "[%s] ServerNew error code %s, expected Invalid argument", mode,
          TRITONSERVER_ErrorCodeString(err));
    CHECK(strstr(msg, "load failed for model 'failinit'") != NULL &&
              strstr(msg, "version 1 is at UNAVAILABLE state") != NULL &&
              strstr(msg, "fails on purpose") != NULL,
          "[%s] ServerNew error does not carry the load failure: %s", mode, msg);
  } else {
    CHECK(TRITONSERVER_ErrorCode(err) == TRITONSERVER_ERROR_INTERNAL,
          "[%s] ServerNew error code %s, expected Internal", mode,
          TRITONSERVER_ErrorCodeString(err));
    CHECK(strcmp(msg, "failed to load all models") == 0,
          "[%s] ServerNew error message '%s', expected 'failed to load all models'", mode,
          msg);
  }
  TRITONSERVER_ErrorDelete(err);
}

int
main(void)
{
  char* repo = tc_repo_new();
  tc_repo_add_model(repo, "healthy", "healthy", 1, NULL);
  tc_repo_add_model(repo, "noready", "noready", 1, NULL);
  tc_repo_add_model(repo, "failinit", "failinit", 1, NULL);

  /* exit_on_error = true: a failing startup model makes ServerNew fail. */
  static const char* const startup[] = {"healthy", "failinit", NULL};
  tc_server_config config = {
      .repo = repo,
      .control_mode = TRITONSERVER_MODEL_CONTROL_EXPLICIT,
      .strict_readiness = true,
      .startup_models = startup,
      .exit_timeout_s = 5,
      .exit_on_error = true,
  };
  tc_note("exit_on_error = true");
  TRITONSERVER_Error* err = NULL;
  TRITONSERVER_Server* s = tc_server_start(&config, &err);
  check_exit_on_error_failure(err, s, true);
  tc_server_delete(s);

  /* Same in NONE mode (every model in the repository is loaded at start-up). */
  tc_note("exit_on_error = true, model control NONE");
  config.control_mode = TRITONSERVER_MODEL_CONTROL_NONE;
  config.startup_models = NULL;
  s = tc_server_start(&config, &err);
  check_exit_on_error_failure(err, s, false);
  tc_server_delete(s);
  config.control_mode = TRITONSERVER_MODEL_CONTROL_EXPLICIT;
  config.startup_models = startup;

  /* exit_on_error = false: the server comes up without the failed model. */
  tc_note("exit_on_error = false");
  config.exit_on_error = false;
  s = tc_server_start(&config, &err);
  if (!CHECK(err == NULL && s != NULL,
             "ServerNew with exit_on_error=false failed: %s",
             err ? TRITONSERVER_ErrorMessage(err) : "(no error, NULL server)")) {
    TRITONSERVER_ErrorDelete(err);
    tc_repo_remove(repo);
    return tc_finish("int_lifecycle");
  }

  CHECK(tc_server_live(s) == 1, "server not live");
  CHECK(tc_model_ready(s, "failinit", 1) == 0, "failinit version 1 ready");
  CHECK(tc_model_ready(s, "failinit", -1) == 0, "failinit version -1 ready");
  CHECK(tc_model_ready(s, "healthy", 1) == 1, "healthy not ready");
  CHECK(tc_server_ready(s) == 0, "strict server ready despite a failed model");

  check_index(s);
  check_metadata(s);

  /* Loading it again fails the same way, with upstream's message shape. */
  err = TRITONSERVER_ServerLoadModel(s, "failinit");
  if (CHECK(err != NULL, "LoadModel(failinit) succeeded")) {
    const char* msg = TRITONSERVER_ErrorMessage(err);
    tc_note("LoadModel(failinit): %s: %s", TRITONSERVER_ErrorCodeString(err), msg);
    CHECK(TRITONSERVER_ErrorCode(err) == TRITONSERVER_ERROR_INVALID_ARG,
          "LoadModel(failinit) code %s, expected Invalid argument",
          TRITONSERVER_ErrorCodeString(err));
    CHECK(strstr(msg, "load failed for model 'failinit'") != NULL &&
              strstr(msg, "version 1 is at UNAVAILABLE state") != NULL &&
              strstr(msg, "fails on purpose") != NULL,
          "unexpected LoadModel(failinit) message: %s", msg);
    TRITONSERVER_ErrorDelete(err);
  }

  /* Other models keep serving and can still be loaded. */
  CHECK(tc_model_ready(s, "healthy", 1) == 1, "healthy not ready after failed reload");
  CHECK_OK(TRITONSERVER_ServerLoadModel(s, "noready"));
  CHECK(tc_model_ready(s, "noready", 1) == 1, "noready not ready after load");

  tc_server_delete(s);
  tc_repo_remove(repo);
  return tc_finish("int_lifecycle");
}
