/* Test cache 'memory': an in-process map of key -> copies of the entry's buffers, with the
 * same protocol as Triton's local cache: on insert, allocate one buffer per entry buffer,
 * point the entry at them (TRITONCACHE_CacheEntrySetBuffer) and let the core fill them
 * (TRITONCACHE_Copy); on lookup, add the stored buffers (TRITONCACHE_CacheEntryAddBuffer)
 * and let the core copy them out. A key stored twice is ALREADY_EXISTS; a missing key is
 * NOT_FOUND. The configuration must be a JSON object; {"fail": true} fails initialization. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "triton/core/tritoncache.h"

typedef struct item {
  char* key;
  size_t count;
  void** bases;
  size_t* sizes;
  struct item* next;
} item;

typedef struct cache {
  pthread_mutex_t mu;
  item* items;
} cache;

static TRITONSERVER_Error*
error(TRITONSERVER_Error_Code code, const char* msg)
{
  return TRITONSERVER_ErrorNew(code, msg);
}

TRITONSERVER_Error*
TRITONCACHE_CacheInitialize(TRITONCACHE_Cache** out, const char* config)
{
  if (out == NULL || config == NULL || config[0] != '{') {
    return error(TRITONSERVER_ERROR_INVALID_ARG, "memory cache: config must be a JSON object");
  }
  if (strstr(config, "\"fail\": true") != NULL) {
    return error(TRITONSERVER_ERROR_INVALID_ARG, "memory cache: asked to fail");
  }
  cache* c = calloc(1, sizeof(cache));
  if (c == NULL) return error(TRITONSERVER_ERROR_INTERNAL, "oom");
  pthread_mutex_init(&c->mu, NULL);
  *out = (TRITONCACHE_Cache*)c;
  return NULL;
}

static void
free_item(item* it)
{
  for (size_t i = 0; i < it->count; ++i) free(it->bases[i]);
  free(it->bases);
  free(it->sizes);
  free(it->key);
  free(it);
}

TRITONSERVER_Error*
TRITONCACHE_CacheFinalize(TRITONCACHE_Cache* opaque)
{
  cache* c = (cache*)opaque;
  if (c == NULL) return error(TRITONSERVER_ERROR_INVALID_ARG, "cache is NULL");
  while (c->items != NULL) {
    item* next = c->items->next;
    free_item(c->items);
    c->items = next;
  }
  pthread_mutex_destroy(&c->mu);
  free(c);
  return NULL;
}

static item*
find(cache* c, const char* key)
{
  for (item* it = c->items; it != NULL; it = it->next) {
    if (strcmp(it->key, key) == 0) return it;
  }
  return NULL;
}

TRITONSERVER_Error*
TRITONCACHE_CacheInsert(
    TRITONCACHE_Cache* opaque, const char* key, TRITONCACHE_CacheEntry* entry,
    TRITONCACHE_Allocator* allocator)
{
  cache* c = (cache*)opaque;
  pthread_mutex_lock(&c->mu);
  if (find(c, key) != NULL) {
    pthread_mutex_unlock(&c->mu);
    return error(TRITONSERVER_ERROR_ALREADY_EXISTS, "key already in the memory cache");
  }
  pthread_mutex_unlock(&c->mu);
  size_t count = 0;
  TRITONSERVER_Error* err = TRITONCACHE_CacheEntryBufferCount(entry, &count);
  if (err != NULL) return err;
  item* it = calloc(1, sizeof(item));
  it->key = strdup(key);
  it->count = count;
  it->bases = calloc(count, sizeof(void*));
  it->sizes = calloc(count, sizeof(size_t));
  TRITONSERVER_BufferAttributes* attrs = NULL;
  err = TRITONSERVER_BufferAttributesNew(&attrs);
  for (size_t i = 0; err == NULL && i < count; ++i) {
    void* placeholder = NULL;
    err = TRITONCACHE_CacheEntryGetBuffer(entry, i, &placeholder, attrs);
    if (err == NULL) err = TRITONSERVER_BufferAttributesByteSize(attrs, &it->sizes[i]);
    if (err == NULL) {
      it->bases[i] = malloc(it->sizes[i] > 0 ? it->sizes[i] : 1);
      err = TRITONCACHE_CacheEntrySetBuffer(entry, i, it->bases[i], NULL);
    }
  }
  if (attrs != NULL) TRITONSERVER_BufferAttributesDelete(attrs);
  if (err == NULL) err = TRITONCACHE_Copy(allocator, entry);
  if (err != NULL) {
    free_item(it);
    return err;
  }
  pthread_mutex_lock(&c->mu);
  it->next = c->items;
  c->items = it;
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

TRITONSERVER_Error*
TRITONCACHE_CacheLookup(
    TRITONCACHE_Cache* opaque, const char* key, TRITONCACHE_CacheEntry* entry,
    TRITONCACHE_Allocator* allocator)
{
  cache* c = (cache*)opaque;
  pthread_mutex_lock(&c->mu);
  item* it = find(c, key);
  if (it == NULL) {
    pthread_mutex_unlock(&c->mu);
    return error(TRITONSERVER_ERROR_NOT_FOUND, "key not in the memory cache");
  }
  TRITONSERVER_BufferAttributes* attrs = NULL;
  TRITONSERVER_Error* err = TRITONSERVER_BufferAttributesNew(&attrs);
  for (size_t i = 0; err == NULL && i < it->count; ++i) {
    err = TRITONSERVER_BufferAttributesSetByteSize(attrs, it->sizes[i]);
    if (err == NULL) err = TRITONSERVER_BufferAttributesSetMemoryType(attrs, TRITONSERVER_MEMORY_CPU);
    if (err == NULL) err = TRITONCACHE_CacheEntryAddBuffer(entry, it->bases[i], attrs);
  }
  if (attrs != NULL) TRITONSERVER_BufferAttributesDelete(attrs);
  /* Copy while the stored buffers are held. */
  if (err == NULL) err = TRITONCACHE_Copy(allocator, entry);
  pthread_mutex_unlock(&c->mu);
  return err;
}
