/* Test backend 'probe': watches the core's object lifetimes from the backend side.
 *
 * Standalone (not built on backend_common.c: that frees the states at Finalize, and the
 * probe has to keep them to recognise a call made with a finalized object).
 *
 * Model and instance states carry a magic value. ModelFinalize / ModelInstanceFinalize
 * poison it and keep the memory (states live in static arenas, so a stale state pointer
 * can still be read and recognised, and a pointer that is not a state at all is refused
 * without being dereferenced). With PROBE_FREE=1 in the environment the states are
 * malloc'd and really freed at Finalize, and every state pointer is dereferenced
 * unchecked, so that ASan / valgrind report the use after free themselves.
 *
 * Counters (process-wide atomics) are read by the driver through the exported functions
 * probe_counter / probe_counter_count / probe_counter_name / probe_counter_at (dlopen of
 * the same library path returns the handle the core opened). The lifetime violations:
 *   hook_poisoned      ModelInstanceReady with a finalized instance
 *   hook_bad_state     ModelInstanceReady whose instance state is not a probe state
 *   hook_fini_during   the instance was finalized while ModelInstanceReady slept in it
 *   exec_poisoned, exec_bad_state, exec_fini_during   the same for ModelInstanceExecute
 *   exec_model_poisoned  Execute on an instance whose model was finalized
 *   fini_while_exec    ModelInstanceFinalize while an Execute of that instance runs
 *   fini_while_hook    ModelInstanceFinalize while a ModelInstanceReady of it runs
 *   fini_poisoned / fini_bad_state   ModelInstanceFinalize twice / on a foreign state
 *   model_fini_poisoned  ModelFinalize twice
 *   model_fini_live_instances  ModelFinalize while instances of the model are not finalized
 *   inst_init_model_poisoned / inst_fini_model_poisoned  instance calls after ModelFinalize
 *   calls_without_backend  a model / instance entry point while no backend is initialized
 * Informational: hook_null_state (hook before the instance state was set),
 * exec_overlap_same_instance (two Executes of one instance at once), fini_while_holding
 * (instance finalized while requests it executed are still held by the backend),
 * send_errors, release_errors, factory_errors, and the totals.
 *
 * Behaviour knobs, in order of precedence: request parameters (INT exec_sleep_us,
 * INT hold_ms, BOOL use_factory, BOOL never_release) for what Execute does with that
 * request; probe_set(knob, value) at run time (value < 0 = unset); the model
 * configuration's `parameters` (string values: hook_sleep_us, exec_sleep_us, hold_ms,
 * use_factory, never_release; other keys such as "tag" are ignored); environment
 * variables PROBE_HOOK_SLEEP_US, PROBE_EXEC_SLEEP_US, PROBE_HOLD_MS, PROBE_USE_FACTORY.
 *   hook_sleep_us   ModelInstanceReady sleeps this long (holds a reader inside the hook)
 *   exec_sleep_us   Execute sleeps this long before answering
 *   hold_ms         Execute hands the requests to a background thread that responds and
 *                   releases them hold_ms later (Execute itself returns at once)
 *   use_factory     responses are made through TRITONBACKEND_ResponseFactoryNew
 *   never_release   Execute keeps the requests forever: no response, no release
 * Execute answers INPUTn with OUTPUTn = the same tensor (identity) and releases each
 * request with TRITONBACKEND_RequestRelease(ALL). Exports TRITONBACKEND_ModelInstanceReady:
 * ready unless the state is bad. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "triton/core/tritonbackend.h"
#include "triton/core/tritonserver.h"

#define PROBE_EXPORT __attribute__((visibility("default")))

/* Redeclared so the backend builds against headers that predate it (as backend_common.h). */
PROBE_EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelInstanceReady(
    TRITONBACKEND_ModelInstance* instance);

PROBE_EXPORT long probe_counter(const char* name);
PROBE_EXPORT int probe_counter_count(void);
PROBE_EXPORT const char* probe_counter_name(int index);
PROBE_EXPORT long probe_counter_at(int index);
PROBE_EXPORT void probe_set(const char* knob, long value);

