/* api_null_args: NULL for every pointer argument of the functions in scope must give a
 * TRITONSERVER_ERROR_INVALID_ARG error (or, for functions returning a value, a documented
 * value), never a crash.
 *
 * Each case runs in a forked child so that a crash is reported as a failure of that case
 * (SIGSEGV etc.) and the remaining cases still run. The parent never creates a server.
 *
 * Chosen semantics for the value-returning functions (not specified upstream, where they
 * dereference the NULL):
 *   TRITONSERVER_ErrorCode(NULL)        == TRITONSERVER_ERROR_UNKNOWN
 *   TRITONSERVER_ErrorCodeString(NULL)  a non-empty static string
 *   TRITONSERVER_ErrorMessage(NULL)     a static string, not NULL
 *   TRITONSERVER_ErrorNew(code, NULL)   a non-NULL error with a non-NULL message
 *   TRITONSERVER_ErrorDelete(NULL)      a no-op (it returns nothing)
 *   TRITONSERVER_StringToDataType(NULL) == TRITONSERVER_TYPE_INVALID
 * The error-returning deleters (MessageDelete, ServerOptionsDelete, ServerDelete) and
 * ServerStop return INVALID_ARG for NULL, like every other function here; note that real
 * 2.51 returns success (delete of nullptr) for those four. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "triton/core/tritonbackend.h"

static int cases_run = 0;
static int cases_failed = 0;
static int cases_crashed = 0;

static void
count_outcome(tc_outcome outcome)
{
  cases_run++;
  if (outcome != TC_PASSED) {
    cases_failed++;
  }
  if (outcome == TC_CRASHED || outcome == TC_HUNG) {
    cases_crashed++;
  }
}

/* Run the body in a child (a crash is reported by name); count the outcome. */
#define NULLCASE(name, ...)                              \
  do {                                                   \
    tc_outcome outcome__;                                \
    TC_FORKED(outcome__, "case " name, 0, __VA_ARGS__);  \
    count_outcome(outcome__);                            \
  } while (0)

/* Expect INVALID_ARG from a call. */
#define NULL_ARG(expr) EXPECT_ERR((expr), TRITONSERVER_ERROR_INVALID_ARG)

static TRITONSERVER_Server*
start_server(const char* repo)
{
  tc_server_config config = {
      .repo = repo,
      .control_mode = TRITONSERVER_MODEL_CONTROL_EXPLICIT,
      .strict_readiness = true,
      .exit_timeout_s = 2,
  };
  return tc_server_start(&config, NULL);
}

static void
error_cases(void)
{
  NULLCASE("ErrorCode(NULL)", {
    TRITONSERVER_Error_Code code = TRITONSERVER_ErrorCode(NULL);
    CHECK(code == TRITONSERVER_ERROR_UNKNOWN, "ErrorCode(NULL) = %d, expected UNKNOWN",
          (int)code);
  });
  NULLCASE("ErrorCodeString(NULL)", {
    const char* s = TRITONSERVER_ErrorCodeString(NULL);
    CHECK(s != NULL && s[0] != '\0', "ErrorCodeString(NULL) returned NULL or \"\"");
  });
  NULLCASE("ErrorMessage(NULL)", {
    const char* s = TRITONSERVER_ErrorMessage(NULL);
    CHECK(s != NULL, "ErrorMessage(NULL) returned NULL");
  });
  NULLCASE("ErrorNew(code, NULL)", {
    TRITONSERVER_Error* e = TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INTERNAL, NULL);
    if (CHECK(e != NULL, "ErrorNew(INTERNAL, NULL) returned NULL")) {
      CHECK(TRITONSERVER_ErrorMessage(e) != NULL, "message of ErrorNew(.., NULL) is NULL");
      TRITONSERVER_ErrorDelete(e);
    }
  });
  NULLCASE("ErrorDelete(NULL)", TRITONSERVER_ErrorDelete(NULL));
}

static void
message_cases(void)
{
  NULLCASE("MessageNewFromSerializedJson(NULL, ..)",
           NULL_ARG(TRITONSERVER_MessageNewFromSerializedJson(NULL, "{}", 2)));
  NULLCASE("MessageNewFromSerializedJson(.., NULL, 2)", {
    TRITONSERVER_Message* m = NULL;
    NULL_ARG(TRITONSERVER_MessageNewFromSerializedJson(&m, NULL, 2));
  });
  NULLCASE("MessageDelete(NULL)", NULL_ARG(TRITONSERVER_MessageDelete(NULL)));
  NULLCASE("MessageSerializeToJson(NULL, ..)", {
    const char* b;
    size_t s;
    NULL_ARG(TRITONSERVER_MessageSerializeToJson(NULL, &b, &s));
  });
  NULLCASE("MessageSerializeToJson(m, NULL, ..) / (m, .., NULL)", {
    TRITONSERVER_Message* m = NULL;
    REQUIRE_OK(TRITONSERVER_MessageNewFromSerializedJson(&m, "{}", 2));
    const char* b;
    size_t s;
    NULL_ARG(TRITONSERVER_MessageSerializeToJson(m, NULL, &s));
    NULL_ARG(TRITONSERVER_MessageSerializeToJson(m, &b, NULL));
    CHECK_OK(TRITONSERVER_MessageDelete(m));
  });
}

