/* Lifecycle entry points shared by the C test backends (see backend_common.h). */
#include "backend_common.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define TB_STR2(x) #x
#define TB_STR(x) TB_STR2(x)
#define TB_NAME TB_STR(TB_BACKEND_NAME)

TRITONSERVER_Error*
tb_error(TRITONSERVER_Error_Code code, const char* fmt, ...)
{
  char buf[1024];
  int n = snprintf(buf, sizeof(buf), "%s: ", TB_NAME);
  if (n < 0 || (size_t)n >= sizeof(buf)) {
    n = 0;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
  va_end(ap);
  return TRITONSERVER_ErrorNew(code, buf);
}

TRITONSERVER_Error*
tb_wrap(TRITONSERVER_Error* err, const char* what)
{
  if (err == NULL) {
    return NULL;
  }
  TRITONSERVER_Error* out = tb_error(
      TRITONSERVER_ErrorCode(err), "%s failed: %s", what,
      TRITONSERVER_ErrorMessage(err));
  TRITONSERVER_ErrorDelete(err);
  return out;
}

/* ---- default hooks (weak: a backend's own definition replaces them) ---- */

__attribute__((weak)) TRITONSERVER_Error*
tb_hook_backend_initialize(TRITONBACKEND_Backend* backend)
{
  (void)backend;
  return NULL;
}

__attribute__((weak)) TRITONSERVER_Error*
tb_hook_model_initialize(TRITONBACKEND_Model* model, tb_model_state* state)
{
  (void)model;
  (void)state;
  return NULL;
}

__attribute__((weak)) TRITONSERVER_Error*
tb_hook_instance_initialize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  (void)instance;
  (void)state;
  return NULL;
}

__attribute__((weak)) void
tb_hook_instance_finalize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state)
{
  (void)instance;
  (void)state;
}

/* ---- helpers ---- */

void
tb_sleep_ms(int64_t ms)
{
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

uint64_t
tb_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

char*
tb_model_config_json(TRITONBACKEND_Model* model)
{
  TRITONSERVER_Message* config = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_ModelConfig(model, 1, &config);
  if (err != NULL || config == NULL) {
    TRITONSERVER_ErrorDelete(err);
    return NULL;
  }
  const char* base = NULL;
  size_t size = 0;
  char* json = NULL;
  err = TRITONSERVER_MessageSerializeToJson(config, &base, &size);
  if (err == NULL && base != NULL) {
    json = malloc(size + 1);
    if (json != NULL) {
      memcpy(json, base, size);
      json[size] = '\0';
    }
  }
  TRITONSERVER_ErrorDelete(err);
  TRITONSERVER_ErrorDelete(TRITONSERVER_MessageDelete(config));
  return json;
}

TRITONSERVER_Error*
tb_write_pid_file(const tb_instance_state* state, pid_t pid)
{
  char path[PATH_MAX], tmp[PATH_MAX + 8];
  snprintf(path, sizeof(path), "%s/%s.pid", state->model->repository, state->name);
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  FILE* f = fopen(tmp, "w");
  if (f == NULL) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "cannot write %s: %s", tmp, strerror(errno));
  }
  fprintf(f, "%ld\n", (long)pid);
  if (fclose(f) != 0 || rename(tmp, path) != 0) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "cannot write %s: %s", path, strerror(errno));
  }
  return NULL;
}

