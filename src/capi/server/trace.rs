//! `TRITONSERVER_InferenceTrace`: inference tracing.
//!
//! Methods: `InferenceTraceLevelString`, `InferenceTraceActivityString`, `InferenceTraceNew`,
//! `InferenceTraceTensorNew`, `InferenceTraceReportActivity`, `InferenceTraceDelete`,
//! `InferenceTraceId`, `InferenceTraceParentId`, `InferenceTraceModelName`,
//! `InferenceTraceModelVersion`, `InferenceTraceRequestId`, `InferenceTraceSpawnChildTrace`,
//! `InferenceTraceSetContext`, `InferenceTraceContext`.
//!
//! 1. The frontend creates a trace with its callbacks and passes it to `ServerInferAsync`.
//! 2. The core reports timestamps (and tensors) of the request to the callbacks.
//! 3. When the request is done the core calls the release callback; the frontend deletes the
//!    trace there. A trace never given to a request is simply deleted.
//!
//! The handle is shared (`Arc`): the request keeps the trace alive while it reports to it.
//! Callback parameters are spelled out as function pointer types (not aliases) so that the
//! generated declarations match upstream's typedefs.

use std::ffi::{c_char, c_void, CStr};
use std::sync::Arc;

use crate::capi::boundary::{ffi_or, ffi_try};
use crate::capi::callback::CTraceCallbacks;
use crate::capi::handle::Contract;
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::types::{
    TRITONSERVER_DataType, TRITONSERVER_InferenceTraceActivity, TRITONSERVER_InferenceTraceLevel,
    TRITONSERVER_MemoryType,
};
use crate::engine::trace::{level_name, Activity, Trace};

/// An inference trace.
pub type TRITONSERVER_InferenceTrace = Trace;

const UNKNOWN: &CStr = c"<unknown>";

fn static_c(s: &'static str) -> &'static CStr {
    match s {
        "DISABLED" => c"DISABLED",
        "MIN" => c"MIN",
        "MAX" => c"MAX",
        "TIMESTAMPS" => c"TIMESTAMPS",
        "TENSORS" => c"TENSORS",
        "REQUEST_START" => c"REQUEST_START",
        "QUEUE_START" => c"QUEUE_START",
        "COMPUTE_START" => c"COMPUTE_START",
        "COMPUTE_INPUT_END" => c"COMPUTE_INPUT_END",
        "COMPUTE_OUTPUT_START" => c"COMPUTE_OUTPUT_START",
        "COMPUTE_END" => c"COMPUTE_END",
        "REQUEST_END" => c"REQUEST_END",
        "TENSOR_QUEUE_INPUT" => c"TENSOR_QUEUE_INPUT",
        "TENSOR_BACKEND_INPUT" => c"TENSOR_BACKEND_INPUT",
        "TENSOR_BACKEND_OUTPUT" => c"TENSOR_BACKEND_OUTPUT",
        "CUSTOM_ACTIVITY" => c"CUSTOM_ACTIVITY",
        _ => UNKNOWN,
    }
}

/// The name of a trace level ("TIMESTAMPS", ...); "<unknown>" for a combination or other value.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceTraceLevelString(
    level: TRITONSERVER_InferenceTraceLevel,
) -> *const c_char {
    ffi_or(
        "TRITONSERVER_InferenceTraceLevelString",
        UNKNOWN.as_ptr(),
        || level_name(level.0).map_or(UNKNOWN, static_c).as_ptr(),
    )
}

/// The name of a trace activity ("QUEUE_START", ...); "<unknown>" for any other value.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceTraceActivityString(
    activity: TRITONSERVER_InferenceTraceActivity,
) -> *const c_char {
    ffi_or(
        "TRITONSERVER_InferenceTraceActivityString",
        UNKNOWN.as_ptr(),
        || {
            Activity::from_u32(activity.0)
                .map_or(UNKNOWN, |a| static_c(a.name()))
                .as_ptr()
        },
    )
}

