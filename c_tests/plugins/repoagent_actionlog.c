/* Test repository agent 'actionlog': appends one line per call to the file named by the
 * model's agent parameter "log": MODEL_INIT, each action (LOAD, LOAD_COMPLETE, LOAD_FAIL,
 * UNLOAD, UNLOAD_COMPLETE), MODEL_FINI. On LOAD it also checks what the core reports (the
 * location is a directory holding config.pbtxt, the configuration names the model) and
 * writes "LOCATION_OK" / "CONFIG_OK". Parameter "fail" = "LOAD" makes LOAD fail.
 * TRITONREPOAGENT_Initialize / Finalize count into the agent state (a heap int). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "triton/core/tritonrepoagent.h"

static const char*
action_name(TRITONREPOAGENT_ActionType a)
{
  switch (a) {
    case TRITONREPOAGENT_ACTION_LOAD: return "LOAD";
    case TRITONREPOAGENT_ACTION_LOAD_COMPLETE: return "LOAD_COMPLETE";
    case TRITONREPOAGENT_ACTION_LOAD_FAIL: return "LOAD_FAIL";
    case TRITONREPOAGENT_ACTION_UNLOAD: return "UNLOAD";
    case TRITONREPOAGENT_ACTION_UNLOAD_COMPLETE: return "UNLOAD_COMPLETE";
  }
  return "?";
}

/* The value of agent parameter `key` for this model, or NULL. */
static const char*
param(TRITONREPOAGENT_Agent* agent, TRITONREPOAGENT_AgentModel* model, const char* key)
{
  uint32_t n = 0;
  if (TRITONREPOAGENT_ModelParameterCount(agent, model, &n) != NULL) return NULL;
  for (uint32_t i = 0; i < n; ++i) {
    const char* k = NULL;
    const char* v = NULL;
    TRITONSERVER_Error* err = TRITONREPOAGENT_ModelParameter(agent, model, i, &k, &v);
    if (err != NULL) {
      TRITONSERVER_ErrorDelete(err);
      return NULL;
    }
    if (strcmp(k, key) == 0) return v;
  }
  return NULL;
}

static void
log_line(TRITONREPOAGENT_Agent* agent, TRITONREPOAGENT_AgentModel* model, const char* line)
{
  const char* path = param(agent, model, "log");
  if (path == NULL) return;
  FILE* f = fopen(path, "a");
  if (f == NULL) return;
  fprintf(f, "%s\n", line);
  fclose(f);
}

TRITONSERVER_Error*
TRITONREPOAGENT_Initialize(TRITONREPOAGENT_Agent* agent)
{
  int* inits = calloc(1, sizeof(int));
  if (inits == NULL) return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INTERNAL, "oom");
  *inits = 1;
  return TRITONREPOAGENT_SetState(agent, inits);
}

TRITONSERVER_Error*
TRITONREPOAGENT_Finalize(TRITONREPOAGENT_Agent* agent)
{
  void* state = NULL;
  TRITONSERVER_Error* err = TRITONREPOAGENT_State(agent, &state);
  if (err != NULL) return err;
  free(state);
  return NULL;
}

TRITONSERVER_Error*
TRITONREPOAGENT_ModelInitialize(TRITONREPOAGENT_Agent* agent, TRITONREPOAGENT_AgentModel* model)
{
  log_line(agent, model, "MODEL_INIT");
  return NULL;
}

TRITONSERVER_Error*
TRITONREPOAGENT_ModelFinalize(TRITONREPOAGENT_Agent* agent, TRITONREPOAGENT_AgentModel* model)
{
  log_line(agent, model, "MODEL_FINI");
  return NULL;
}

TRITONSERVER_Error*
TRITONREPOAGENT_ModelAction(
    TRITONREPOAGENT_Agent* agent, TRITONREPOAGENT_AgentModel* model,
    const TRITONREPOAGENT_ActionType action_type)
{
  log_line(agent, model, action_name(action_type));
  if (action_type != TRITONREPOAGENT_ACTION_LOAD) return NULL;
  TRITONREPOAGENT_ArtifactType type;
  const char* location = NULL;
  TRITONSERVER_Error* err = TRITONREPOAGENT_ModelRepositoryLocation(agent, model, &type, &location);
  if (err != NULL) return err;
  char path[4096];
  struct stat st;
  snprintf(path, sizeof(path), "%s/config.pbtxt", location);
  if (type == TRITONREPOAGENT_ARTIFACT_FILESYSTEM && stat(path, &st) == 0) {
    log_line(agent, model, "LOCATION_OK");
  }
  TRITONSERVER_Message* config = NULL;
  err = TRITONREPOAGENT_ModelConfig(agent, model, 1, &config);
  if (err != NULL) return err;
  const char* json = NULL;
  size_t size = 0;
  err = TRITONSERVER_MessageSerializeToJson(config, &json, &size);
  if (err == NULL && strstr(json, "\"name\":\"agented\"") != NULL) {
    log_line(agent, model, "CONFIG_OK");
  }
  TRITONSERVER_MessageDelete(config);
  if (err != NULL) return err;
  const char* fail = param(agent, model, "fail");
  if (fail != NULL && strcmp(fail, "LOAD") == 0) {
    return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INTERNAL, "actionlog: refusing LOAD");
  }
  return NULL;
}