void
tb_kill_and_reap(pid_t pid)
{
  kill(pid, SIGKILL);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

TRITONSERVER_Error*
tb_stub_ready(TRITONBACKEND_ModelInstance* instance)
{
  tb_instance_state* state = NULL;
  TB_RETURN_IF_ERROR(tb_instance_state_get(instance, &state));
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

/* ---- lifecycle ---- */

/* True if `path` ends with "/<component>" (ignoring one trailing '/'). */
static bool
tb_ends_with_component(const char* path, const char* component)
{
  size_t plen = strlen(path), clen = strlen(component);
  if (plen > 1 && path[plen - 1] == '/') {
    plen--;
  }
  return plen > clen && path[plen - clen - 1] == '/' &&
         strncmp(path + plen - clen, component, clen) == 0;
}

#define TB_TRY(call)                              \
  do {                                            \
    TRITONSERVER_Error* tb_e__ = tb_wrap((call), #call); \
    if (tb_e__ != NULL) {                         \
      return tb_e__;                              \
    }                                             \
  } while (0)

/* Serialize a message to JSON and check it looks like a JSON object. */
static TRITONSERVER_Error*
tb_check_json(TRITONSERVER_Message* msg, const char* what, const char* must_contain)
{
  const char* base = NULL;
  size_t size = 0;
  TB_TRY(TRITONSERVER_MessageSerializeToJson(msg, &base, &size));
  if (base == NULL || size < 2 || base[0] != '{') {
    return tb_error(
        TRITONSERVER_ERROR_INTERNAL, "%s: serialized JSON is not an object", what);
  }
  if (must_contain != NULL) {
    /* base is not necessarily NUL-terminated: copy it. */
    char* copy = malloc(size + 1);
    if (copy == NULL) {
      return tb_error(TRITONSERVER_ERROR_INTERNAL, "out of memory");
    }
    memcpy(copy, base, size);
    copy[size] = '\0';
    bool found = strstr(copy, must_contain) != NULL;
    TRITONSERVER_Error* err =
        found ? NULL
              : tb_error(
                    TRITONSERVER_ERROR_INTERNAL, "%s: '%s' not found in %s", what,
                    must_contain, copy);
    free(copy);
    return err;
  }
  return NULL;
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_Initialize(TRITONBACKEND_Backend* backend)
{
  uint32_t major = 0, minor = 0;
  TB_TRY(TRITONBACKEND_ApiVersion(&major, &minor));
  if (major != TRITONBACKEND_API_VERSION_MAJOR ||
      minor < TRITONBACKEND_API_VERSION_MINOR) {
    return tb_error(
        TRITONSERVER_ERROR_UNSUPPORTED,
        "triton backend API version %u.%u does not support this backend (%d.%d)",
        major, minor, TRITONBACKEND_API_VERSION_MAJOR,
        TRITONBACKEND_API_VERSION_MINOR);
  }

  const char* name = NULL;
  TB_TRY(TRITONBACKEND_BackendName(backend, &name));
  if (name == NULL || strcmp(name, TB_NAME) != 0) {
    return tb_error(
        TRITONSERVER_ERROR_INTERNAL, "BackendName returned '%s', expected '%s'",
        name ? name : "(null)", TB_NAME);
  }

  /* Owned by the backend object: not deleted here. */
  TRITONSERVER_Message* config = NULL;
  TB_TRY(TRITONBACKEND_BackendConfig(backend, &config));
  if (config == NULL) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "BackendConfig returned NULL");
  }
  /* The core adds these global keys to every backend's cmdline (values are strings). */
  static const char* const kConfigKeys[] = {
      "\"cmdline\"", "\"backend-directory\":\"", "\"auto-complete-config\":\"false\"",
      "\"default-max-batch-size\":\"4\"", "\"min-compute-capability\":\""};
  for (size_t i = 0; i < sizeof(kConfigKeys) / sizeof(kConfigKeys[0]); ++i) {
    TRITONSERVER_Error* err = tb_check_json(config, "BackendConfig", kConfigKeys[i]);
    if (err != NULL) {
      return err;
    }
  }
  TRITONSERVER_Error* err = NULL;

  TRITONBACKEND_ExecutionPolicy policy;
  TB_TRY(TRITONBACKEND_BackendExecutionPolicy(backend, &policy));
  TB_TRY(TRITONBACKEND_BackendSetExecutionPolicy(backend, policy));

  TRITONBACKEND_ArtifactType atype;
  const char* location = NULL;
  TB_TRY(TRITONBACKEND_BackendArtifacts(backend, &atype, &location));
  if (atype != TRITONBACKEND_ARTIFACT_FILESYSTEM || location == NULL ||
      !tb_ends_with_component(location, TB_NAME)) {
    return tb_error(
        TRITONSERVER_ERROR_INTERNAL,
        "BackendArtifacts = (%d, '%s'), expected (FILESYSTEM, '<backend_dir>/%s')",
        (int)atype, location ? location : "(null)", TB_NAME);
  }

  TRITONBACKEND_MemoryManager* mm = NULL;
  TB_TRY(TRITONBACKEND_BackendMemoryManager(backend, &mm));

  void* prior = (void*)1;
  TB_TRY(TRITONBACKEND_BackendState(backend, &prior));
  if (prior != NULL) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "initial backend state is not NULL");
  }
  tb_backend_state* state = calloc(1, sizeof(*state));
  if (state == NULL) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "out of memory");
  }
  state->magic = TB_STATE_MAGIC_BACKEND;
  snprintf(state->name, sizeof(state->name), "%s", name);
  err = TRITONBACKEND_BackendSetState(backend, state);
  if (err != NULL) {
    free(state);
    return tb_wrap(err, "TRITONBACKEND_BackendSetState");
  }
  void* back = NULL;
  TB_TRY(TRITONBACKEND_BackendState(backend, &back));
  if (back != state) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "BackendState round trip failed");
  }

  return tb_hook_backend_initialize(backend);
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_Finalize(TRITONBACKEND_Backend* backend)
{
  void* vstate = NULL;
  TB_TRY(TRITONBACKEND_BackendState(backend, &vstate));
  tb_backend_state* state = vstate;
  if (state == NULL || state->magic != TB_STATE_MAGIC_BACKEND) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "bad backend state at Finalize");
  }
  state->magic = 0;
  free(state);
  return NULL;
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInitialize(TRITONBACKEND_Model* model)
{
  const char* name = NULL;
  TB_TRY(TRITONBACKEND_ModelName(model, &name));
  uint64_t version = 0;
  TB_TRY(TRITONBACKEND_ModelVersion(model, &version));
  TRITONBACKEND_ArtifactType atype;
  const char* repo = NULL;
  TB_TRY(TRITONBACKEND_ModelRepository(model, &atype, &repo));
  if (name == NULL || repo == NULL || atype != TRITONBACKEND_ARTIFACT_FILESYSTEM ||
      !tb_ends_with_component(repo, name)) {
    return tb_error(
        TRITONSERVER_ERROR_INTERNAL,
        "ModelName '%s' / ModelRepository (%d, '%s'): expected (FILESYSTEM, "
        "'<repository>/<model name>')",
        name ? name : "(null)", (int)atype, repo ? repo : "(null)");
  }
  if (version != 1) {
    return tb_error(
        TRITONSERVER_ERROR_INTERNAL, "ModelVersion = %llu, expected 1",
        (unsigned long long)version);
  }

  TRITONSERVER_Message* config = NULL;
  TB_TRY(TRITONBACKEND_ModelConfig(model, 1, &config));
  char needle[300];
  snprintf(needle, sizeof(needle), "\"%s\"", name);
  TRITONSERVER_Error* err = tb_check_json(config, "ModelConfig", needle);
  TRITONSERVER_Error* derr = TRITONSERVER_MessageDelete(config);
  if (err != NULL) {
    TRITONSERVER_ErrorDelete(derr);
    return err;
  }
  TB_TRY(derr);

  bool autocomplete = true;
  TB_TRY(TRITONBACKEND_ModelAutoCompleteConfig(model, &autocomplete));
  if (autocomplete) {
    /* The tests run with strict model config. */
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "ModelAutoCompleteConfig = true");
  }
  TRITONSERVER_Server* server = NULL;
  TB_TRY(TRITONBACKEND_ModelServer(model, &server));
  if (server == NULL) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "ModelServer returned NULL");
  }
  TRITONBACKEND_Backend* backend = NULL;
  TB_TRY(TRITONBACKEND_ModelBackend(model, &backend));
  void* bstate = NULL;
  TB_TRY(TRITONBACKEND_BackendState(backend, &bstate));
  if (bstate == NULL ||
      ((tb_backend_state*)bstate)->magic != TB_STATE_MAGIC_BACKEND) {
    return tb_error(
        TRITONSERVER_ERROR_INTERNAL, "backend state not visible from the model");
  }

  void* prior = (void*)1;
  TB_TRY(TRITONBACKEND_ModelState(model, &prior));
  if (prior != NULL) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "initial model state is not NULL");
  }
  tb_model_state* state = calloc(1, sizeof(*state));
  if (state == NULL) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "out of memory");
  }
  state->magic = TB_STATE_MAGIC_MODEL;
  snprintf(state->name, sizeof(state->name), "%s", name);
  snprintf(state->repository, sizeof(state->repository), "%s", repo);
  state->version = version;
  err = TRITONBACKEND_ModelSetState(model, state);
  if (err != NULL) {
    free(state);
    return tb_wrap(err, "TRITONBACKEND_ModelSetState");
  }

  err = tb_hook_model_initialize(model, state);
  if (err != NULL) {
    /* The core does not call ModelFinalize when ModelInitialize fails. */
    TRITONSERVER_ErrorDelete(TRITONBACKEND_ModelSetState(model, NULL));
    state->magic = 0;
    free(state);
  }
  return err;
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelFinalize(TRITONBACKEND_Model* model)
{
  void* vstate = NULL;
  TB_TRY(TRITONBACKEND_ModelState(model, &vstate));
  tb_model_state* state = vstate;
  if (state == NULL) {
    /* Upstream also calls ModelFinalize after a failed ModelInitialize. */
    return NULL;
  }
  if (state->magic != TB_STATE_MAGIC_MODEL) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "bad model state at ModelFinalize");
  }
  state->magic = 0;
  free(state);
  return NULL;
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceInitialize(TRITONBACKEND_ModelInstance* instance)
{
  const char* name = NULL;
  TB_TRY(TRITONBACKEND_ModelInstanceName(instance, &name));
  TRITONSERVER_InstanceGroupKind kind;
  TB_TRY(TRITONBACKEND_ModelInstanceKind(instance, &kind));
  if (kind != TRITONSERVER_INSTANCEGROUPKIND_CPU) {
    return tb_error(
        TRITONSERVER_ERROR_INTERNAL, "instance '%s' has kind %s, expected KIND_CPU",
        name, TRITONSERVER_InstanceGroupKindString(kind));
  }
  int32_t device_id = -1;
  TB_TRY(TRITONBACKEND_ModelInstanceDeviceId(instance, &device_id));
  bool passive = true;
  TB_TRY(TRITONBACKEND_ModelInstanceIsPassive(instance, &passive));
  uint32_t profiles = 1, secondary = 1;
  TB_TRY(TRITONBACKEND_ModelInstanceProfileCount(instance, &profiles));
  TB_TRY(TRITONBACKEND_ModelInstanceSecondaryDeviceCount(instance, &secondary));
  if (device_id != 0 || passive || profiles != 0 || secondary != 0) {
    return tb_error(
        TRITONSERVER_ERROR_INTERNAL,
        "instance '%s': device_id %d, passive %d, profiles %u, secondary devices %u; "
        "expected 0, 0, 0, 0",
        name, (int)device_id, (int)passive, profiles, secondary);
  }
  TRITONSERVER_Message* host_policy = NULL; /* owned by the instance */
  TB_TRY(TRITONBACKEND_ModelInstanceHostPolicy(instance, &host_policy));
  if (host_policy != NULL) {
    TRITONSERVER_Error* err = tb_check_json(host_policy, "HostPolicy", NULL);
    if (err != NULL) {
      return err;
    }
  }

  TRITONBACKEND_Model* model = NULL;
  TB_TRY(TRITONBACKEND_ModelInstanceModel(instance, &model));
  void* mstate = NULL;
  TB_TRY(TRITONBACKEND_ModelState(model, &mstate));
  tb_model_state* model_state = mstate;
  if (model_state == NULL || model_state->magic != TB_STATE_MAGIC_MODEL) {
    return tb_error(
        TRITONSERVER_ERROR_INTERNAL, "model state not visible from instance '%s'",
        name);
  }

  void* prior = (void*)1;
  TB_TRY(TRITONBACKEND_ModelInstanceState(instance, &prior));
  if (prior != NULL) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "initial instance state is not NULL");
  }
  tb_instance_state* state = calloc(1, sizeof(*state));
  if (state == NULL) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "out of memory");
  }
  state->magic = TB_STATE_MAGIC_INSTANCE;
  snprintf(state->name, sizeof(state->name), "%s", name);
  state->model = model_state;
  TRITONSERVER_Error* err = TRITONBACKEND_ModelInstanceSetState(instance, state);
  if (err != NULL) {
    free(state);
    return tb_wrap(err, "TRITONBACKEND_ModelInstanceSetState");
  }

  err = tb_hook_instance_initialize(instance, state);
  if (err != NULL) {
    TRITONSERVER_ErrorDelete(TRITONBACKEND_ModelInstanceSetState(instance, NULL));
    state->magic = 0;
    free(state);
  }
  return err;
}