fn new_trace(
    c: Contract,
    trace: *mut *mut TRITONSERVER_InferenceTrace,
    level: TRITONSERVER_InferenceTraceLevel,
    parent_id: u64,
    callbacks: CTraceCallbacks,
) -> crate::engine::Result<()> {
    let out = c.out_ptr(trace, "trace")?;
    let t = Trace::new(level.0, parent_id, Arc::new(callbacks));
    out.write(Arc::into_raw(t).cast_mut());
    Ok(())
}

/// Create a trace recording timestamps at `level` (MIN and MAX mean TIMESTAMPS). The caller
/// owns it; `release_fn` is called when a request it was given to is done with it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceTraceNew(
    trace: *mut *mut TRITONSERVER_InferenceTrace,
    level: TRITONSERVER_InferenceTraceLevel,
    parent_id: u64,
    activity_fn: Option<
        unsafe extern "C" fn(
            *mut TRITONSERVER_InferenceTrace,
            TRITONSERVER_InferenceTraceActivity,
            u64,
            *mut c_void,
        ),
    >,
    release_fn: Option<unsafe extern "C" fn(*mut TRITONSERVER_InferenceTrace, *mut c_void)>,
    trace_userp: *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceTraceNew's caller passes writable `trace` and callbacks that
    // may be called with `trace_userp` until the trace is released, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceTraceNew", || {
        new_trace(
            c,
            trace,
            level,
            parent_id,
            CTraceCallbacks::new(c, activity_fn, None, release_fn, trace_userp),
        )
    })
}

/// Create a trace that may also record tensors (level TENSORS) through `tensor_activity_fn`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceTraceTensorNew(
    trace: *mut *mut TRITONSERVER_InferenceTrace,
    level: TRITONSERVER_InferenceTraceLevel,
    parent_id: u64,
    activity_fn: Option<
        unsafe extern "C" fn(
            *mut TRITONSERVER_InferenceTrace,
            TRITONSERVER_InferenceTraceActivity,
            u64,
            *mut c_void,
        ),
    >,
    tensor_activity_fn: Option<
        unsafe extern "C" fn(
            *mut TRITONSERVER_InferenceTrace,
            TRITONSERVER_InferenceTraceActivity,
            *const c_char,
            TRITONSERVER_DataType,
            *const c_void,
            usize,
            *const i64,
            u64,
            TRITONSERVER_MemoryType,
            i64,
            *mut c_void,
        ),
    >,
    release_fn: Option<unsafe extern "C" fn(*mut TRITONSERVER_InferenceTrace, *mut c_void)>,
    trace_userp: *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceTraceTensorNew's caller passes writable `trace` and callbacks
    // that may be called with `trace_userp` until the trace is released, as tritonserver.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceTraceTensorNew", || {
        new_trace(
            c,
            trace,
            level,
            parent_id,
            CTraceCallbacks::new(c, activity_fn, tensor_activity_fn, release_fn, trace_userp),
        )
    })
}

/// Report a custom activity at `timestamp` (ns): the activity callback gets
/// `TRITONSERVER_TRACE_CUSTOM_ACTIVITY` and the name is recorded in the trace context. A NULL
/// trace is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceTraceReportActivity(
    trace: *mut TRITONSERVER_InferenceTrace,
    timestamp: u64,
    activity_name: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceTraceReportActivity's caller passes a live trace or NULL and a
    // NUL-terminated `activity_name`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceTraceReportActivity", || {
        if trace.is_null() {
            return Ok(());
        }
        let t = c.arg_ref(trace, "trace")?;
        let name = c.arg_cstr(activity_name, "activity_name")?;
        t.report_custom(timestamp, name);
        Ok(())
    })
}

/// Delete a trace (the caller's reference).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceTraceDelete(
    trace: *mut TRITONSERVER_InferenceTrace,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceTraceDelete's caller passes its reference to a trace, given up,
    // as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceTraceDelete", || {
        drop(c.take_arc(trace.cast_const(), "trace")?);
        Ok(())
    })
}

