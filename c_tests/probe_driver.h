/* The driver side of the lifetime tests on the 'probe' test backend (int_lifetime, int_soak):
 * the probe's counters (read by dlopen-ing the library the core opened), the driver's own
 * counters, inference with counting callbacks, and a forked child that streams snapshots of
 * all counters to the parent, which checks the last one: no lifetime violation, no leak. */
#ifndef TRITON_CTESTS_PROBE_DRIVER_H
#define TRITON_CTESTS_PROBE_DRIVER_H

#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "infer_common.h"

/* ---- the probe backend's counters ---- */

/* dlopen <backend dir>/probe/libtriton_probe.so (the same library as the core's, whoever
 * opens it first) and resolve its counter functions; fatal if missing. */
void pd_probe_open(void);
/* Fatal unless the core has initialized the probe library opened here. */
void pd_require_probe_loaded(void);
/* Counter `name` of the probe; and its counters by index, 0 <= i < pd_probe_count(). */
long pd_probe(const char* name);
int pd_probe_count(void);
const char* pd_probe_name(int i);
long pd_probe_at(int i);

/* ---- the driver's own counters ---- */

/* Not every test uses every counter: resp_cbs is int_lifetime's, slow_requests and the
 * ready_*_us readiness latencies are int_soak's. */
#define PD_COUNTERS(X)                                                                     \
  X(req_created) X(req_deleted) X(req_refused) X(req_accepted) X(release_cbs) X(resp_cbs)  \
  X(responses) X(resp_deleted) X(resp_errors) X(resp_ok) X(resp_bad_data) X(finals)        \
  X(outstanding) X(slow_requests) X(lost) X(ready_calls) X(ready_errors) X(loads)          \
  X(load_errors) X(unloads) X(unload_errors) X(ready_p50_us) X(ready_p99_us) X(ready_max_us)

enum {
#define PD_ENUM(n) D_##n,
  PD_COUNTERS(PD_ENUM)
#undef PD_ENUM
  D_COUNT
};
extern const char* const pd_counter_names[D_COUNT];
extern atomic_long pd_drv[D_COUNT];
#define DINC(c) atomic_fetch_add(&pd_drv[D_##c], 1)
#define DGET(c) atomic_load(&pd_drv[D_##c])
#define DSET(c, v) atomic_store(&pd_drv[D_##c], (v))

/* ---- inference (model with INPUT0 / OUTPUT0 FP32 [4], answered with the same data) ---- */

/* Set just before ServerDelete: pd_send_one then starts no new call on the server. */
extern atomic_bool pd_server_gone;

typedef struct pd_req_opts {
  long exec_sleep_us; /* > 0: request parameter */
  long hold_ms;       /* > 0: request parameter */
  bool use_factory;   /* request parameter */
  sem_t* done;        /* posted once the request got its FINAL response and release */
} pd_req_opts;

/* Send one request (opts may be NULL); false if it was refused (then nothing is
 * outstanding). Counts created / refused / accepted; the callbacks count responses, errors,
 * good and bad data, finals, releases and deletes. */
bool pd_send_one(TRITONSERVER_Server* server, const char* model, float seed,
                 const pd_req_opts* opts);
/* Wait until every accepted request got its FINAL response and release callback; the
 * remainder is counted as lost. */
bool pd_wait_outstanding(double timeout_s);

/* ---- the forked child and its reports ---- */

/* One snapshot of every counter to the parent (in a child of pd_run; no-op elsewhere). */
void pd_snapshot(void);

typedef struct pd_result {
  struct {
    char name[64];
    long value;
  } kvs[256];
  int n;
} pd_result;

/* body(repo) in a child of tc_fork(alarm_s) with the probe opened, an allocator for
 * pd_send_one and a thread sending a snapshot of the counters every 200 ms (and one at the
 * end). The parent keeps the last value of each counter ("probe.<name>", "drv.<name>",
 * "drv.alloc", "drv.alloc_released") in `r`; a crash, hang or failed check of the child is
 * reported naming `name` (tc_wait_forked). */
tc_outcome pd_run(const char* name, void (*body)(const char* repo), const char* repo,
                  unsigned alarm_s, pd_result* r, tc_forked* info);
/* Last value of counter `name` (0 if never reported; `found`, may be NULL, tells). */
long pd_get(const pd_result* r, const char* name, bool* found);

typedef struct pd_totals {
  long violations; /* the sum of the lifetime-violation counters */
  long factories_created, factories_deleted;
  long req_created, req_deleted;
  long responses, resp_deleted;
  long lost;
  long alloc, alloc_released;
} pd_totals;

/* The checks on a child's last snapshot: counters were reported; every lifetime-violation
 * counter of the probe is 0 (each nonzero one is appended to the string `detail` as
 * " name=value"); no leak: response factories created = deleted, requests created =
 * deleted, responses received = deleted, no accepted request without FINAL response or
 * release (drv.lost, plus drv.outstanding if `count_outstanding`), allocator buffers
 * allocated = released. Failure messages start with `prefix`. Returns true if every check
 * passed; `t` gets the numbers. */
bool pd_check(const pd_result* r, const char* prefix, bool count_outstanding, pd_totals* t,
              char* detail, size_t detail_size);

#endif
