/* Test backend 'nullargs' for api_null_all. Executes like an identity model (OUTPUT0 = INPUT0).
 * When the server runs the plugin phase (NC_PLUGIN_PHASE set), it also runs the NULL-argument
 * cases of context "backend_attr" from TRITONBACKEND_GetBackendAttribute, and those of
 * context "backend" from ModelInstanceExecute for a request carrying bool parameter nc_run,
 * with that request, its instance, model and backend as fixtures. */
#include <stdlib.h>
#include <string.h>

#include "nc.h"

#define NC_EXPORT __attribute__((visibility("default")))

static TRITONBACKEND_ModelInstance* g_instance;
static TRITONBACKEND_Request* g_request;
static TRITONBACKEND_BackendAttribute* g_attributes;

static bool
plugin_phase(void)
{
  return getenv("NC_PLUGIN_PHASE") != NULL;
}

#define NC_GET(what, call)                             \
  do {                                                 \
    TRITONSERVER_Error* err__ = (call);                \
    if (err__ != NULL) nc_fixture_failed(what, err__); \
  } while (0)

TRITONBACKEND_ModelInstance*
nc_instance(void)
{
  return g_instance;
}

TRITONBACKEND_Request*
nc_brequest(void)
{
  return g_request;
}

TRITONBACKEND_BackendAttribute*
nc_backend_attribute(void)
{
  return g_attributes;
}

TRITONBACKEND_Model*
nc_model(void)
{
  TRITONBACKEND_Model* m = NULL;
  NC_GET("ModelInstanceModel", TRITONBACKEND_ModelInstanceModel(g_instance, &m));
  return m;
}

TRITONBACKEND_Backend*
nc_backend(void)
{
  TRITONBACKEND_Backend* b = NULL;
  NC_GET("ModelBackend", TRITONBACKEND_ModelBackend(nc_model(), &b));
  return b;
}

TRITONSERVER_Message*
nc_model_config(void)
{
  TRITONSERVER_Message* m = NULL;
  NC_GET("ModelConfig", TRITONBACKEND_ModelConfig(nc_model(), 1, &m));
  return m;
}

TRITONBACKEND_Response*
nc_bresponse(void)
{
  TRITONBACKEND_Response* r = NULL;
  NC_GET("ResponseNew", TRITONBACKEND_ResponseNew(&r, g_request));
  return r;
}

TRITONBACKEND_Output*
nc_output(void)
{
  TRITONBACKEND_Output* o = NULL;
  NC_GET("ResponseOutput", TRITONBACKEND_ResponseOutput(
                               nc_bresponse(), &o, "OUTPUT0", TRITONSERVER_TYPE_FP32,
                               nc_shape(), 1));
  return o;
}

TRITONBACKEND_Response*
nc_bresponse_with_output(void)
{
  TRITONBACKEND_Response* r = nc_bresponse();
  TRITONBACKEND_Output* o = NULL;
  NC_GET("ResponseOutput", TRITONBACKEND_ResponseOutput(
                               r, &o, "OUTPUT0", TRITONSERVER_TYPE_FP32, nc_shape(), 1));
  return r;
}

TRITONBACKEND_ResponseFactory*
nc_factory(void)
{
  TRITONBACKEND_ResponseFactory* f = NULL;
  NC_GET("ResponseFactoryNew", TRITONBACKEND_ResponseFactoryNew(&f, g_request));
  return f;
}

TRITONBACKEND_Input*
nc_input(void)
{
  TRITONBACKEND_Input* in = NULL;
  NC_GET("RequestInput", TRITONBACKEND_RequestInput(g_request, "INPUT0", &in));
  return in;
}

TRITONBACKEND_State*
nc_state(void)
{
  static const int64_t shape[1] = {1};
  TRITONBACKEND_State* s = NULL;
  NC_GET("StateNew", TRITONBACKEND_StateNew(
                         &s, g_request, "STATE_OUT", TRITONSERVER_TYPE_FP32, shape, 1));
  return s;
}

TRITONBACKEND_MemoryManager*
nc_memory_manager(void)
{
  TRITONBACKEND_MemoryManager* mm = NULL;
  NC_GET("BackendMemoryManager", TRITONBACKEND_BackendMemoryManager(nc_backend(), &mm));
  return mm;
}

void*
nc_mm_buffer(void)
{
  void* b = NULL;
  NC_GET("MemoryManagerAllocate", TRITONBACKEND_MemoryManagerAllocate(
                                      nc_memory_manager(), &b, TRITONSERVER_MEMORY_CPU, 0,
                                      16));
  return b;
}