static void
misc_cases(void)
{
  NULLCASE("StringToDataType(NULL)", {
    TRITONSERVER_DataType t = TRITONSERVER_StringToDataType(NULL);
    CHECK(t == TRITONSERVER_TYPE_INVALID, "StringToDataType(NULL) = %d", (int)t);
  });
  NULLCASE("TRITONSERVER_ApiVersion(NULL, ..) / (.., NULL)", {
    uint32_t v;
    NULL_ARG(TRITONSERVER_ApiVersion(NULL, &v));
    NULL_ARG(TRITONSERVER_ApiVersion(&v, NULL));
  });
  NULLCASE("TRITONBACKEND_ApiVersion(NULL, ..) / (.., NULL)", {
    uint32_t v;
    NULL_ARG(TRITONBACKEND_ApiVersion(NULL, &v));
    NULL_ARG(TRITONBACKEND_ApiVersion(&v, NULL));
  });
}

static void
options_cases(void)
{
  NULLCASE("ServerOptionsNew(NULL)", NULL_ARG(TRITONSERVER_ServerOptionsNew(NULL)));
  NULLCASE("ServerOptionsDelete(NULL)",
           NULL_ARG(TRITONSERVER_ServerOptionsDelete(NULL)));
  NULLCASE("ServerOptionsSet*(NULL options, ..)", {
    NULL_ARG(TRITONSERVER_ServerOptionsSetModelRepositoryPath(NULL, "/tmp"));
    NULL_ARG(TRITONSERVER_ServerOptionsSetBackendDirectory(NULL, "/tmp"));
    NULL_ARG(TRITONSERVER_ServerOptionsSetRepoAgentDirectory(NULL, "/tmp"));
    NULL_ARG(TRITONSERVER_ServerOptionsSetStrictReadiness(NULL, true));
    NULL_ARG(TRITONSERVER_ServerOptionsSetModelControlMode(
        NULL, TRITONSERVER_MODEL_CONTROL_EXPLICIT));
    NULL_ARG(TRITONSERVER_ServerOptionsSetStartupModel(NULL, "m"));
    NULL_ARG(TRITONSERVER_ServerOptionsSetStrictModelConfig(NULL, true));
    NULL_ARG(TRITONSERVER_ServerOptionsSetExitOnError(NULL, false));
    NULL_ARG(TRITONSERVER_ServerOptionsSetExitTimeout(NULL, 1));
    NULL_ARG(TRITONSERVER_ServerOptionsSetBackendConfig(NULL, "b", "k", "v"));
    NULL_ARG(TRITONSERVER_ServerOptionsSetLogInfo(NULL, true));
    NULL_ARG(TRITONSERVER_ServerOptionsSetLogWarn(NULL, true));
    NULL_ARG(TRITONSERVER_ServerOptionsSetLogError(NULL, true));
    NULL_ARG(TRITONSERVER_ServerOptionsSetLogVerbose(NULL, 0));
    NULL_ARG(TRITONSERVER_ServerOptionsSetLogFile(NULL, "/dev/null"));
    NULL_ARG(TRITONSERVER_ServerOptionsSetLogFormat(NULL, TRITONSERVER_LOG_DEFAULT));
  });
  NULLCASE("ServerOptionsSet*(options, NULL string)", {
    TRITONSERVER_ServerOptions* o = NULL;
    REQUIRE_OK(TRITONSERVER_ServerOptionsNew(&o));
    NULL_ARG(TRITONSERVER_ServerOptionsSetModelRepositoryPath(o, NULL));
    NULL_ARG(TRITONSERVER_ServerOptionsSetBackendDirectory(o, NULL));
    NULL_ARG(TRITONSERVER_ServerOptionsSetRepoAgentDirectory(o, NULL));
    NULL_ARG(TRITONSERVER_ServerOptionsSetStartupModel(o, NULL));
    NULL_ARG(TRITONSERVER_ServerOptionsSetBackendConfig(o, NULL, "k", "v"));
    NULL_ARG(TRITONSERVER_ServerOptionsSetBackendConfig(o, "b", NULL, "v"));
    NULL_ARG(TRITONSERVER_ServerOptionsSetBackendConfig(o, "b", "k", NULL));
    NULL_ARG(TRITONSERVER_ServerOptionsSetLogFile(o, NULL));
    CHECK_OK(TRITONSERVER_ServerOptionsDelete(o));
  });
}

