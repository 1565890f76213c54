/* Fixtures that need no server, backend or plugin: usable in every context. Each is made on
 * first use in the child running a case. */
#include <stdlib.h>
#include <string.h>

#include "nc.h"

#define NC_ONCE(type, name, ...)   \
  type name(void)                  \
  {                                \
    static type v__;               \
    static bool made__;            \
    if (!made__) {                 \
      __VA_ARGS__                  \
      made__ = true;               \
    }                              \
    return v__;                    \
  }

#define NC_MAKE(what, call)                          \
  do {                                               \
    TRITONSERVER_Error* err__ = (call);              \
    if (err__ != NULL) nc_fixture_failed(what, err__); \
  } while (0)

static int g_user_data;

void*
nc_user_pointer(void)
{
  return &g_user_data;
}

const char*
nc_dir(void)
{
  const char* d = getenv("NC_DIR");
  return d != NULL ? d : "/tmp";
}

const int64_t*
nc_shape(void)
{
  static const int64_t shape[1] = {4};
  return shape;
}

const void*
nc_data(void)
{
  static const float data[4] = {1, 2, 3, 4};
  return data;
}

const double*
nc_buckets(void)
{
  static const double b[2] = {1.0, 2.0};
  return b;
}

const uint64_t*
nc_device_ids(void)
{
  static const uint64_t ids[1] = {0};
  return ids;
}

void*
nc_ipc_handle(void)
{
  static unsigned char h[64];
  return h;
}

void*
nc_cache_buffer(void)
{
  static unsigned char b[16];
  return b;
}

NC_ONCE(TRITONSERVER_ServerOptions*, nc_options,
        NC_MAKE("ServerOptionsNew", TRITONSERVER_ServerOptionsNew(&v__));)

NC_ONCE(TRITONSERVER_Message*, nc_message, {
  static const char json[] = "{\"nc\":1}";
  NC_MAKE("MessageNewFromSerializedJson",
          TRITONSERVER_MessageNewFromSerializedJson(&v__, json, strlen(json)));
})

NC_ONCE(TRITONSERVER_Error*, nc_error,
        v__ = TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INTERNAL, "nc error");
        if (v__ == NULL) nc_fixture_failed("ErrorNew", NULL);)

NC_ONCE(TRITONSERVER_Parameter*, nc_parameter,
        v__ = TRITONSERVER_ParameterNew("nc_label", TRITONSERVER_PARAMETER_STRING, "nc");
        if (v__ == NULL) nc_fixture_failed("ParameterNew", NULL);)

const TRITONSERVER_Parameter**
nc_parameters(void)
{
  static const TRITONSERVER_Parameter* list[1];
  list[0] = nc_parameter();
  return list;
}

NC_ONCE(TRITONSERVER_BufferAttributes*, nc_buffer_attributes, {
  NC_MAKE("BufferAttributesNew", TRITONSERVER_BufferAttributesNew(&v__));
  NC_MAKE("BufferAttributesSetByteSize", TRITONSERVER_BufferAttributesSetByteSize(v__, 16));
  NC_MAKE("BufferAttributesSetMemoryType",
          TRITONSERVER_BufferAttributesSetMemoryType(v__, TRITONSERVER_MEMORY_CPU));
})

TRITONSERVER_BufferAttributes**
nc_usage(void)
{
  static TRITONSERVER_BufferAttributes* list[1];
  list[0] = nc_buffer_attributes();
  return list;
}

static TRITONSERVER_Error*
nc_alloc_fn(
    TRITONSERVER_ResponseAllocator* allocator, const char* tensor_name, size_t byte_size,
    TRITONSERVER_MemoryType memory_type, int64_t memory_type_id, void* userp, void** buffer,
    void** buffer_userp, TRITONSERVER_MemoryType* actual_memory_type,
    int64_t* actual_memory_type_id)
{
  (void)allocator;
  (void)tensor_name;
  (void)memory_type;
  (void)memory_type_id;
  (void)userp;
  *buffer = malloc(byte_size > 0 ? byte_size : 1);
  *buffer_userp = NULL;
  *actual_memory_type = TRITONSERVER_MEMORY_CPU;
  *actual_memory_type_id = 0;
  return NULL;
}

static TRITONSERVER_Error*
nc_release_fn(
    TRITONSERVER_ResponseAllocator* allocator, void* buffer, void* buffer_userp,
    size_t byte_size, TRITONSERVER_MemoryType memory_type, int64_t memory_type_id)
{
  (void)allocator;
  (void)buffer_userp;
  (void)byte_size;
  (void)memory_type;
  (void)memory_type_id;
  free(buffer);
  return NULL;
}

NC_ONCE(TRITONSERVER_ResponseAllocator*, nc_allocator,
        NC_MAKE("ResponseAllocatorNew",
                TRITONSERVER_ResponseAllocatorNew(&v__, nc_alloc_fn, nc_release_fn, NULL));)

static void
nc_trace_activity(
    TRITONSERVER_InferenceTrace* trace, TRITONSERVER_InferenceTraceActivity activity,
    uint64_t ns, void* userp)
{
  (void)trace;
  (void)activity;
  (void)ns;
  (void)userp;
}

static void
nc_trace_release(TRITONSERVER_InferenceTrace* trace, void* userp)
{
  (void)trace;
  (void)userp;
}

NC_ONCE(TRITONSERVER_InferenceTrace*, nc_trace,
        NC_MAKE("InferenceTraceNew",
                TRITONSERVER_InferenceTraceNew(
                    &v__, TRITONSERVER_TRACE_LEVEL_TIMESTAMPS, 0, nc_trace_activity,
                    nc_trace_release, NULL));)

NC_ONCE(TRITONSERVER_MetricFamily*, nc_metric_family,
        NC_MAKE("MetricFamilyNew(counter)",
                TRITONSERVER_MetricFamilyNew(
                    &v__, TRITONSERVER_METRIC_KIND_COUNTER, "nc_counter", "nc counter"));)

NC_ONCE(TRITONSERVER_MetricFamily*, nc_histogram_family,
        NC_MAKE("MetricFamilyNew(histogram)",
                TRITONSERVER_MetricFamilyNew(
                    &v__, TRITONSERVER_METRIC_KIND_HISTOGRAM, "nc_histogram",
                    "nc histogram"));)

NC_ONCE(TRITONSERVER_MetricArgs*, nc_metric_args, {
  NC_MAKE("MetricArgsNew", TRITONSERVER_MetricArgsNew(&v__));
  NC_MAKE("MetricArgsSetHistogram", TRITONSERVER_MetricArgsSetHistogram(v__, nc_buckets(), 2));
})

NC_ONCE(TRITONSERVER_Metric*, nc_metric,
        NC_MAKE("MetricNew",
                TRITONSERVER_MetricNew(&v__, nc_metric_family(), nc_parameters(), 1));)

NC_ONCE(TRITONCACHE_CacheEntry*, nc_cache_entry,
        NC_MAKE("CacheEntryNew", TRITONCACHE_CacheEntryNew(&v__));)

/* The model configuration, as TRITONBACKEND_ModelSetConfig wants it: the current one. */
__attribute__((weak)) TRITONSERVER_Message*
nc_model_config(void)
{
  return nc_message();
}
