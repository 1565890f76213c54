/* Test repository agent 'nullargs' for api_null_all: in the plugin phase (NC_PLUGIN_PHASE set)
 * its first LOAD action runs the NULL-argument cases of context "repoagent", with that agent
 * and model as fixtures. Otherwise it accepts every action. */
#include <stdlib.h>

#include "nc.h"

static TRITONREPOAGENT_Agent* g_agent;
static TRITONREPOAGENT_AgentModel* g_model;

TRITONREPOAGENT_Agent*
nc_agent(void)
{
  return g_agent;
}

TRITONREPOAGENT_AgentModel*
nc_agent_model(void)
{
  return g_model;
}

const char*
nc_agent_location(void)
{
  TRITONREPOAGENT_ArtifactType type;
  const char* location = NULL;
  TRITONSERVER_Error* err =
      TRITONREPOAGENT_ModelRepositoryLocation(g_agent, g_model, &type, &location);
  if (err != NULL) nc_fixture_failed("ModelRepositoryLocation", err);
  return location;
}

const char*
nc_acquired_location(void)
{
  const char* location = NULL;
  TRITONSERVER_Error* err = TRITONREPOAGENT_ModelRepositoryLocationAcquire(
      g_agent, g_model, TRITONREPOAGENT_ARTIFACT_FILESYSTEM, &location);
  if (err != NULL) nc_fixture_failed("ModelRepositoryLocationAcquire", err);
  return location;
}

TRITONSERVER_Error*
TRITONREPOAGENT_ModelAction(
    TRITONREPOAGENT_Agent* agent, TRITONREPOAGENT_AgentModel* model,
    const TRITONREPOAGENT_ActionType action_type)
{
  static bool ran;
  if (action_type == TRITONREPOAGENT_ACTION_LOAD && getenv("NC_PLUGIN_PHASE") != NULL &&
      !ran) {
    ran = true;
    g_agent = agent;
    g_model = model;
    nc_run_context(NC_CTX_REPOAGENT);
    g_agent = NULL;
    g_model = NULL;
  }
  return NULL;
}
