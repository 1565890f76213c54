/* tcbench: in-process benchmark driver for libtritonserver.so (ours or upstream's).
 *
 *   tcbench --core PATH --backend-dir DIR --work DIR --scenario NAME [--quick]
 *   tcbench --work DIR --prepare          (write the model repositories once)
 *
 * The driver links no libtritonserver: it dlopen()s the core given by --core with
 * RTLD_GLOBAL and resolves every TRITONSERVER_* function it uses with dlsym. The backend
 * (bench/backends/identity) has DT_NEEDED libtritonserver.so and no RPATH, so it must bind
 * to the core already loaded. For a core whose SONAME is not libtritonserver.so (the
 * wheel's libtritonserver-717102f0.so; a core named libtritonserver.so is used in place),
 * the driver makes <work>/cores/<name>/
 * libtritonserver.so -> core, puts that directory and the core's own directory (its
 * bundled dependencies) first on LD_LIBRARY_PATH and re-executes itself once; glibc then
 * recognises the backend's libtritonserver.so as the file already mapped. After the
 * server has loaded the backend, /proc/self/maps must show exactly one libtritonserver
 * file mapped: otherwise the run fails.
 *
 * Output: "RESULT <figure> <stat> <value>" lines on stdout (times in microseconds unless
 * the stat name says otherwise); everything else on stderr.
 *
 * Scenarios (each meant to run in a fresh process):
 *   infer_fp32   InferAsync round trip, 1 in flight, FP32[16] (model fp32, 1 instance)
 *   infer_1mb    the same with UINT8[1048576] (model u8mb)
 *   tput         8 and 64 in flight on model tput2 (2 instances): req/s, p50, p99
 *   models1 / models100 / models1000
 *                ServerIsReady and ServerModelIsReady latency with N models loaded
 *                (1 instance each); models1000 adds startup-to-ready, VmRSS/VmHWM and
 *                ServerStop+ServerDelete time
 *   ready_infer  ServerIsReady probed every 200 us: idle, then while 64 inferences are in
 *                flight on tput2
 *   ready_loading ServerIsReady probed every 200 us: idle, then while another thread
 *                loads and unloads 10 models in a loop (EXPLICIT mode, 100 models loaded)
 *
 * A round trip is timed from InferenceRequestNew to the caller holding both the final
 * response and the released request, then ResponseDelete + RequestDelete: what a frontend
 * pays per request. Output buffers come from a per-slot preallocated buffer (the
 * allocator's userp), so the allocator itself costs nothing. The first responses of each
 * run are checked byte for byte against the input. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "triton/core/tritonserver.h"

/* ---------------------------------------------------------------- core symbols ---- */

#define API_LIST(X)                                   \
  X(TRITONSERVER_ErrorDelete)                         \
  X(TRITONSERVER_ErrorMessage)                        \
  X(TRITONSERVER_ErrorCodeString)                     \
  X(TRITONSERVER_ServerOptionsNew)                    \
  X(TRITONSERVER_ServerOptionsDelete)                 \
  X(TRITONSERVER_ServerOptionsSetModelRepositoryPath) \
  X(TRITONSERVER_ServerOptionsSetModelControlMode)    \
  X(TRITONSERVER_ServerOptionsSetStartupModel)        \
  X(TRITONSERVER_ServerOptionsSetStrictModelConfig)   \
  X(TRITONSERVER_ServerOptionsSetStrictReadiness)     \
  X(TRITONSERVER_ServerOptionsSetBackendDirectory)    \
  X(TRITONSERVER_ServerOptionsSetLogInfo)             \
  X(TRITONSERVER_ServerOptionsSetLogWarn)             \
  X(TRITONSERVER_ServerOptionsSetLogError)            \
  X(TRITONSERVER_ServerOptionsSetLogVerbose)          \
  X(TRITONSERVER_ServerOptionsSetExitTimeout)         \
  X(TRITONSERVER_ServerOptionsSetMetrics)             \
  X(TRITONSERVER_ServerOptionsSetGpuMetrics)          \
  X(TRITONSERVER_ServerOptionsSetPinnedMemoryPoolByteSize) \
  X(TRITONSERVER_ServerNew)                           \
  X(TRITONSERVER_ServerDelete)                        \
  X(TRITONSERVER_ServerStop)                          \
  X(TRITONSERVER_ServerIsReady)                       \
  X(TRITONSERVER_ServerModelIsReady)                  \
  X(TRITONSERVER_ServerLoadModel)                     \
  X(TRITONSERVER_ServerUnloadModel)                   \
  X(TRITONSERVER_ServerInferAsync)                    \
  X(TRITONSERVER_ResponseAllocatorNew)                \
  X(TRITONSERVER_ResponseAllocatorDelete)             \
  X(TRITONSERVER_InferenceRequestNew)                 \
  X(TRITONSERVER_InferenceRequestDelete)              \
  X(TRITONSERVER_InferenceRequestAddInput)            \
  X(TRITONSERVER_InferenceRequestAppendInputData)     \
  X(TRITONSERVER_InferenceRequestSetReleaseCallback)  \
  X(TRITONSERVER_InferenceRequestSetResponseCallback) \
  X(TRITONSERVER_InferenceResponseDelete)             \
  X(TRITONSERVER_InferenceResponseError)              \
  X(TRITONSERVER_InferenceResponseOutputCount)        \
  X(TRITONSERVER_InferenceResponseOutput)

