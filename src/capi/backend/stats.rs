//! Statistics and memory usage reported by backends, and implicit sequence state.
//!
//! Methods: `ModelInstanceReportStatistics`, `ModelInstanceReportBatchStatistics`,
//! `ModelInstanceResponseStatistics*`, `ModelInstanceReportResponseStatistics`,
//! `ModelReportMemoryUsage`, `ModelInstanceReportMemoryUsage`, `StateNew`, `StateUpdate`,
//! `StateBuffer`, `StateBufferAttributes`.

use std::ffi::{c_char, c_void};

use crate::capi::backend::response::TRITONBACKEND_ResponseFactory;
use crate::capi::backend::{
    TRITONBACKEND_Model, TRITONBACKEND_ModelInstance, TRITONBACKEND_Request,
};
use crate::capi::boundary::ffi_try;
use crate::capi::callback::TRITONSERVER_BufferAttributes;
use crate::capi::handle::{into_raw, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::types::{TRITONSERVER_DataType, TRITONSERVER_MemoryType};
use crate::engine::infer::BufferAttributes;
use crate::engine::model::{Instance, Model};
use crate::engine::{Error, Result};

fn model_of(instance: &Instance) -> Result<std::sync::Arc<Model>> {
    instance
        .model()
        .upgrade()
        .ok_or_else(|| Error::unavailable("the model of this instance is gone"))
}

/// Report one request's outcome and timestamps (monotonic ns) for statistics.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceReportStatistics(
    instance: *mut TRITONBACKEND_ModelInstance,
    request: *mut TRITONBACKEND_Request,
    success: bool,
    exec_start_ns: u64,
    compute_start_ns: u64,
    compute_end_ns: u64,
    exec_end_ns: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceReportStatistics's caller passes a live model instance and
    // a live request, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceReportStatistics", || {
        let i = c.arg_ref(instance, "instance")?;
        let r = c.arg_ref(request, "request")?;
        let m = model_of(i)?;
        m.stats().report_request(
            success,
            r.request_start_ns
                .load(std::sync::atomic::Ordering::Acquire),
            r.queue_start_ns.load(std::sync::atomic::Ordering::Acquire),
            exec_start_ns,
            compute_start_ns,
            compute_end_ns,
            exec_end_ns,
        );
        if let Some(t) = r.trace() {
            use crate::engine::trace::Activity;
            t.report(Activity::ComputeStart, exec_start_ns);
            t.report(Activity::ComputeInputEnd, compute_start_ns);
            t.report(Activity::ComputeOutputStart, compute_end_ns);
            t.report(Activity::ComputeEnd, exec_end_ns);
        }
        Ok(())
    })
}

/// Report one execution of a batch for statistics.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceReportBatchStatistics(
    instance: *mut TRITONBACKEND_ModelInstance,
    batch_size: u64,
    exec_start_ns: u64,
    compute_start_ns: u64,
    compute_end_ns: u64,
    exec_end_ns: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceReportBatchStatistics's caller passes a live model
    // instance, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceReportBatchStatistics", || {
        let i = c.arg_ref(instance, "instance")?;
        model_of(i)?.stats().report_batch(
            batch_size,
            exec_start_ns,
            compute_start_ns,
            compute_end_ns,
            exec_end_ns,
        );
        Ok(())
    })
}

/// Statistics of one response of a decoupled model, filled in field by field.
#[derive(Default)]
pub struct TRITONBACKEND_ModelInstanceResponseStatistics {
    instance: crate::engine::buffer::Addr,
    response_start: u64,
    compute_output_start: u64,
    response_end: u64,
    error: bool,
}

/// Create a response statistics object (the caller deletes it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceResponseStatisticsNew(
    response_statistics: *mut *mut TRITONBACKEND_ModelInstanceResponseStatistics,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceResponseStatisticsNew's caller passes writable
    // `response_statistics`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceResponseStatisticsNew", || {
        c.out_ptr(response_statistics, "response_statistics")?
            .write(into_raw(Box::default()));
        Ok(())
    })
}

/// Delete a response statistics object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceResponseStatisticsDelete(
    response_statistics: *mut TRITONBACKEND_ModelInstanceResponseStatistics,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceResponseStatisticsDelete's caller passes a response
    // statistics object it owns and gives up, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try(
        "TRITONBACKEND_ModelInstanceResponseStatisticsDelete",
        || {
            drop(c.take_box(response_statistics, "response_statistics")?);
            Ok(())
        },
    )
}

