/* Test cache 'nullargs' for api_null_all: stores nothing (every lookup misses). In the plugin
 * phase (NC_PLUGIN_PHASE set) its first insert runs the NULL-argument cases of context
 * "cache", with that insert's entry and allocator as fixtures. */
#include <stdlib.h>

#include "nc.h"

static TRITONCACHE_CacheEntry* g_entry;
static TRITONCACHE_Allocator* g_allocator;
static int g_cache_object;

TRITONCACHE_CacheEntry*
nc_insert_entry(void)
{
  return g_entry;
}

TRITONCACHE_Allocator*
nc_cache_allocator(void)
{
  return g_allocator;
}

TRITONSERVER_Error*
TRITONCACHE_CacheInitialize(TRITONCACHE_Cache** cache, const char* config)
{
  (void)config;
  *cache = (TRITONCACHE_Cache*)&g_cache_object;
  return NULL;
}

TRITONSERVER_Error*
TRITONCACHE_CacheFinalize(TRITONCACHE_Cache* cache)
{
  (void)cache;
  return NULL;
}

TRITONSERVER_Error*
TRITONCACHE_CacheLookup(
    TRITONCACHE_Cache* cache, const char* key, TRITONCACHE_CacheEntry* entry,
    TRITONCACHE_Allocator* allocator)
{
  (void)cache;
  (void)key;
  (void)entry;
  (void)allocator;
  return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_NOT_FOUND, "nullargs cache stores nothing");
}

TRITONSERVER_Error*
TRITONCACHE_CacheInsert(
    TRITONCACHE_Cache* cache, const char* key, TRITONCACHE_CacheEntry* entry,
    TRITONCACHE_Allocator* allocator)
{
  (void)cache;
  (void)key;
  static bool ran;
  if (getenv("NC_PLUGIN_PHASE") != NULL && !ran) {
    ran = true;
    g_entry = entry;
    g_allocator = allocator;
    nc_run_context(NC_CTX_CACHE);
    g_entry = NULL;
    g_allocator = NULL;
  }
  return NULL;
}