TRITONBACKEND_ModelInstanceResponseStatistics*
nc_response_statistics(void)
{
  TRITONBACKEND_ModelInstanceResponseStatistics* s = NULL;
  NC_GET("ModelInstanceResponseStatisticsNew",
         TRITONBACKEND_ModelInstanceResponseStatisticsNew(&s));
  NC_GET("ModelInstanceResponseStatisticsSetModelInstance",
         TRITONBACKEND_ModelInstanceResponseStatisticsSetModelInstance(s, g_instance));
  NC_GET("ModelInstanceResponseStatisticsSetResponseFactory",
         TRITONBACKEND_ModelInstanceResponseStatisticsSetResponseFactory(s, nc_factory()));
  return s;
}

/* ---- entry points ---- */

NC_EXPORT TRITONSERVER_Error*
TRITONBACKEND_GetBackendAttribute(
    TRITONBACKEND_Backend* backend, TRITONBACKEND_BackendAttribute* attributes)
{
  (void)backend;
  static bool ran;
  if (plugin_phase() && !ran) {
    ran = true;
    g_attributes = attributes;
    nc_run_context(NC_CTX_BACKEND_ATTR);
    g_attributes = NULL;
  }
  return NULL;
}

static bool
wants_cases(TRITONBACKEND_Request* request)
{
  uint32_t n = 0;
  if (TRITONBACKEND_RequestParameterCount(request, &n) != NULL) return false;
  for (uint32_t i = 0; i < n; ++i) {
    const char* key = NULL;
    TRITONSERVER_ParameterType type;
    const void* value = NULL;
    TRITONSERVER_Error* err = TRITONBACKEND_RequestParameter(request, i, &key, &type, &value);
    if (err != NULL) {
      TRITONSERVER_ErrorDelete(err);
      return false;
    }
    if (strcmp(key, "nc_run") == 0 && type == TRITONSERVER_PARAMETER_BOOL) {
      return *(const bool*)value;
    }
  }
  return false;
}

/* OUTPUT0 = INPUT0. */
static TRITONSERVER_Error*
identity(TRITONBACKEND_Request* request, TRITONBACKEND_Response* response)
{
  TRITONBACKEND_Input* in = NULL;
  TRITONSERVER_DataType dt;
  const int64_t* shape = NULL;
  uint32_t dims = 0, buffers = 0;
  uint64_t size = 0;
  TRITONSERVER_Error* err = TRITONBACKEND_RequestInput(request, "INPUT0", &in);
  if (err == NULL) {
    err = TRITONBACKEND_InputProperties(in, NULL, &dt, &shape, &dims, &size, &buffers);
  }
  TRITONBACKEND_Output* out = NULL;
  if (err == NULL) err = TRITONBACKEND_ResponseOutput(response, &out, "OUTPUT0", dt, shape, dims);
  void* dst = NULL;
  TRITONSERVER_MemoryType mt = TRITONSERVER_MEMORY_CPU;
  int64_t mt_id = 0;
  if (err == NULL) err = TRITONBACKEND_OutputBuffer(out, &dst, size, &mt, &mt_id);
  uint64_t off = 0;
  for (uint32_t i = 0; err == NULL && i < buffers; ++i) {
    const void* src = NULL;
    uint64_t n = 0;
    TRITONSERVER_MemoryType smt = TRITONSERVER_MEMORY_CPU;
    int64_t smt_id = 0;
    err = TRITONBACKEND_InputBuffer(in, i, &src, &n, &smt, &smt_id);
    if (err == NULL && off + n <= size) {
      memcpy((char*)dst + off, src, n);
      off += n;
    }
  }
  return err;
}

NC_EXPORT TRITONSERVER_Error*
TRITONBACKEND_ModelInstanceExecute(
    TRITONBACKEND_ModelInstance* instance, TRITONBACKEND_Request** requests,
    const uint32_t request_count)
{
  for (uint32_t r = 0; r < request_count; ++r) {
    TRITONBACKEND_Request* request = requests[r];
    if (plugin_phase() && wants_cases(request)) {
      g_instance = instance;
      g_request = request;
      nc_run_context(NC_CTX_BACKEND);
      g_instance = NULL;
      g_request = NULL;
    }
    TRITONBACKEND_Response* response = NULL;
    TRITONSERVER_Error* err = TRITONBACKEND_ResponseNew(&response, request);
    if (err == NULL) {
      TRITONSERVER_Error* failure = identity(request, response);
      err = TRITONBACKEND_ResponseSend(
          response, TRITONSERVER_RESPONSE_COMPLETE_FINAL, failure);
      TRITONSERVER_ErrorDelete(failure);
    }
    TRITONSERVER_ErrorDelete(err);
    TRITONSERVER_ErrorDelete(
        TRITONBACKEND_RequestRelease(request, TRITONSERVER_REQUEST_RELEASE_ALL));
  }
  return NULL;
}
