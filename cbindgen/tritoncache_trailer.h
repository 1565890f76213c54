/*
 * Entry points a cache library (<cache-dir>/<name>/libtritoncache_<name>.so) implements and the
 * core looks up by name; all four are required. CacheInitialize gets the JSON configuration
 * given to TRITONSERVER_ServerOptionsSetCacheConfig and creates the cache object, which
 * CacheFinalize frees. CacheInsert gets an entry with one buffer size per response: set your
 * own buffers with TRITONCACHE_CacheEntrySetBuffer, then call TRITONCACHE_Copy to fill them.
 * CacheLookup adds the stored buffers with TRITONCACHE_CacheEntryAddBuffer, then calls
 * TRITONCACHE_Copy; return an error (TRITONSERVER_ERROR_NOT_FOUND) on a miss.
 */
#ifdef __cplusplus
extern "C" {
#endif

TRITONCACHE_ISPEC TRITONSERVER_Error* TRITONCACHE_CacheInitialize(
    TRITONCACHE_Cache** cache, const char* config);
TRITONCACHE_ISPEC TRITONSERVER_Error* TRITONCACHE_CacheFinalize(
    TRITONCACHE_Cache* cache);
TRITONCACHE_ISPEC TRITONSERVER_Error* TRITONCACHE_CacheInsert(
    TRITONCACHE_Cache* cache, const char* key, TRITONCACHE_CacheEntry* entry,
    TRITONCACHE_Allocator* allocator);
TRITONCACHE_ISPEC TRITONSERVER_Error* TRITONCACHE_CacheLookup(
    TRITONCACHE_Cache* cache, const char* key, TRITONCACHE_CacheEntry* entry,
    TRITONCACHE_Allocator* allocator);

#ifdef __cplusplus
}
#endif