fn with_rs(
    c: Contract,
    name: &'static str,
    rs: *mut TRITONBACKEND_ModelInstanceResponseStatistics,
    f: impl FnOnce(&mut TRITONBACKEND_ModelInstanceResponseStatistics) -> Result<()>,
) -> *mut TRITONSERVER_Error {
    ffi_try(name, || f(c.arg_mut(rs, "response_statistics")?))
}

/// Set the instance the response came from.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceResponseStatisticsSetModelInstance(
    response_statistics: *mut TRITONBACKEND_ModelInstanceResponseStatistics,
    model_instance: *mut TRITONBACKEND_ModelInstance,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceResponseStatisticsSetModelInstance's caller passes a live
    // response statistics object and a live model instance, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    with_rs(
        c,
        "TRITONBACKEND_ModelInstanceResponseStatisticsSetModelInstance",
        response_statistics,
        |s| {
            c.arg_ref(model_instance, "model_instance")?;
            s.instance = crate::engine::buffer::Addr::of(model_instance);
            Ok(())
        },
    )
}

/// Set the response factory the response came from.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceResponseStatisticsSetResponseFactory(
    response_statistics: *mut TRITONBACKEND_ModelInstanceResponseStatistics,
    response_factory: *mut TRITONBACKEND_ResponseFactory,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceResponseStatisticsSetResponseFactory's caller passes a
    // live response statistics object and a live response factory, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    with_rs(
        c,
        "TRITONBACKEND_ModelInstanceResponseStatisticsSetResponseFactory",
        response_statistics,
        |_| {
            c.arg_ref(response_factory, "response_factory")?;
            Ok(())
        },
    )
}

/// Set when the response started (monotonic ns).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceResponseStatisticsSetResponseStart(
    response_statistics: *mut TRITONBACKEND_ModelInstanceResponseStatistics,
    response_start: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceResponseStatisticsSetResponseStart's caller passes a live
    // response statistics object, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    with_rs(
        c,
        "TRITONBACKEND_ModelInstanceResponseStatisticsSetResponseStart",
        response_statistics,
        |s| {
            s.response_start = response_start;
            Ok(())
        },
    )
}

/// Set when output computation started (monotonic ns).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceResponseStatisticsSetComputeOutputStart(
    response_statistics: *mut TRITONBACKEND_ModelInstanceResponseStatistics,
    compute_output_start: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceResponseStatisticsSetComputeOutputStart's caller passes a
    // live response statistics object, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    with_rs(
        c,
        "TRITONBACKEND_ModelInstanceResponseStatisticsSetComputeOutputStart",
        response_statistics,
        |s| {
            s.compute_output_start = compute_output_start;
            Ok(())
        },
    )
}

/// Set when the response ended (monotonic ns).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceResponseStatisticsSetResponseEnd(
    response_statistics: *mut TRITONBACKEND_ModelInstanceResponseStatistics,
    response_end: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceResponseStatisticsSetResponseEnd's caller passes a live
    // response statistics object, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    with_rs(
        c,
        "TRITONBACKEND_ModelInstanceResponseStatisticsSetResponseEnd",
        response_statistics,
        |s| {
            s.response_end = response_end;
            Ok(())
        },
    )
}

/// Mark the response as failed (NULL: succeeded). The error stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceResponseStatisticsSetError(
    response_statistics: *mut TRITONBACKEND_ModelInstanceResponseStatistics,
    error: *mut TRITONSERVER_Error,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceResponseStatisticsSetError's caller passes a live response
    // statistics object, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    with_rs(
        c,
        "TRITONBACKEND_ModelInstanceResponseStatisticsSetError",
        response_statistics,
        |s| {
            s.error = !error.is_null();
            Ok(())
        },
    )
}

/// Record the response statistics with the instance's model.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceReportResponseStatistics(
    response_statistics: *mut TRITONBACKEND_ModelInstanceResponseStatistics,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceReportResponseStatistics's caller passes a live response
    // statistics object whose model instance (if set) is still live, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try(
        "TRITONBACKEND_ModelInstanceReportResponseStatistics",
        || {
            let s = c.arg_ref(response_statistics, "response_statistics")?;
            let instance: &Instance =
                c.arg_ref(s.instance.ptr::<Instance>().cast_const(), "model_instance")?;
            model_of(instance)?.stats().report_response(
                !s.error,
                s.response_start,
                s.compute_output_start,
                s.response_end,
            );
            Ok(())
        },
    )
}