TRITONSERVER_Error*
tb_instance_state_get(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state** state)
{
  void* vstate = NULL;
  TB_TRY(TRITONBACKEND_ModelInstanceState(instance, &vstate));
  tb_instance_state* s = vstate;
  if (s == NULL || s->magic != TB_STATE_MAGIC_INSTANCE) {
    return tb_error(TRITONSERVER_ERROR_INTERNAL, "bad instance state");
  }
  *state = s;
  return NULL;
}

TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceFinalize(TRITONBACKEND_ModelInstance* instance)
{
  void* vstate = NULL;
  TB_TRY(TRITONBACKEND_ModelInstanceState(instance, &vstate));
  if (vstate == NULL) {
    /* Finalize after a failed ModelInstanceInitialize: nothing to do. */
    return NULL;
  }
  tb_instance_state* state = NULL;
  TB_TRY(tb_instance_state_get(instance, &state));
  tb_hook_instance_finalize(instance, state);
  state->magic = 0;
  free(state);
  return NULL;
}

/* Backends that implement inference define TB_CUSTOM_EXECUTE and export their own
 * TRITONBACKEND_ModelInstanceExecute. */
#ifndef TB_CUSTOM_EXECUTE
TB_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceExecute(
    TRITONBACKEND_ModelInstance* instance, TRITONBACKEND_Request** requests,
    const uint32_t request_count)
{
  (void)instance;
  (void)requests;
  (void)request_count;
  /* No inference support. Returning an error leaves the requests owned by the core,
   * which answers each of them with this error and releases them. */
  return tb_error(TRITONSERVER_ERROR_UNSUPPORTED, "inference is not supported");
}
#endif /* TB_CUSTOM_EXECUTE */