#define API_DECL(f) __typeof__(&f) f;
static struct {
  API_LIST(API_DECL)
} api;
#define T(f) api.TRITONSERVER_##f

/* ------------------------------------------------------------------- helpers ---- */

static void die(const char* fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void
die(const char* fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "tcbench: error: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

/* Consume err; die with `what` if it is an error. */
static void
ok_or_die(TRITONSERVER_Error* err, const char* what)
{
  if (err != NULL) {
    die("%s: %s: %s", what, T(ErrorCodeString)(err), T(ErrorMessage)(err));
  }
}

/* Consume err; returns true if it was NULL. */
static bool
ok(TRITONSERVER_Error* err)
{
  if (err == NULL) {
    return true;
  }
  T(ErrorDelete)(err);
  return false;
}

static uint64_t
now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
sleep_us(long us)
{
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void
result(const char* figure, const char* stat, double value)
{
  printf("RESULT %s %s %.3f\n", figure, stat, value);
  fflush(stdout);
}

/* Latency samples (ns). */
typedef struct samples {
  uint64_t* v;
  size_t n, cap;
} samples;

static void
samples_init(samples* s, size_t cap)
{
  s->v = malloc(cap * sizeof(uint64_t));
  if (s->v == NULL) {
    die("out of memory");
  }
  s->n = 0;
  s->cap = cap;
}

static void
samples_add(samples* s, uint64_t ns)
{
  if (s->n == s->cap) {
    s->cap *= 2;
    s->v = realloc(s->v, s->cap * sizeof(uint64_t));
    if (s->v == NULL) {
      die("out of memory");
    }
  }
  s->v[s->n++] = ns;
}

static int
cmp_u64(const void* a, const void* b)
{
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

/* Print <figure> p50_us, p99_us, mean_us and n. */
static void
samples_report(samples* s, const char* figure)
{
  if (s->n == 0) {
    die("%s: no samples", figure);
  }
  qsort(s->v, s->n, sizeof(uint64_t), cmp_u64);
  double sum = 0;
  for (size_t i = 0; i < s->n; ++i) {
    sum += (double)s->v[i];
  }
  result(figure, "p50_us", (double)s->v[s->n / 2] / 1e3);
  result(figure, "p99_us", (double)s->v[(s->n * 99) / 100] / 1e3);
  result(figure, "mean_us", sum / (double)s->n / 1e3);
  result(figure, "n", (double)s->n);
}

static void
write_file(const char* path, const char* text)
{
  FILE* f = fopen(path, "w");
  if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
    die("write %s: %s", path, strerror(errno));
  }
}

static void
mkdir_p(const char* path)
{
  char buf[PATH_MAX];
  snprintf(buf, sizeof(buf), "%s", path);
  for (char* p = buf + 1; *p; ++p) {
    if (*p == '/') {
      *p = '\0';
      if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        die("mkdir %s: %s", buf, strerror(errno));
      }
      *p = '/';
    }
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
    die("mkdir %s: %s", buf, strerror(errno));
  }
}

/* /proc/self/status field in kB (-1 if absent). */
static long
status_kb(const char* field)
{
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) {
    return -1;
  }
  char line[256];
  long v = -1;
  size_t len = strlen(field);
  while (fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, field, len) == 0 && line[len] == ':') {
      v = strtol(line + len + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

/* --------------------------------------------------------- model repositories ---- */

static void
write_model(const char* repo, const char* name, const char* dtype, long dim, int instances)
{
  char dir[PATH_MAX], path[PATH_MAX + 32], config[1024];
  snprintf(dir, sizeof(dir), "%s/%s/1", repo, name);
  mkdir_p(dir);
  snprintf(path, sizeof(path), "%s/%s/config.pbtxt", repo, name);
  snprintf(config, sizeof(config),
           "name: \"%s\"\n"
           "backend: \"identity\"\n"
           "max_batch_size: 0\n"
           "input [ { name: \"INPUT0\" data_type: %s dims: [ %ld ] } ]\n"
           "output [ { name: \"OUTPUT0\" data_type: %s dims: [ %ld ] } ]\n"
           "instance_group [ { count: %d kind: KIND_CPU } ]\n",
           name, dtype, dim, dtype, dim, instances);
  write_file(path, config);
}

static void
prepare(const char* work)
{
  char repo[PATH_MAX], name[64];
  snprintf(repo, sizeof(repo), "%s/repos/infer", work);
  write_model(repo, "fp32", "TYPE_FP32", 16, 1);
  write_model(repo, "u8mb", "TYPE_UINT8", 1048576, 1);
  write_model(repo, "tput2", "TYPE_FP32", 16, 2);
  static const int counts[] = {1, 100, 1000};
  for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); ++c) {
    snprintf(repo, sizeof(repo), "%s/repos/models%d", work, counts[c]);
    for (int i = 0; i < counts[c]; ++i) {
      snprintf(name, sizeof(name), "m%04d", i);
      write_model(repo, name, "TYPE_FP32", 16, 1);
    }
  }
  snprintf(repo, sizeof(repo), "%s/repos/loading", work);
  for (int i = 0; i < 100; ++i) {
    snprintf(name, sizeof(name), "m%04d", i);
    write_model(repo, name, "TYPE_FP32", 16, 1);
  }
  for (int i = 0; i < 10; ++i) {
    snprintf(name, sizeof(name), "churn%02d", i);
    write_model(repo, name, "TYPE_FP32", 16, 1);
  }
  snprintf(repo, sizeof(repo), "%s/repos/.prepared", work);
  write_file(repo, "v1\n");
}

/* ------------------------------------------------------------------ the core ---- */

static char g_linkdir[PATH_MAX];

/* Re-execute with LD_LIBRARY_PATH = <linkdir>:<core dir>[:old] unless already done. */
static void
setup_core_env(const char* core, const char* work, char** argv)
{
  const char* done = getenv("TCBENCH_CORE_LINKDIR");
  if (done != NULL) {
    snprintf(g_linkdir, sizeof(g_linkdir), "%s", done);
    return;
  }
  char real[PATH_MAX];
  if (realpath(core, real) == NULL) {
    die("core %s: %s", core, strerror(errno));
  }
  /* A core whose file name is libtritonserver.so (ours) is used in place: its SONAME is
   * what the backend needs, so no re-exec is needed either. */
  char given[PATH_MAX];
  snprintf(given, sizeof(given), "%s", core);
  const char* gbase = strrchr(given, '/') ? strrchr(given, '/') + 1 : given;
  if (strcmp(gbase, "libtritonserver.so") == 0) {
    if (gbase == given) {
      snprintf(g_linkdir, sizeof(g_linkdir), ".");
    } else {
      given[gbase - given - 1] = '\0';
      snprintf(g_linkdir, sizeof(g_linkdir), "%s", given[0] ? given : "/");
    }
    return;
  }
  /* <work>/cores/<basename without .so...>/libtritonserver.so -> real */
  const char* base = strrchr(real, '/') + 1;
  char tag[256];
  snprintf(tag, sizeof(tag), "%s", base);
  char* dot = strstr(tag, ".so");
  if (dot != NULL) {
    *dot = '\0';
  }
  /* Distinguish two cores with the same file name by their directory's inode. */
  struct stat st;
  if (stat(real, &st) != 0) {
    die("stat %s: %s", real, strerror(errno));
  }
  snprintf(g_linkdir, sizeof(g_linkdir), "%s/cores/%s-%lx", work, tag, (unsigned long)st.st_ino);
  mkdir_p(g_linkdir);
  char link[PATH_MAX + 32], cur[PATH_MAX];
  snprintf(link, sizeof(link), "%s/libtritonserver.so", g_linkdir);
  ssize_t n = readlink(link, cur, sizeof(cur) - 1);
  if (n < 0 || (size_t)n != strlen(real) || strncmp(cur, real, (size_t)n) != 0) {
    unlink(link);
    if (symlink(real, link) != 0) {
      die("symlink %s: %s", link, strerror(errno));
    }
  }
  char coredir[PATH_MAX];
  snprintf(coredir, sizeof(coredir), "%s", real);
  *strrchr(coredir, '/') = '\0';
  const char* old = getenv("LD_LIBRARY_PATH");
  size_t len = strlen(g_linkdir) + strlen(coredir) + (old ? strlen(old) : 0) + 4;
  char* ldp = malloc(len);
  snprintf(ldp, len, "%s:%s%s%s", g_linkdir, coredir, old && *old ? ":" : "", old ? old : "");
  setenv("LD_LIBRARY_PATH", ldp, 1);
  setenv("TCBENCH_CORE_LINKDIR", g_linkdir, 1);
  /* argv[0] when it is a path (so that valgrind --trace-children=yes follows), else the
   * running executable. */
  execv(strchr(argv[0], '/') != NULL ? argv[0] : "/proc/self/exe", argv);
  die("re-exec: %s", strerror(errno));
}

static void
load_core(void)
{
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/libtritonserver.so", g_linkdir);
  void* h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (h == NULL) {
    die("dlopen %s: %s", path, dlerror());
  }
#define API_LOAD(f)                                  \
  api.f = (__typeof__(&f))dlsym(h, #f);              \
  if (api.f == NULL) {                               \
    die("dlsym %s: %s", #f, dlerror());              \
  }
  API_LIST(API_LOAD)
#undef API_LOAD
}

/* Exactly one libtritonserver file must be mapped; returns its path via `out`. */
static void
check_one_core(char* out, size_t out_len)
{
  FILE* f = fopen("/proc/self/maps", "r");
  if (f == NULL) {
    die("/proc/self/maps: %s", strerror(errno));
  }
  char line[PATH_MAX + 256], paths[8][PATH_MAX];
  int n = 0;
  bool backend = false;
  while (fgets(line, sizeof(line), f) != NULL) {
    char* p = strchr(line, '/');
    if (p == NULL) {
      continue;
    }
    p[strcspn(p, "\n")] = '\0';
    if (strstr(p, "libtriton_identity.so") != NULL) {
      backend = true;
    }
    const char* b = strrchr(p, '/') + 1;
    if (strncmp(b, "libtritonserver", 15) != 0) {
      continue;
    }
    bool seen = false;
    for (int i = 0; i < n; ++i) {
      seen = seen || strcmp(paths[i], p) == 0;
    }
    if (!seen && n < 8) {
      snprintf(paths[n++], PATH_MAX, "%s", p);
    }
  }
  fclose(f);
  if (!backend) {
    die("the identity backend is not mapped: was a model loaded?");
  }
  if (n != 1) {
    for (int i = 0; i < n; ++i) {
      fprintf(stderr, "tcbench: mapped core: %s\n", paths[i]);
    }
    die("%d libtritonserver files mapped, expected exactly 1", n);
  }
  snprintf(out, out_len, "%s", paths[0]);
}

/* ------------------------------------------------------------------ server ---- */

static const char* g_backend_dir;
static const char* g_work;

static TRITONSERVER_Server*
server_start(const char* repo_name, TRITONSERVER_ModelControlMode mode,
             const char* const* startup, double* startup_ms)
{
  char repo[PATH_MAX];
  snprintf(repo, sizeof(repo), "%s/repos/%s", g_work, repo_name);
  TRITONSERVER_ServerOptions* o = NULL;
  ok_or_die(T(ServerOptionsNew)(&o), "ServerOptionsNew");
  ok_or_die(T(ServerOptionsSetModelRepositoryPath)(o, repo), "SetModelRepositoryPath");
  ok_or_die(T(ServerOptionsSetModelControlMode)(o, mode), "SetModelControlMode");
  for (size_t i = 0; startup != NULL && startup[i] != NULL; ++i) {
    ok_or_die(T(ServerOptionsSetStartupModel)(o, startup[i]), "SetStartupModel");
  }
  ok_or_die(T(ServerOptionsSetStrictModelConfig)(o, true), "SetStrictModelConfig");
  ok_or_die(T(ServerOptionsSetStrictReadiness)(o, true), "SetStrictReadiness");
  ok_or_die(T(ServerOptionsSetBackendDirectory)(o, g_backend_dir), "SetBackendDirectory");
  ok_or_die(T(ServerOptionsSetLogInfo)(o, false), "SetLogInfo");
  ok_or_die(T(ServerOptionsSetLogWarn)(o, false), "SetLogWarn");
  ok_or_die(T(ServerOptionsSetLogError)(o, true), "SetLogError");
  ok_or_die(T(ServerOptionsSetLogVerbose)(o, 0), "SetLogVerbose");
  ok_or_die(T(ServerOptionsSetExitTimeout)(o, 30), "SetExitTimeout");
  const char* m = getenv("TCBENCH_METRICS");
  ok_or_die(T(ServerOptionsSetMetrics)(o, !(m != NULL && strcmp(m, "0") == 0)), "SetMetrics");
  ok_or_die(T(ServerOptionsSetGpuMetrics)(o, false), "SetGpuMetrics");
  ok_or_die(T(ServerOptionsSetPinnedMemoryPoolByteSize)(o, 0), "SetPinnedMemoryPoolByteSize");

  uint64_t t0 = now_ns();
  TRITONSERVER_Server* server = NULL;
  ok_or_die(T(ServerNew)(&server, o), "ServerNew");
  bool ready = false;
  for (;;) {
    ok_or_die(T(ServerIsReady)(server, &ready), "ServerIsReady");
    if (ready) {
      break;
    }
    if (now_ns() - t0 > 300ull * 1000000000ull) {
      die("server not ready after 300 s");
    }
    sleep_us(1000);
  }
  if (startup_ms != NULL) {
    *startup_ms = (double)(now_ns() - t0) / 1e6;
  }
  ok_or_die(T(ServerOptionsDelete)(o), "ServerOptionsDelete");

  static bool checked = false;
  if (!checked) {
    char core[PATH_MAX];
    check_one_core(core, sizeof(core));
    fprintf(stderr, "tcbench: core mapped: %s\n", core);
    printf("CORE %s\n", core);
    checked = true;
  }
  return server;
}

static double
server_stop_delete(TRITONSERVER_Server* server)
{
  uint64_t t0 = now_ns();
  ok_or_die(T(ServerStop)(server), "ServerStop");
  ok_or_die(T(ServerDelete)(server), "ServerDelete");
  return (double)(now_ns() - t0) / 1e6;
}

/* -------------------------------------------------------------- inferences ---- */

typedef struct slot {
  struct engine* eng;
  int idx;
  TRITONSERVER_InferenceRequest* req;
  TRITONSERVER_InferenceResponse* resp;
  atomic_int parts; /* 2 = final response + release seen */
  uint64_t t0;
  void* outbuf;
  size_t outcap;
} slot;

typedef struct engine {
  TRITONSERVER_Server* server;
  TRITONSERVER_ResponseAllocator* allocator;
  const char* model;
  TRITONSERVER_DataType dtype;
  int64_t shape[1];
  const void* input;
  size_t input_size;
  slot* slots;
  int nslots;
  /* completion queue (slot indices) */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int* ring;
  int head, tail; /* ring of nslots + 1 */
  long verify_left;
  atomic_bool stop;
} engine;

static TRITONSERVER_Error*
alloc_fn(TRITONSERVER_ResponseAllocator* allocator, const char* tensor_name,
         size_t byte_size, TRITONSERVER_MemoryType memory_type, int64_t memory_type_id,
         void* userp, void** buffer, void** buffer_userp,
         TRITONSERVER_MemoryType* actual_memory_type, int64_t* actual_memory_type_id)
{
  (void)allocator;
  (void)tensor_name;
  (void)memory_type;
  (void)memory_type_id;
  slot* s = userp;
  if (byte_size <= s->outcap) {
    *buffer = s->outbuf;
    *buffer_userp = NULL;
  } else {
    *buffer = malloc(byte_size ? byte_size : 1);
    *buffer_userp = *buffer;
  }
  *actual_memory_type = TRITONSERVER_MEMORY_CPU;
  *actual_memory_type_id = 0;
  return NULL;
}

static TRITONSERVER_Error*
release_fn(TRITONSERVER_ResponseAllocator* allocator, void* buffer, void* buffer_userp,
           size_t byte_size, TRITONSERVER_MemoryType memory_type, int64_t memory_type_id)
{
  (void)allocator;
  (void)buffer;
  (void)byte_size;
  (void)memory_type;
  (void)memory_type_id;
  free(buffer_userp);
  return NULL;
}

static void
part_done(slot* s)
{
  if (atomic_fetch_add(&s->parts, 1) == 1) {
    engine* e = s->eng;
    pthread_mutex_lock(&e->mu);
    e->ring[e->tail] = s->idx;
    e->tail = (e->tail + 1) % (e->nslots + 1);
    pthread_mutex_unlock(&e->mu);
    /* Signalled after the unlock: a woken waiter that preempts this thread must not find the
     * mutex still held (that costs two more context switches on one CPU). */
    pthread_cond_signal(&e->cv);
  }
}

static void
response_cb(TRITONSERVER_InferenceResponse* response, const uint32_t flags, void* userp)
{
  slot* s = userp;
  if (response != NULL) {
    if (s->resp != NULL) {
      die("more than one response for a request");
    }
    s->resp = response;
  }
  if (flags & TRITONSERVER_RESPONSE_COMPLETE_FINAL) {
    part_done(s);
  }
}

static void
release_cb(TRITONSERVER_InferenceRequest* request, const uint32_t flags, void* userp)
{
  (void)request;
  (void)flags;
  part_done(userp);
}

static void
engine_init(engine* e, TRITONSERVER_Server* server, const char* model,
            TRITONSERVER_DataType dtype, int64_t elements, size_t elem_size, int nslots)
{
  memset(e, 0, sizeof(*e));
  e->server = server;
  e->model = model;
  e->dtype = dtype;
  e->shape[0] = elements;
  e->input_size = (size_t)elements * elem_size;
  unsigned char* in = malloc(e->input_size);
  if (in == NULL) {
    die("out of memory");
  }
  for (size_t i = 0; i < e->input_size; ++i) {
    in[i] = (unsigned char)(i * 7 + 3);
  }
  e->input = in;
  e->nslots = nslots;
  e->slots = calloc((size_t)nslots, sizeof(slot));
  e->ring = calloc((size_t)nslots + 1, sizeof(int));
  if (e->slots == NULL || e->ring == NULL) {
    die("out of memory");
  }
  for (int i = 0; i < nslots; ++i) {
    e->slots[i].eng = e;
    e->slots[i].idx = i;
    e->slots[i].outcap = e->input_size;
    e->slots[i].outbuf = malloc(e->input_size);
    if (e->slots[i].outbuf == NULL) {
      die("out of memory");
    }
    memset(e->slots[i].outbuf, 0, e->input_size); /* fault the pages in now */
  }
  pthread_mutex_init(&e->mu, NULL);
  pthread_cond_init(&e->cv, NULL);
  ok_or_die(T(ResponseAllocatorNew)(&e->allocator, alloc_fn, release_fn, NULL),
            "ResponseAllocatorNew");
  e->verify_left = 20;
}

static void
submit(engine* e, slot* s)
{
  s->t0 = now_ns();
  s->resp = NULL;
  atomic_store(&s->parts, 0);
  ok_or_die(T(InferenceRequestNew)(&s->req, e->server, e->model, -1), "InferenceRequestNew");
  ok_or_die(T(InferenceRequestAddInput)(s->req, "INPUT0", e->dtype, e->shape, 1),
            "InferenceRequestAddInput");
  ok_or_die(T(InferenceRequestAppendInputData)(s->req, "INPUT0", e->input, e->input_size,
                                               TRITONSERVER_MEMORY_CPU, 0),
            "InferenceRequestAppendInputData");
  ok_or_die(T(InferenceRequestSetReleaseCallback)(s->req, release_cb, s),
            "InferenceRequestSetReleaseCallback");
  ok_or_die(T(InferenceRequestSetResponseCallback)(s->req, e->allocator, s, response_cb, s),
            "InferenceRequestSetResponseCallback");
  ok_or_die(T(ServerInferAsync)(e->server, s->req, NULL), "ServerInferAsync");
}

static slot*
pop(engine* e)
{
  pthread_mutex_lock(&e->mu);
  while (e->head == e->tail) {
    pthread_cond_wait(&e->cv, &e->mu);
  }
  int idx = e->ring[e->head];
  e->head = (e->head + 1) % (e->nslots + 1);
  pthread_mutex_unlock(&e->mu);
  return &e->slots[idx];
}

/* Finish a completed slot; returns its round-trip time in ns. */
static uint64_t
finish(engine* e, slot* s)
{
  if (s->resp == NULL) {
    die("final callback without a response");
  }
  TRITONSERVER_Error* rerr = T(InferenceResponseError)(s->resp);
  if (rerr != NULL) {
    die("inference failed: %s", T(ErrorMessage)(rerr));
  }
  if (e->verify_left > 0) {
    e->verify_left--;
    uint32_t count = 0;
    ok_or_die(T(InferenceResponseOutputCount)(s->resp, &count), "ResponseOutputCount");
    const char* name;
    TRITONSERVER_DataType dt;
    const int64_t* shape;
    uint64_t dims;
    const void* base;
    size_t size;
    TRITONSERVER_MemoryType mt;
    int64_t mtid;
    void* userp;
    if (count != 1) {
      die("expected 1 output, got %u", count);
    }
    ok_or_die(T(InferenceResponseOutput)(s->resp, 0, &name, &dt, &shape, &dims, &base, &size,
                                         &mt, &mtid, &userp),
              "InferenceResponseOutput");
    if (strcmp(name, "OUTPUT0") != 0 || dt != e->dtype || dims != 1 ||
        shape[0] != e->shape[0] || size != e->input_size ||
        memcmp(base, e->input, size) != 0) {
      die("output OUTPUT0 differs from the input");
    }
    if (e->input_size == s->outcap && base != s->outbuf) {
      die("output not in the allocator's buffer");
    }
  }
  ok_or_die(T(InferenceResponseDelete)(s->resp), "InferenceResponseDelete");
  ok_or_die(T(InferenceRequestDelete)(s->req), "InferenceRequestDelete");
  s->resp = NULL;
  s->req = NULL;
  return now_ns() - s->t0;
}

/* Keep `inflight` requests going until `count` completed or `seconds` elapsed (whichever
 * first; 0 = no limit) or e->stop; latencies go to `lat` (may be NULL). Returns the
 * number completed. */
/* noinline: profilers toggle collection on it (valgrind --toggle-collect=run_inflight). */
__attribute__((noinline, noclone)) static long
run_inflight(engine* e, int inflight, long count, double seconds, samples* lat, double* elapsed_s)
{
  if (inflight > e->nslots) {
    die("inflight > slots");
  }
  uint64_t t0 = now_ns();
  uint64_t end = seconds > 0 ? t0 + (uint64_t)(seconds * 1e9) : UINT64_MAX;
  long started = 0, done = 0;
  int outstanding = 0;
  for (int i = 0; i < inflight && (count == 0 || started < count); ++i) {
    submit(e, &e->slots[i]);
    started++;
    outstanding++;
  }
  while (outstanding > 0) {
    slot* s = pop(e);
    uint64_t ns = finish(e, s);
    outstanding--;
    done++;
    if (lat != NULL) {
      samples_add(lat, ns);
    }
    bool more = (count == 0 || started < count) && now_ns() < end && !atomic_load(&e->stop);
    if (more) {
      submit(e, s);
      started++;
      outstanding++;
    }
  }
  if (elapsed_s != NULL) {
    *elapsed_s = (double)(now_ns() - t0) / 1e9;
  }
  return done;
}

/* ---------------------------------------------------------------- scenarios ---- */

static bool g_quick;

static TRITONSERVER_Server*
start_infer_server(void)
{
  return server_start("infer", TRITONSERVER_MODEL_CONTROL_NONE, NULL, NULL);
}

static void
scenario_infer(const char* figure, const char* model, TRITONSERVER_DataType dt,
               int64_t elements, size_t elem_size, long warmup, long n, double max_s)
{
  TRITONSERVER_Server* server = start_infer_server();
  engine e;
  engine_init(&e, server, model, dt, elements, elem_size, 1);
  run_inflight(&e, 1, warmup, 0, NULL, NULL);
  samples lat;
  samples_init(&lat, (size_t)n);
  run_inflight(&e, 1, n, max_s, &lat, NULL);
  samples_report(&lat, figure);
  server_stop_delete(server);
}

static void
scenario_tput(void)
{
  TRITONSERVER_Server* server = start_infer_server();
  static const int inflights[] = {8, 64};
  engine e;
  engine_init(&e, server, "tput2", TRITONSERVER_TYPE_FP32, 16, 4, 64);
  double dur = g_quick ? 1.0 : 3.0;
  for (size_t i = 0; i < 2; ++i) {
    int k = inflights[i];
    char figure[32];
    snprintf(figure, sizeof(figure), "tput%d", k);
    run_inflight(&e, k, 0, g_quick ? 0.2 : 0.5, NULL, NULL); /* warm-up */
    samples lat;
    samples_init(&lat, 1 << 16);
    double elapsed = 0;
    long done = run_inflight(&e, k, 0, dur, &lat, &elapsed);
    result(figure, "rps", (double)done / elapsed);
    samples_report(&lat, figure);
    free(lat.v);
  }
  server_stop_delete(server);
}

/* ServerIsReady latency: up to n calls or max_s seconds, `gap_us` sleep between calls. */
static void
probe_ready(TRITONSERVER_Server* server, const char* figure, long n, double max_s,
            long gap_us, atomic_bool* stop)
{
  samples lat;
  samples_init(&lat, (size_t)(n > 0 ? n : 4096));
  uint64_t end = now_ns() + (uint64_t)(max_s * 1e9);
  long not_ready = 0;
  for (long i = 0; (n == 0 || i < n); ++i) {
    bool ready = false;
    uint64_t t0 = now_ns();
    TRITONSERVER_Error* err = T(ServerIsReady)(server, &ready);
    uint64_t t1 = now_ns();
    ok_or_die(err, "ServerIsReady");
    not_ready += !ready;
    samples_add(&lat, t1 - t0);
    if (t1 > end || (stop != NULL && atomic_load(stop))) {
      break;
    }
    if (gap_us > 0) {
      sleep_us(gap_us);
    }
  }
  samples_report(&lat, figure);
  result(figure, "not_ready", (double)not_ready);
  free(lat.v);
}

static void
probe_model_ready(TRITONSERVER_Server* server, const char* figure, const char* model, long n,
                  double max_s)
{
  samples lat;
  samples_init(&lat, (size_t)n);
  uint64_t end = now_ns() + (uint64_t)(max_s * 1e9);
  for (long i = 0; i < n; ++i) {
    bool ready = false;
    uint64_t t0 = now_ns();
    TRITONSERVER_Error* err = T(ServerModelIsReady)(server, model, -1, &ready);
    uint64_t t1 = now_ns();
    ok_or_die(err, "ServerModelIsReady");
    if (!ready) {
      die("model %s not ready", model);
    }
    samples_add(&lat, t1 - t0);
    if (t1 > end) {
      break;
    }
  }
  samples_report(&lat, figure);
  free(lat.v);
}

static void
scenario_models(int count)
{
  char repo[32], fig[32];
  snprintf(repo, sizeof(repo), "models%d", count);
  long rss0 = status_kb("VmRSS");
  double startup_ms = 0;
  TRITONSERVER_Server* server =
      server_start(repo, TRITONSERVER_MODEL_CONTROL_NONE, NULL, &startup_ms);
  if (count == 1000) {
    long rss = status_kb("VmRSS"), hwm = status_kb("VmHWM");
    result("startup1000", "ms", startup_ms);
    result("rss1000", "MiB", (double)rss / 1024.0);
    result("rss1000", "delta_MiB", (double)(rss - rss0) / 1024.0);
    result("rss1000", "hwm_MiB", (double)hwm / 1024.0);
    result("rss1000", "base_MiB", (double)rss0 / 1024.0);
  }
  long n = g_quick ? 2000 : 20000;
  double max_s = g_quick ? 1.0 : 4.0;
  /* warm-up */
  probe_ready(server, "warmup", 200, 1.0, 0, NULL);
  snprintf(fig, sizeof(fig), "ready%d", count);
  probe_ready(server, fig, n, max_s, 0, NULL);
  snprintf(fig, sizeof(fig), "modelready%d", count);
  probe_model_ready(server, fig, "m0000", n, max_s);
  double stop_ms = server_stop_delete(server);
  if (count == 1000) {
    result("stop1000", "ms", stop_ms);
  }
}

typedef struct bg_infer {
  engine* e;
  long done;
} bg_infer;

static void*
bg_infer_main(void* arg)
{
  bg_infer* b = arg;
  b->done = run_inflight(b->e, 64, 0, 0, NULL, NULL);
  return NULL;
}

static void
scenario_ready_infer(void)
{
  TRITONSERVER_Server* server = start_infer_server();
  double dur = g_quick ? 1.0 : 3.0;
  probe_ready(server, "warmup", 200, 1.0, 0, NULL);
  probe_ready(server, "readyidle", 0, dur, 200, NULL);
  engine e;
  engine_init(&e, server, "tput2", TRITONSERVER_TYPE_FP32, 16, 4, 64);
  bg_infer b = {&e, 0};
  pthread_t th;
  if (pthread_create(&th, NULL, bg_infer_main, &b) != 0) {
    die("pthread_create");
  }
  sleep_us(200000);
  probe_ready(server, "readyinfer", 0, dur, 200, NULL);
  atomic_store(&e.stop, true);
  pthread_join(th, NULL);
  result("readyinfer", "inferences", (double)b.done);
  server_stop_delete(server);
}

typedef struct bg_load {
  TRITONSERVER_Server* server;
  atomic_bool stop;
  long loads, errors;
} bg_load;

static void*
bg_load_main(void* arg)
{
  bg_load* b = arg;
  char name[32];
  while (!atomic_load(&b->stop)) {
    for (int i = 0; i < 10 && !atomic_load(&b->stop); ++i) {
      snprintf(name, sizeof(name), "churn%02d", i);
      if (ok(T(ServerLoadModel)(b->server, name))) {
        b->loads++;
      } else {
        b->errors++;
      }
    }
    for (int i = 0; i < 10; ++i) {
      snprintf(name, sizeof(name), "churn%02d", i);
      if (!ok(T(ServerUnloadModel)(b->server, name))) {
        b->errors++;
      }
    }
  }
  return NULL;
}

static void
scenario_ready_loading(void)
{
  static const char* startup[101];
  static char names[100][16];
  for (int i = 0; i < 100; ++i) {
    snprintf(names[i], sizeof(names[i]), "m%04d", i);
    startup[i] = names[i];
  }
  startup[100] = NULL;
  TRITONSERVER_Server* server =
      server_start("loading", TRITONSERVER_MODEL_CONTROL_EXPLICIT, startup, NULL);
  double dur = g_quick ? 1.0 : 3.0;
  probe_ready(server, "warmup", 200, 1.0, 0, NULL);
  probe_ready(server, "readyidle2", 0, dur, 200, NULL);
  bg_load b;
  memset(&b, 0, sizeof(b));
  b.server = server;
  pthread_t th;
  if (pthread_create(&th, NULL, bg_load_main, &b) != 0) {
    die("pthread_create");
  }
  sleep_us(100000);
  probe_ready(server, "readyloading", 0, dur, 200, NULL);
  atomic_store(&b.stop, true);
  pthread_join(th, NULL);
  result("readyloading", "loads", (double)b.loads);
  result("readyloading", "errors", (double)b.errors);
  server_stop_delete(server);
}

/* --------------------------------------------------------------------- main ---- */

static void
usage(void)
{
  fprintf(stderr,
          "usage: tcbench --work DIR --prepare\n"
          "       tcbench --core LIB --backend-dir DIR --work DIR --scenario NAME [--quick]\n"
          "scenarios: infer_fp32 infer_1mb tput models1 models100 models1000 ready_infer "
          "ready_loading\n");
  exit(2);
}

int
main(int argc, char** argv)
{
  const char *core = NULL, *scenario = NULL;
  bool do_prepare = false;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--core") == 0 && i + 1 < argc) {
      core = argv[++i];
    } else if (strcmp(argv[i], "--backend-dir") == 0 && i + 1 < argc) {
      g_backend_dir = argv[++i];
    } else if (strcmp(argv[i], "--work") == 0 && i + 1 < argc) {
      g_work = argv[++i];
    } else if (strcmp(argv[i], "--scenario") == 0 && i + 1 < argc) {
      scenario = argv[++i];
    } else if (strcmp(argv[i], "--quick") == 0) {
      g_quick = true;
    } else if (strcmp(argv[i], "--prepare") == 0) {
      do_prepare = true;
    } else {
      usage();
    }
  }
  if (g_work == NULL) {
    usage();
  }
  if (do_prepare) {
    prepare(g_work);
    return 0;
  }
  if (core == NULL || g_backend_dir == NULL || scenario == NULL) {
    usage();
  }
  setup_core_env(core, g_work, argv);
  load_core();

  if (strcmp(scenario, "infer_fp32") == 0) {
    scenario_infer("infer_fp32", "fp32", TRITONSERVER_TYPE_FP32, 16, 4, g_quick ? 200 : 1000,
                   g_quick ? 3000 : 30000, g_quick ? 2.0 : 10.0);
  } else if (strcmp(scenario, "infer_1mb") == 0) {
    scenario_infer("infer_1mb", "u8mb", TRITONSERVER_TYPE_UINT8, 1048576, 1, g_quick ? 20 : 100,
                   g_quick ? 300 : 3000, g_quick ? 2.0 : 10.0);
  } else if (strcmp(scenario, "tput") == 0) {
    scenario_tput();
  } else if (strcmp(scenario, "models1") == 0) {
    scenario_models(1);
  } else if (strcmp(scenario, "models100") == 0) {
    scenario_models(100);
  } else if (strcmp(scenario, "models1000") == 0) {
    scenario_models(1000);
  } else if (strcmp(scenario, "ready_infer") == 0) {
    scenario_ready_infer();
  } else if (strcmp(scenario, "ready_loading") == 0) {
    scenario_ready_loading();
  } else {
    usage();
  }
  fflush(stdout);
  /* Skip the cores' static destructors (upstream's can be slow or noisy): everything
   * was stopped and deleted above. */
  _exit(0);
}