static void
server_cases(const char* repo)
{
  NULLCASE("ServerNew(NULL, options)", {
    TRITONSERVER_ServerOptions* o = NULL;
    REQUIRE_OK(TRITONSERVER_ServerOptionsNew(&o));
    NULL_ARG(TRITONSERVER_ServerNew(NULL, o));
    CHECK_OK(TRITONSERVER_ServerOptionsDelete(o));
  });
  NULLCASE("ServerNew(&server, NULL)", {
    TRITONSERVER_Server* s = NULL;
    NULL_ARG(TRITONSERVER_ServerNew(&s, NULL));
  });
  NULLCASE("Server*(NULL server, ..)", {
    bool b;
    TRITONSERVER_Message* m;
    NULL_ARG(TRITONSERVER_ServerDelete(NULL));
    NULL_ARG(TRITONSERVER_ServerStop(NULL));
    NULL_ARG(TRITONSERVER_ServerIsLive(NULL, &b));
    NULL_ARG(TRITONSERVER_ServerIsReady(NULL, &b));
    NULL_ARG(TRITONSERVER_ServerModelIsReady(NULL, "m", 1, &b));
    NULL_ARG(TRITONSERVER_ServerLoadModel(NULL, "m"));
    NULL_ARG(TRITONSERVER_ServerUnloadModel(NULL, "m"));
    NULL_ARG(TRITONSERVER_ServerModelIndex(NULL, 0, &m));
    NULL_ARG(TRITONSERVER_ServerMetadata(NULL, &m));
  });
  /* One server per case: a crash in one must not hide the next. */
  NULLCASE("ServerIsLive(server, NULL)", {
    TRITONSERVER_Server* s = start_server(repo);
    NULL_ARG(TRITONSERVER_ServerIsLive(s, NULL));
    tc_server_delete(s);
  });
  NULLCASE("ServerIsReady(server, NULL)", {
    TRITONSERVER_Server* s = start_server(repo);
    NULL_ARG(TRITONSERVER_ServerIsReady(s, NULL));
    tc_server_delete(s);
  });
  NULLCASE("ServerModelIsReady(server, NULL, ..)", {
    TRITONSERVER_Server* s = start_server(repo);
    bool b;
    NULL_ARG(TRITONSERVER_ServerModelIsReady(s, NULL, 1, &b));
    tc_server_delete(s);
  });
  NULLCASE("ServerModelIsReady(server, name, v, NULL)", {
    TRITONSERVER_Server* s = start_server(repo);
    NULL_ARG(TRITONSERVER_ServerModelIsReady(s, "healthy", 1, NULL));
    tc_server_delete(s);
  });
  NULLCASE("ServerLoadModel(server, NULL)", {
    TRITONSERVER_Server* s = start_server(repo);
    NULL_ARG(TRITONSERVER_ServerLoadModel(s, NULL));
    tc_server_delete(s);
  });
  NULLCASE("ServerUnloadModel(server, NULL)", {
    TRITONSERVER_Server* s = start_server(repo);
    NULL_ARG(TRITONSERVER_ServerUnloadModel(s, NULL));
    tc_server_delete(s);
  });
  NULLCASE("ServerModelIndex(server, 0, NULL)", {
    TRITONSERVER_Server* s = start_server(repo);
    NULL_ARG(TRITONSERVER_ServerModelIndex(s, 0, NULL));
    tc_server_delete(s);
  });
  NULLCASE("ServerMetadata(server, NULL)", {
    TRITONSERVER_Server* s = start_server(repo);
    NULL_ARG(TRITONSERVER_ServerMetadata(s, NULL));
    tc_server_delete(s);
  });
}