/// The trace's id: unique in the process, increasing from 1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceTraceId(
    trace: *mut TRITONSERVER_InferenceTrace,
    id: *mut u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceTraceId's caller passes a live trace and writable `id`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceTraceId", || {
        let t = c.arg_ref(trace, "trace")?;
        c.out_ptr(id, "id")?.write(t.id());
        Ok(())
    })
}

/// The id of the parent trace; 0 when there is none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceTraceParentId(
    trace: *mut TRITONSERVER_InferenceTrace,
    parent_id: *mut u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceTraceParentId's caller passes a live trace and writable
    // `parent_id`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceTraceParentId", || {
        let t = c.arg_ref(trace, "trace")?;
        c.out_ptr(parent_id, "parent_id")?.write(t.parent_id());
        Ok(())
    })
}

/// The name of the model of the traced request ("" before the request is submitted). Valid
/// while the trace lives.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceTraceModelName(
    trace: *mut TRITONSERVER_InferenceTrace,
    model_name: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceTraceModelName's caller passes a live trace and writable
    // `model_name`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceTraceModelName", || {
        let t = c.arg_ref(trace, "trace")?;
        let out = c.out_ptr(model_name, "model_name")?;
        out.write(t.with_strings(|name, _, _| name.as_ptr()));
        Ok(())
    })
}

/// The version of the model of the traced request.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceTraceModelVersion(
    trace: *mut TRITONSERVER_InferenceTrace,
    model_version: *mut i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceTraceModelVersion's caller passes a live trace and writable
    // `model_version`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceTraceModelVersion", || {
        let t = c.arg_ref(trace, "trace")?;
        c.out_ptr(model_version, "model_version")?
            .write(t.model_version());
        Ok(())
    })
}

/// The id of the traced request ("" when it has none). Valid while the trace lives.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceTraceRequestId(
    trace: *mut TRITONSERVER_InferenceTrace,
    request_id: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceTraceRequestId's caller passes a live trace and writable
    // `request_id`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceTraceRequestId", || {
        let t = c.arg_ref(trace, "trace")?;
        let out = c.out_ptr(request_id, "request_id")?;
        out.write(t.with_strings(|_, id, _| id.as_ptr()));
        Ok(())
    })
}

/// A child trace (same level and callbacks, this trace as parent), owned by the caller; NULL
/// for a NULL trace.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceTraceSpawnChildTrace(
    trace: *mut TRITONSERVER_InferenceTrace,
    child_trace: *mut *mut TRITONSERVER_InferenceTrace,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceTraceSpawnChildTrace's caller passes a live trace or NULL and
    // writable `child_trace`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceTraceSpawnChildTrace", || {
        let out = c.out_ptr(child_trace, "child_trace")?;
        if trace.is_null() {
            out.write(std::ptr::null_mut());
            return Ok(());
        }
        let child = c.arg_ref(trace, "trace")?.spawn_child();
        out.write(Arc::into_raw(child).cast_mut());
        Ok(())
    })
}

/// Set the trace context (an opaque string, e.g. OpenTelemetry propagation data).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceTraceSetContext(
    trace: *mut TRITONSERVER_InferenceTrace,
    trace_context: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceTraceSetContext's caller passes a live trace and a
    // NUL-terminated `trace_context`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceTraceSetContext", || {
        let t = c.arg_ref(trace, "trace")?;
        t.set_context(c.arg_cstr(trace_context, "trace_context")?);
        Ok(())
    })
}

/// The trace context ("" when unset). Valid until it changes or the trace is deleted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceTraceContext(
    trace: *mut TRITONSERVER_InferenceTrace,
    trace_context: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceTraceContext's caller passes a live trace and writable
    // `trace_context`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceTraceContext", || {
        let t = c.arg_ref(trace, "trace")?;
        let out = c.out_ptr(trace_context, "trace_context")?;
        out.write(t.with_strings(|_, _, ctx| ctx.as_ptr()));
        Ok(())
    })
}