/* ---- counters ---- */

#define PROBE_COUNTERS(X)                                                             \
  X(backend_init) X(backend_fini) X(model_init) X(model_fini) X(inst_init) X(inst_fini) \
  X(hook_calls) X(exec_calls) X(exec_requests) X(responses_sent) X(requests_released) \
  X(factories_created) X(factories_deleted) X(held_requests) X(held_completed)        \
  X(held_forever) X(hooks_in_flight) X(execs_in_flight) X(holds_in_flight)            \
  X(hook_poisoned) X(hook_bad_state) X(hook_fini_during) X(exec_poisoned)             \
  X(exec_bad_state) X(exec_fini_during) X(exec_model_poisoned) X(fini_while_exec)     \
  X(fini_while_hook) X(fini_poisoned) X(fini_bad_state) X(model_fini_poisoned)        \
  X(model_fini_live_instances) X(inst_init_model_poisoned) X(inst_fini_model_poisoned) \
  X(calls_without_backend) X(hook_null_state) X(exec_null_state)                      \
  X(exec_overlap_same_instance) X(fini_while_holding) X(send_errors)                  \
  X(release_errors) X(factory_errors) X(arena_exhausted)

enum {
#define PROBE_ENUM(n) C_##n,
  PROBE_COUNTERS(PROBE_ENUM)
#undef PROBE_ENUM
  C_COUNT
};

static const char* const kCounterNames[C_COUNT] = {
#define PROBE_NAME(n) #n,
    PROBE_COUNTERS(PROBE_NAME)
#undef PROBE_NAME
};

static atomic_long counters[C_COUNT];

#define INC(c) atomic_fetch_add(&counters[C_##c], 1)
#define DEC(c) atomic_fetch_sub(&counters[C_##c], 1)
#define ADD(c, n) atomic_fetch_add(&counters[C_##c], (long)(n))

long
probe_counter(const char* name)
{
  for (int i = 0; name != NULL && i < C_COUNT; ++i) {
    if (strcmp(kCounterNames[i], name) == 0) {
      return atomic_load(&counters[i]);
    }
  }
  return -1;
}

int
probe_counter_count(void)
{
  return C_COUNT;
}

const char*
probe_counter_name(int index)
{
  return index >= 0 && index < C_COUNT ? kCounterNames[index] : NULL;
}

long
probe_counter_at(int index)
{
  return index >= 0 && index < C_COUNT ? atomic_load(&counters[index]) : -1;
}

/* ---- knobs ---- */

enum { K_HOOK_SLEEP_US, K_EXEC_SLEEP_US, K_HOLD_MS, K_USE_FACTORY, K_NEVER_RELEASE, K_COUNT };
static const char* const kKnobNames[K_COUNT] = {
    "hook_sleep_us", "exec_sleep_us", "hold_ms", "use_factory", "never_release"};
static const char* const kKnobEnv[K_COUNT] = {
    "PROBE_HOOK_SLEEP_US", "PROBE_EXEC_SLEEP_US", "PROBE_HOLD_MS", "PROBE_USE_FACTORY",
    NULL};
/* probe_set overrides; -1 = not set. */
static atomic_long knob_override[K_COUNT] = {-1, -1, -1, -1, -1};

void
probe_set(const char* knob, long value)
{
  for (int k = 0; knob != NULL && k < K_COUNT; ++k) {
    if (strcmp(kKnobNames[k], knob) == 0) {
      atomic_store(&knob_override[k], value);
    }
  }
}

static long
env_long(const char* name)
{
  const char* v = name ? getenv(name) : NULL;
  return v && *v ? strtol(v, NULL, 10) : 0;
}

/* ---- states ---- */

#define MAGIC_MODEL 0x50524d4fu    /* live model state */
#define MAGIC_INSTANCE 0x5052494eu /* live instance state */
#define MAGIC_DEAD 0xdeadbeefu     /* poisoned at Finalize */