static void
backend_null_handle_cases(void)
{
  NULLCASE("TRITONBACKEND_Backend*(NULL backend, ..)", {
    const char* s;
    TRITONSERVER_Message* m;
    TRITONBACKEND_ExecutionPolicy p;
    TRITONBACKEND_ArtifactType a;
    TRITONBACKEND_MemoryManager* mm;
    void* v;
    NULL_ARG(TRITONBACKEND_BackendName(NULL, &s));
    NULL_ARG(TRITONBACKEND_BackendConfig(NULL, &m));
    NULL_ARG(TRITONBACKEND_BackendExecutionPolicy(NULL, &p));
    NULL_ARG(TRITONBACKEND_BackendSetExecutionPolicy(NULL, TRITONBACKEND_EXECUTION_BLOCKING));
    NULL_ARG(TRITONBACKEND_BackendArtifacts(NULL, &a, &s));
    NULL_ARG(TRITONBACKEND_BackendMemoryManager(NULL, &mm));
    NULL_ARG(TRITONBACKEND_BackendState(NULL, &v));
    NULL_ARG(TRITONBACKEND_BackendSetState(NULL, &v));
  });
  NULLCASE("TRITONBACKEND_Model*(NULL model, ..)", {
    const char* s;
    uint64_t u;
    TRITONBACKEND_ArtifactType a;
    TRITONSERVER_Message* m = NULL;
    bool b;
    TRITONSERVER_Server* srv;
    TRITONBACKEND_Backend* be;
    void* v;
    NULL_ARG(TRITONBACKEND_ModelName(NULL, &s));
    NULL_ARG(TRITONBACKEND_ModelVersion(NULL, &u));
    NULL_ARG(TRITONBACKEND_ModelRepository(NULL, &a, &s));
    NULL_ARG(TRITONBACKEND_ModelConfig(NULL, 1, &m));
    NULL_ARG(TRITONBACKEND_ModelAutoCompleteConfig(NULL, &b));
    REQUIRE_OK(TRITONSERVER_MessageNewFromSerializedJson(&m, "{}", 2));
    NULL_ARG(TRITONBACKEND_ModelSetConfig(NULL, 1, m));
    CHECK_OK(TRITONSERVER_MessageDelete(m));
    NULL_ARG(TRITONBACKEND_ModelServer(NULL, &srv));
    NULL_ARG(TRITONBACKEND_ModelBackend(NULL, &be));
    NULL_ARG(TRITONBACKEND_ModelState(NULL, &v));
    NULL_ARG(TRITONBACKEND_ModelSetState(NULL, &v));
  });
  NULLCASE("TRITONBACKEND_ModelInstance*(NULL instance, ..)", {
    const char* s;
    TRITONSERVER_InstanceGroupKind k;
    int32_t d;
    TRITONSERVER_Message* m;
    bool b;
    uint32_t c;
    int64_t id;
    TRITONBACKEND_Model* model;
    void* v;
    NULL_ARG(TRITONBACKEND_ModelInstanceName(NULL, &s));
    NULL_ARG(TRITONBACKEND_ModelInstanceKind(NULL, &k));
    NULL_ARG(TRITONBACKEND_ModelInstanceDeviceId(NULL, &d));
    NULL_ARG(TRITONBACKEND_ModelInstanceHostPolicy(NULL, &m));
    NULL_ARG(TRITONBACKEND_ModelInstanceIsPassive(NULL, &b));
    NULL_ARG(TRITONBACKEND_ModelInstanceProfileCount(NULL, &c));
    NULL_ARG(TRITONBACKEND_ModelInstanceProfileName(NULL, 0, &s));
    NULL_ARG(TRITONBACKEND_ModelInstanceSecondaryDeviceCount(NULL, &c));
    NULL_ARG(TRITONBACKEND_ModelInstanceSecondaryDeviceProperties(NULL, 0, &s, &id));
    NULL_ARG(TRITONBACKEND_ModelInstanceModel(NULL, &model));
    NULL_ARG(TRITONBACKEND_ModelInstanceState(NULL, &v));
    NULL_ARG(TRITONBACKEND_ModelInstanceSetState(NULL, &v));
  });
}

static void
backend_null_out_cases(const char* repo)
{
  /* The nullcheck backend calls every getter with a valid handle and NULL out-params
   * during Initialize / ModelInitialize / ModelInstanceInitialize and fails the load,
   * listing the offenders, unless all return INVALID_ARG. */
  NULLCASE("TRITONBACKEND_* getters (valid handle, NULL out-params)", {
    TRITONSERVER_Server* s = start_server(repo);
    CHECK_OK(TRITONSERVER_ServerLoadModel(s, "nullcheck"));
    CHECK(tc_model_ready(s, "nullcheck", 1) == 1, "model nullcheck not ready");
    tc_server_delete(s);
  });
}

int
main(void)
{
  char* repo = tc_repo_new();
  tc_repo_add_model(repo, "healthy", "healthy", 1, NULL);
  tc_repo_add_model(repo, "nullcheck", "nullcheck", 1, NULL);

  error_cases();
  message_cases();
  misc_cases();
  options_cases();
  server_cases(repo);
  backend_null_handle_cases();
  backend_null_out_cases(repo);

  tc_note("%d case(s) run, %d failed (%d crashed)", cases_run, cases_failed,
          cases_crashed);
  tc_repo_remove(repo);
  return tc_finish("api_null_args");
}