fn memory_usage(
    c: Contract,
    usage: *mut *mut TRITONSERVER_BufferAttributes,
    usage_size: u32,
) -> Result<Vec<BufferAttributes>> {
    let items = c.arg_slice(usage.cast_const(), usage_size as usize, "usage")?;
    items
        .iter()
        .map(|p| c.arg_ref(*p, "usage[i]").copied())
        .collect()
}

/// Report the memory a model holds (for the statistics' `memory_usage`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelReportMemoryUsage(
    model: *mut TRITONBACKEND_Model,
    usage: *mut *mut TRITONSERVER_BufferAttributes,
    usage_size: u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelReportMemoryUsage's caller passes a live model and `usage_size`
    // live buffer attributes objects at `usage`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelReportMemoryUsage", || {
        let m = c.arg_ref(model, "model")?;
        m.stats()
            .report_memory(&memory_usage(c, usage, usage_size)?);
        Ok(())
    })
}

/// Report the memory an instance holds (for the statistics' `memory_usage`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceReportMemoryUsage(
    instance: *mut TRITONBACKEND_ModelInstance,
    usage: *mut *mut TRITONSERVER_BufferAttributes,
    usage_size: u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceReportMemoryUsage's caller passes a live model instance
    // and `usage_size` live buffer attributes objects at `usage`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceReportMemoryUsage", || {
        let i = c.arg_ref(instance, "instance")?;
        model_of(i)?
            .stats()
            .report_memory(&memory_usage(c, usage, usage_size)?);
        Ok(())
    })
}

/// Implicit sequence state (`TRITONBACKEND_State`), owned by its request.
pub type TRITONBACKEND_State = crate::engine::sequence::OutputState;

/// Create the implicit state output `name` (a state's output name in the model's sequence
/// batching configuration) for a request of a sequence. The state belongs to the request.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_StateNew(
    state: *mut *mut TRITONBACKEND_State,
    request: *mut TRITONBACKEND_Request,
    name: *const c_char,
    datatype: TRITONSERVER_DataType,
    shape: *const i64,
    dims_count: u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_StateNew's caller passes a live request, a NUL-terminated `name`,
    // `dims_count` elements at `shape` and writable `state`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_StateNew", || {
        let out = c.out_ptr(state, "state")?;
        let r = c.arg_ref(request, "request")?;
        let name = c.arg_cstr(name, "name")?;
        let dtype = datatype.get()?;
        let shape = c.arg_slice(shape, dims_count as usize, "shape")?;
        out.write(std::sync::Arc::as_ptr(&r.new_state(name, dtype, shape)?).cast_mut());
        Ok(())
    })
}

/// Commit the state: the next request of the sequence receives it as its state input.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_StateUpdate(
    state: *mut TRITONBACKEND_State,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_StateUpdate's caller passes a live state, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_StateUpdate", || {
        c.arg_ref(state, "state")?.update()
    })
}

/// A buffer of `buffer_byte_size` bytes for the state's data (CPU memory in this build; the
/// actual memory type is written back).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_StateBuffer(
    state: *mut TRITONBACKEND_State,
    buffer: *mut *mut c_void,
    buffer_byte_size: u64,
    memory_type: *mut TRITONSERVER_MemoryType,
    memory_type_id: *mut i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_StateBuffer's caller passes a live state, a readable and writable
    // `memory_type`, a readable and writable `memory_type_id` and writable `buffer`, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_StateBuffer", || {
        let s = c.arg_ref(state, "state")?;
        let out = c.out_ptr(buffer, "buffer")?;
        let mt = c.arg_mut(memory_type, "memory_type")?;
        let id = c.arg_mut(memory_type_id, "memory_type_id")?;
        let size = usize::try_from(buffer_byte_size)
            .map_err(|_| Error::invalid_arg("buffer_byte_size is too large"))?;
        let addr = s.allocate(size, mt.get()?)?;
        out.write(addr as *mut c_void);
        *mt = TRITONSERVER_MemoryType(crate::engine::types::MemoryType::Cpu as u32);
        *id = 0;
        Ok(())
    })
}

/// The attributes of the state's buffer; the object belongs to the state.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_StateBufferAttributes(
    state: *mut TRITONBACKEND_State,
    buffer_attributes: *mut *mut TRITONSERVER_BufferAttributes,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_StateBufferAttributes's caller passes a live state and writable
    // `buffer_attributes`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_StateBufferAttributes", || {
        let s = c.arg_ref(state, "state")?;
        let out = c.out_ptr(buffer_attributes, "buffer_attributes")?;
        let guard = crate::engine::sync::lock(s.attributes());
        out.write(std::ptr::from_ref(&*guard).cast_mut());
        Ok(())
    })
}