/* Shared between an instance and the background threads holding its requests, so that
 * those threads never touch the instance state. */
typedef struct probe_holds {
  atomic_int held; /* requests held right now */
  atomic_int refs;
} probe_holds;

typedef struct probe_model {
  _Atomic uint32_t magic;
  atomic_int live_instances;
  long knob[K_COUNT]; /* from the model configuration / environment */
  char name[128];
} probe_model;

typedef struct probe_instance {
  _Atomic uint32_t magic;
  atomic_int execs_in_flight;
  atomic_int hooks_in_flight;
  probe_model* model;
  probe_holds* holds;
  char name[128];
} probe_instance;

/* Arenas: never freed, so a stale pointer can be recognised. */
#define ARENA_SLOTS 65536
static probe_model model_arena[ARENA_SLOTS / 4];
static probe_instance instance_arena[ARENA_SLOTS];
static atomic_long model_next, instance_next;
static bool free_mode; /* PROBE_FREE=1 */

static probe_model*
model_alloc(void)
{
  if (!free_mode) {
    long i = atomic_fetch_add(&model_next, 1);
    if (i < (long)(sizeof(model_arena) / sizeof(model_arena[0]))) {
      return &model_arena[i];
    }
    INC(arena_exhausted);
  }
  return calloc(1, sizeof(probe_model));
}

static probe_instance*
instance_alloc(void)
{
  if (!free_mode) {
    long i = atomic_fetch_add(&instance_next, 1);
    if (i < ARENA_SLOTS) {
      return &instance_arena[i];
    }
    INC(arena_exhausted);
  }
  return calloc(1, sizeof(probe_instance));
}

/* Whether `p` may be dereferenced as a probe state: in free mode always (ASan decides);
 * otherwise only pointers into the arenas (a calloc'd state after exhaustion is trusted). */
static bool
in_arena(const void* p, const void* base, size_t slot, long used, long cap)
{
  uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;
  if (a < b || a >= b + (uintptr_t)(slot * (size_t)cap)) {
    return false;
  }
  return (a - b) % slot == 0 && (long)((a - b) / slot) < used;
}

static bool
model_ptr_ok(const void* p)
{
  long used = atomic_load(&model_next);
  long cap = (long)(sizeof(model_arena) / sizeof(model_arena[0]));
  return free_mode || used > cap ||
         in_arena(p, model_arena, sizeof(probe_model), used < cap ? used : cap, cap);
}

static bool
instance_ptr_ok(const void* p)
{
  long used = atomic_load(&instance_next);
  return free_mode || used > ARENA_SLOTS ||
         in_arena(p, instance_arena, sizeof(probe_instance),
                  used < ARENA_SLOTS ? used : ARENA_SLOTS, ARENA_SLOTS);
}

static void
holds_unref(probe_holds* h)
{
  if (atomic_fetch_sub(&h->refs, 1) == 1) {
    free(h);
  }
}

/* ---- helpers ---- */

static TRITONSERVER_Error*
probe_error(TRITONSERVER_Error_Code code, const char* msg)
{
  char buf[256];
  snprintf(buf, sizeof(buf), "probe: %s", msg);
  return TRITONSERVER_ErrorNew(code, buf);
}

