/* Shared lifecycle code of the C test backends.
 *
 * backend_common.c exports the TRITONBACKEND_* entry points every backend needs and
 * exercises the core's lifecycle getters at each level (failing the call if a getter
 * fails). Each backend source supplies the tb_hook_* functions below and, if it wants
 * one, its own TRITONBACKEND_ModelInstanceReady. */
#ifndef TRITON_CTESTS_BACKEND_COMMON_H
#define TRITON_CTESTS_BACKEND_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "triton/core/tritonbackend.h"
#include "triton/core/tritonserver.h"

#ifndef TB_BACKEND_NAME
#error "TB_BACKEND_NAME must be defined (compile definition)"
#endif

#define TB_EXPORT __attribute__((visibility("default")))

/* Optional entry point (TRITONBACKEND_ModelInstanceReady, added upstream in 2.64 without an
 * API version change). Redeclared here so the backends also build against headers that
 * predate it; identical to the declaration in headers that have it. */
TB_EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelInstanceReady(
    TRITONBACKEND_ModelInstance* instance);

#define TB_STATE_MAGIC_BACKEND 0x7b61636bu
#define TB_STATE_MAGIC_MODEL 0x7b6d6f64u
#define TB_STATE_MAGIC_INSTANCE 0x7b696e73u

typedef struct tb_backend_state {
  uint32_t magic;
  char name[128];
} tb_backend_state;

typedef struct tb_model_state {
  uint32_t magic;
  char name[256];
  char repository[2048]; /* model directory (TRITONBACKEND_ModelRepository) */
  uint64_t version;
} tb_model_state;

typedef struct tb_instance_state {
  uint32_t magic;
  char name[256];
  tb_model_state* model;
  pid_t child; /* stubproc only; 0 otherwise */
  void* user;  /* free for backend-specific use */
} tb_instance_state;

/* Return the error of `expr` (a TRITONSERVER_Error*) unless it is NULL, as upstream's
 * RETURN_IF_ERROR. */
#define TB_RETURN_IF_ERROR(expr)            \
  do {                                      \
    TRITONSERVER_Error* tb_rie__ = (expr);  \
    if (tb_rie__ != NULL) {                 \
      return tb_rie__;                      \
    }                                       \
  } while (0)

/* Build an error "<backend>: <formatted message>". */
TRITONSERVER_Error* tb_error(TRITONSERVER_Error_Code code, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Turn a failing getter's error into "<backend>: <what> failed: <msg>" (takes ownership
 * of err). Returns NULL for NULL. */
TRITONSERVER_Error* tb_wrap(TRITONSERVER_Error* err, const char* what);

/* Hooks called after the common code has run its getters and set its state. A non-NULL
 * return fails the corresponding TRITONBACKEND_* call. Each has a default in
 * backend_common.c (a weak definition) that does nothing and succeeds: a backend source
 * defines only the hooks it needs. */
TRITONSERVER_Error* tb_hook_backend_initialize(TRITONBACKEND_Backend* backend);
TRITONSERVER_Error* tb_hook_model_initialize(
    TRITONBACKEND_Model* model, tb_model_state* state);
TRITONSERVER_Error* tb_hook_instance_initialize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state);
/* Called before the instance state is freed. */
void tb_hook_instance_finalize(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state* state);

/* Fetch and validate the instance state (NULL + error on mismatch). */
TRITONSERVER_Error* tb_instance_state_get(
    TRITONBACKEND_ModelInstance* instance, tb_instance_state** state);

/* ---- helpers ---- */

/* Sleep `ms` milliseconds (resumed after a signal). */
void tb_sleep_ms(int64_t ms);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t tb_now_ns(void);
/* The configuration of the model (version 1) as NUL-terminated JSON, malloc'd; NULL on
 * error. */
char* tb_model_config_json(TRITONBACKEND_Model* model);

/* One child process per instance, like python_backend's stub (stubproc, stubinfer): its
 * pid is in state->child. */
/* Write <model_dir>/<instance>.pid (through a temporary file and rename). */
TRITONSERVER_Error* tb_write_pid_file(const tb_instance_state* state, pid_t pid);
/* SIGKILL the child and reap it. */
void tb_kill_and_reap(pid_t pid);
/* ModelInstanceReady of such an instance: the error of a bad instance state; NULL (ready)
 * while the child runs (waitpid WNOHANG); else INTERNAL "Stub process '<instance>' is not
 * healthy." as python_backend >= 2.64 answers. A reaped child is remembered as -1, so that
 * later checks do not waitpid a reused pid. */
TRITONSERVER_Error* tb_stub_ready(TRITONBACKEND_ModelInstance* instance);

#endif