static void
sleep_us(long us)
{
  if (us <= 0) {
    return;
  }
  struct timespec ts = {(time_t)(us / 1000000), (us % 1000000) * 1000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void
backend_live_check(void)
{
  if (atomic_load(&counters[C_backend_init]) - atomic_load(&counters[C_backend_fini]) <= 0) {
    INC(calls_without_backend);
  }
}

static void
drop_error(TRITONSERVER_Error* err, int counter)
{
  if (err != NULL) {
    if (counter >= 0) {
      atomic_fetch_add(&counters[counter], 1);
    }
    TRITONSERVER_ErrorDelete(err);
  }
}

/* String parameter value "<key>":{"string_value":"<n>"} of a model configuration JSON. */
static bool
json_param(const char* json, const char* key, long* out)
{
  char needle[64];
  snprintf(needle, sizeof(needle), "\"%s\"", key);
  const char* p = strstr(json, needle);
  if (p == NULL) {
    return false;
  }
  p = strstr(p + strlen(needle), "\"string_value\"");
  if (p == NULL) {
    return false;
  }
  p = strchr(p + 14, '"');
  if (p == NULL) {
    return false;
  }
  *out = strtol(p + 1, NULL, 10);
  return true;
}

static long
knob(const probe_model* m, int k)
{
  long o = atomic_load(&knob_override[k]);
  return o >= 0 ? o : m->knob[k];
}

/* ---- backend ---- */

PROBE_EXPORT TRITONSERVER_Error*
TRITONBACKEND_Initialize(TRITONBACKEND_Backend* backend)
{
  (void)backend;
  uint32_t major = 0, minor = 0;
  TRITONSERVER_Error* err = TRITONBACKEND_ApiVersion(&major, &minor);
  if (err != NULL) {
    return err;
  }
  if (major != TRITONBACKEND_API_VERSION_MAJOR || minor < TRITONBACKEND_API_VERSION_MINOR) {
    return probe_error(TRITONSERVER_ERROR_UNSUPPORTED, "backend API version mismatch");
  }
  const char* f = getenv("PROBE_FREE");
  free_mode = f != NULL && strcmp(f, "1") == 0;
  INC(backend_init);
  return NULL;
}

PROBE_EXPORT TRITONSERVER_Error*
TRITONBACKEND_Finalize(TRITONBACKEND_Backend* backend)
{
  (void)backend;
  INC(backend_fini);
  return NULL;
}

/* ---- model ---- */

PROBE_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInitialize(TRITONBACKEND_Model* model)
{
  backend_live_check();
  probe_model* m = model_alloc();
  if (m == NULL) {
    return probe_error(TRITONSERVER_ERROR_INTERNAL, "out of memory");
  }
  memset(m, 0, sizeof(*m));
  const char* name = NULL;
  drop_error(TRITONBACKEND_ModelName(model, &name), -1);
  snprintf(m->name, sizeof(m->name), "%s", name ? name : "?");
  for (int k = 0; k < K_COUNT; ++k) {
    m->knob[k] = env_long(kKnobEnv[k]);
  }
  TRITONSERVER_Message* config = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_ModelConfig(model, 1, &config);
  if (err != NULL) {
    return err;
  }
  const char* base = NULL;
  size_t size = 0;
  err = TRITONSERVER_MessageSerializeToJson(config, &base, &size);
  if (err == NULL) {
    char* json = malloc(size + 1);
    if (json != NULL) {
      memcpy(json, base, size);
      json[size] = '\0';
      for (int k = 0; k < K_COUNT; ++k) {
        json_param(json, kKnobNames[k], &m->knob[k]);
      }
      free(json);
    }
  }
  drop_error(TRITONSERVER_MessageDelete(config), -1);
  if (err != NULL) {
    return err;
  }
  atomic_store(&m->magic, MAGIC_MODEL);
  err = TRITONBACKEND_ModelSetState(model, m);
  if (err != NULL) {
    atomic_store(&m->magic, MAGIC_DEAD);
    return err;
  }
  INC(model_init);
  return NULL;
}

PROBE_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelFinalize(TRITONBACKEND_Model* model)
{
  backend_live_check();
  void* v = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_ModelState(model, &v);
  if (err != NULL) {
    return err;
  }
  INC(model_fini);
  if (v == NULL) {
    return NULL; /* ModelInitialize failed before setting it */
  }
  if (!model_ptr_ok(v)) {
    INC(model_fini_poisoned);
    return probe_error(TRITONSERVER_ERROR_INTERNAL, "ModelFinalize: not a probe model state");
  }
  probe_model* m = v;
  uint32_t was = atomic_exchange(&m->magic, MAGIC_DEAD);
  if (was != MAGIC_MODEL) {
    INC(model_fini_poisoned);
    return probe_error(TRITONSERVER_ERROR_INTERNAL, "ModelFinalize: model already finalized");
  }
  if (atomic_load(&m->live_instances) > 0) {
    INC(model_fini_live_instances);
  }
  if (free_mode) {
    free(m);
  }
  return NULL;
}

/* ---- instance ---- */

PROBE_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceInitialize(TRITONBACKEND_ModelInstance* instance)
{
  backend_live_check();
  TRITONBACKEND_Model* model = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_ModelInstanceModel(instance, &model);
  if (err != NULL) {
    return err;
  }
  void* mv = NULL;
  err = TRITONBACKEND_ModelState(model, &mv);
  if (err != NULL) {
    return err;
  }
  if (mv == NULL || !model_ptr_ok(mv) || atomic_load(&((probe_model*)mv)->magic) != MAGIC_MODEL) {
    INC(inst_init_model_poisoned);
    return probe_error(TRITONSERVER_ERROR_INTERNAL, "instance initialized on a bad model state");
  }
  probe_instance* s = instance_alloc();
  probe_holds* h = calloc(1, sizeof(*h));
  if (s == NULL || h == NULL) {
    free(h);
    return probe_error(TRITONSERVER_ERROR_INTERNAL, "out of memory");
  }
  memset(s, 0, sizeof(*s));
  atomic_store(&h->refs, 1);
  s->holds = h;
  s->model = mv;
  const char* name = NULL;
  drop_error(TRITONBACKEND_ModelInstanceName(instance, &name), -1);
  snprintf(s->name, sizeof(s->name), "%s", name ? name : "?");
  atomic_store(&s->magic, MAGIC_INSTANCE);
  atomic_fetch_add(&s->model->live_instances, 1);
  err = TRITONBACKEND_ModelInstanceSetState(instance, s);
  if (err != NULL) {
    atomic_fetch_sub(&s->model->live_instances, 1);
    atomic_store(&s->magic, MAGIC_DEAD);
    return err;
  }
  INC(inst_init);
  return NULL;
}

PROBE_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceFinalize(TRITONBACKEND_ModelInstance* instance)
{
  backend_live_check();
  void* v = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_ModelInstanceState(instance, &v);
  if (err != NULL) {
    return err;
  }
  INC(inst_fini);
  if (v == NULL) {
    return NULL; /* ModelInstanceInitialize failed before setting it */
  }
  if (!instance_ptr_ok(v)) {
    INC(fini_bad_state);
    return probe_error(TRITONSERVER_ERROR_INTERNAL, "InstanceFinalize: not a probe state");
  }
  probe_instance* s = v;
  uint32_t was = atomic_exchange(&s->magic, MAGIC_DEAD);
  if (was != MAGIC_INSTANCE) {
    INC(fini_poisoned);
    return probe_error(TRITONSERVER_ERROR_INTERNAL, "InstanceFinalize: already finalized");
  }
  if (atomic_load(&s->execs_in_flight) > 0) {
    INC(fini_while_exec);
  }
  if (atomic_load(&s->hooks_in_flight) > 0) {
    INC(fini_while_hook);
  }
  if (atomic_load(&s->holds->held) > 0) {
    INC(fini_while_holding);
  }
  if (atomic_load(&s->model->magic) != MAGIC_MODEL) {
    INC(inst_fini_model_poisoned);
  } else {
    atomic_fetch_sub(&s->model->live_instances, 1);
  }
  holds_unref(s->holds);
  if (free_mode) {
    free(s);
  }
  return NULL;
}

/* The instance state of `instance`, counted into `poisoned` / `bad` / `null_state` and
 * NULL when it is not a live probe state. */
static probe_instance*
instance_state(TRITONBACKEND_ModelInstance* instance, int poisoned, int bad, int null_state)
{
  void* v = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_ModelInstanceState(instance, &v);
  if (err != NULL) {
    TRITONSERVER_ErrorDelete(err);
    atomic_fetch_add(&counters[bad], 1);
    return NULL;
  }
  if (v == NULL) {
    atomic_fetch_add(&counters[null_state], 1);
    return NULL;
  }
  if (!instance_ptr_ok(v)) {
    atomic_fetch_add(&counters[bad], 1);
    return NULL;
  }
  probe_instance* s = v;
  uint32_t magic = atomic_load(&s->magic);
  if (magic == MAGIC_DEAD) {
    atomic_fetch_add(&counters[poisoned], 1);
    return NULL;
  }
  if (magic != MAGIC_INSTANCE) {
    atomic_fetch_add(&counters[bad], 1);
    return NULL;
  }
  return s;
}

PROBE_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceReady(TRITONBACKEND_ModelInstance* instance)
{
  INC(hook_calls);
  INC(hooks_in_flight);
  backend_live_check();
  probe_instance* s =
      instance_state(instance, C_hook_poisoned, C_hook_bad_state, C_hook_null_state);
  if (s == NULL) {
    DEC(hooks_in_flight);
    return probe_error(TRITONSERVER_ERROR_UNAVAILABLE, "readiness hook on a bad instance state");
  }
  atomic_fetch_add(&s->hooks_in_flight, 1);
  sleep_us(knob(s->model, K_HOOK_SLEEP_US));
  if (atomic_load(&s->magic) != MAGIC_INSTANCE) {
    INC(hook_fini_during);
  }
  atomic_fetch_sub(&s->hooks_in_flight, 1);
  backend_live_check();
  DEC(hooks_in_flight);
  return NULL;
}

/* ---- execute ---- */

/* OUTPUTn = INPUTn for every input of `request`, into `response`. */
static TRITONSERVER_Error*
fill_response(TRITONBACKEND_Request* request, TRITONBACKEND_Response* response)
{
  uint32_t count = 0;
  TRITONSERVER_Error* err = TRITONBACKEND_RequestInputCount(request, &count);
  for (uint32_t i = 0; err == NULL && i < count; ++i) {
    TRITONBACKEND_Input* input = NULL;
    err = TRITONBACKEND_RequestInputByIndex(request, i, &input);
    if (err != NULL) {
      break;
    }
    const char* name = NULL;
    TRITONSERVER_DataType dt;
    const int64_t* shape = NULL;
    uint32_t dims = 0, buffers = 0;
    uint64_t size = 0;
    err = TRITONBACKEND_InputProperties(input, &name, &dt, &shape, &dims, &size, &buffers);
    if (err != NULL) {
      break;
    }
    if (name == NULL || strncmp(name, "INPUT", 5) != 0) {
      return probe_error(TRITONSERVER_ERROR_INVALID_ARG, "input names must start with INPUT");
    }
    char out_name[128];
    snprintf(out_name, sizeof(out_name), "OUTPUT%s", name + 5);
    TRITONBACKEND_Output* output = NULL;
    err = TRITONBACKEND_ResponseOutput(response, &output, out_name, dt, shape, dims);
    if (err != NULL) {
      break;
    }
    void* dst = NULL;
    TRITONSERVER_MemoryType mt = TRITONSERVER_MEMORY_CPU;
    int64_t mt_id = 0;
    err = TRITONBACKEND_OutputBuffer(output, &dst, size, &mt, &mt_id);
    if (err != NULL) {
      break;
    }
    if (mt == TRITONSERVER_MEMORY_GPU || (dst == NULL && size > 0)) {
      return probe_error(TRITONSERVER_ERROR_INTERNAL, "unusable output buffer");
    }
    uint64_t off = 0;
    for (uint32_t b = 0; err == NULL && b < buffers; ++b) {
      const void* src = NULL;
      uint64_t n = 0;
      TRITONSERVER_MemoryType smt = TRITONSERVER_MEMORY_CPU;
      int64_t smt_id = 0;
      err = TRITONBACKEND_InputBuffer(input, b, &src, &n, &smt, &smt_id);
      if (err == NULL && off + n <= size && n > 0) {
        memcpy((char*)dst + off, src, (size_t)n);
      }
      off += n;
    }
  }
  return err;
}

/* Respond to `request` (through `factory` when non-NULL, which is then deleted) and
 * release it. */
static void
complete_request(TRITONBACKEND_Request* request, TRITONBACKEND_ResponseFactory* factory)
{
  TRITONBACKEND_Response* response = NULL;
  TRITONSERVER_Error* err = factory != NULL
                                ? TRITONBACKEND_ResponseNewFromFactory(&response, factory)
                                : TRITONBACKEND_ResponseNew(&response, request);
  if (err != NULL) {
    drop_error(err, C_send_errors);
  } else {
    TRITONSERVER_Error* result = fill_response(request, response);
    err = TRITONBACKEND_ResponseSend(response, TRITONSERVER_RESPONSE_COMPLETE_FINAL, result);
    TRITONSERVER_ErrorDelete(result);
    if (err != NULL) {
      drop_error(err, C_send_errors);
    } else {
      INC(responses_sent);
    }
  }
  if (factory != NULL) {
    err = TRITONBACKEND_ResponseFactoryDelete(factory);
    if (err != NULL) {
      drop_error(err, C_factory_errors);
    } else {
      INC(factories_deleted);
    }
  }
  err = TRITONBACKEND_RequestRelease(request, TRITONSERVER_REQUEST_RELEASE_ALL);
  if (err != NULL) {
    drop_error(err, C_release_errors);
  } else {
    INC(requests_released);
  }
}

static TRITONBACKEND_ResponseFactory*
new_factory(TRITONBACKEND_Request* request)
{
  TRITONBACKEND_ResponseFactory* f = NULL;
  TRITONSERVER_Error* err = TRITONBACKEND_ResponseFactoryNew(&f, request);
  if (err != NULL) {
    drop_error(err, C_factory_errors);
    return NULL;
  }
  INC(factories_created);
  return f;
}

/* Per-request knobs. */
typedef struct req_knobs {
  long exec_sleep_us, hold_ms, use_factory, never_release;
} req_knobs;

static void
request_knobs(TRITONBACKEND_Request* request, req_knobs* k)
{
  uint32_t n = 0;
  if (TRITONBACKEND_RequestParameterCount(request, &n) != NULL) {
    return;
  }
  for (uint32_t i = 0; i < n; ++i) {
    const char* key = NULL;
    TRITONSERVER_ParameterType type;
    const void* value = NULL;
    TRITONSERVER_Error* err = TRITONBACKEND_RequestParameter(request, i, &key, &type, &value);
    if (err != NULL) {
      TRITONSERVER_ErrorDelete(err);
      continue;
    }
    if (key == NULL || value == NULL) {
      continue;
    }
    long v = type == TRITONSERVER_PARAMETER_INT    ? (long)*(const int64_t*)value
             : type == TRITONSERVER_PARAMETER_BOOL ? (long)*(const bool*)value
                                                   : -1;
    if (v < 0) {
      continue;
    }
    if (strcmp(key, "exec_sleep_us") == 0) {
      k->exec_sleep_us = v;
    } else if (strcmp(key, "hold_ms") == 0) {
      k->hold_ms = v;
    } else if (strcmp(key, "use_factory") == 0) {
      k->use_factory = v;
    } else if (strcmp(key, "never_release") == 0) {
      k->never_release = v;
    }
  }
}

typedef struct hold_job {
  TRITONBACKEND_Request* request;
  TRITONBACKEND_ResponseFactory* factory;
  long hold_ms;
  probe_holds* holds;
} hold_job;

static void*
hold_thread(void* arg)
{
  hold_job* job = arg;
  sleep_us(job->hold_ms * 1000L);
  complete_request(job->request, job->factory);
  atomic_fetch_sub(&job->holds->held, 1);
  holds_unref(job->holds);
  INC(held_completed);
  DEC(holds_in_flight);
  free(job);
  return NULL;
}

/* Requests kept forever (never_release), reachable so that leak checkers stay quiet. */
static pthread_mutex_t forever_mu = PTHREAD_MUTEX_INITIALIZER;
static TRITONBACKEND_Request** forever;
static size_t forever_n, forever_cap;

static void
keep_forever(TRITONBACKEND_Request* request)
{
  pthread_mutex_lock(&forever_mu);
  if (forever_n == forever_cap) {
    size_t cap = forever_cap ? forever_cap * 2 : 64;
    TRITONBACKEND_Request** p = realloc(forever, cap * sizeof(*p));
    if (p != NULL) {
      forever = p;
      forever_cap = cap;
    }
  }
  if (forever_n < forever_cap) {
    forever[forever_n++] = request;
  }
  pthread_mutex_unlock(&forever_mu);
  INC(held_forever);
}

PROBE_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceExecute(
    TRITONBACKEND_ModelInstance* instance, TRITONBACKEND_Request** requests,
    const uint32_t request_count)
{
  INC(exec_calls);
  INC(execs_in_flight);
  backend_live_check();
  probe_instance* s =
      instance_state(instance, C_exec_poisoned, C_exec_bad_state, C_exec_null_state);
  if (s == NULL) {
    DEC(execs_in_flight);
    /* The core answers and releases the requests. */
    return probe_error(TRITONSERVER_ERROR_INTERNAL, "execute on a bad instance state");
  }
  if (atomic_fetch_add(&s->execs_in_flight, 1) > 0) {
    INC(exec_overlap_same_instance);
  }
  probe_model* m = s->model;
  if (atomic_load(&m->magic) != MAGIC_MODEL) {
    INC(exec_model_poisoned);
  }
  ADD(exec_requests, request_count);

  req_knobs base = {
      knob(m, K_EXEC_SLEEP_US), knob(m, K_HOLD_MS), knob(m, K_USE_FACTORY),
      knob(m, K_NEVER_RELEASE)};
  req_knobs* k = calloc(request_count ? request_count : 1, sizeof(req_knobs));
  if (k == NULL) {
    atomic_fetch_sub(&s->execs_in_flight, 1);
    DEC(execs_in_flight);
    return probe_error(TRITONSERVER_ERROR_INTERNAL, "out of memory");
  }
  long sleep = 0;
  for (uint32_t r = 0; r < request_count; ++r) {
    k[r] = base;
    request_knobs(requests[r], &k[r]);
    if (k[r].exec_sleep_us > sleep) {
      sleep = k[r].exec_sleep_us;
    }
  }
  sleep_us(sleep);

  for (uint32_t r = 0; r < request_count; ++r) {
    TRITONBACKEND_Request* request = requests[r];
    if (k[r].never_release > 0) {
      keep_forever(request);
      continue;
    }
    TRITONBACKEND_ResponseFactory* f = k[r].use_factory > 0 ? new_factory(request) : NULL;
    if (k[r].hold_ms > 0) {
      hold_job* job = calloc(1, sizeof(*job));
      if (job != NULL) {
        job->request = request;
        job->factory = f;
        job->hold_ms = k[r].hold_ms;
        job->holds = s->holds;
        atomic_fetch_add(&s->holds->refs, 1);
        atomic_fetch_add(&s->holds->held, 1);
        INC(held_requests);
        INC(holds_in_flight);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, hold_thread, job);
        pthread_attr_destroy(&attr);
        if (rc == 0) {
          continue;
        }
        atomic_fetch_sub(&s->holds->held, 1);
        atomic_fetch_sub(&s->holds->refs, 1);
        DEC(holds_in_flight);
        INC(held_completed);
        free(job);
      }
    }
    complete_request(request, f);
  }
  free(k);

  if (atomic_load(&s->magic) != MAGIC_INSTANCE) {
    INC(exec_fini_during);
  }
  atomic_fetch_sub(&s->execs_in_flight, 1);
  backend_live_check();
  DEC(execs_in_flight);
  return NULL;
}
