//! `TRITONSERVER_InferenceRequest`: building a request and handing it to the server.
//!
//! Methods: `InferenceRequestNew`, `...Delete`, id, flags, correlation id (unsigned and string),
//! cancel, priority, timeout, inputs and their data, requested outputs, parameters, and the
//! release and response callbacks.
//!
//! 1. `InferenceRequestNew` for a model (the model must be available); the caller owns it.
//! 2. Add inputs and data (the data is not copied: it must stay valid until the request is
//!    released), set both callbacks.
//! 3. `TRITONSERVER_ServerInferAsync`: the core owns the request until it calls the release
//!    callback, which gives it back; then it may be reused or deleted.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use crate::capi::boundary::ffi_try;
use crate::capi::callback::{
    CAllocator, CReleaseCallback, CResponseCallback, TRITONSERVER_BufferAttributes,
    TRITONSERVER_InferenceRequestReleaseFn_t, TRITONSERVER_InferenceResponseCompleteFn_t,
    TRITONSERVER_ResponseAllocator,
};
use crate::capi::handle::{into_raw, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::server::server::{server_ref, TRITONSERVER_Server};
use crate::capi::types::{TRITONSERVER_DataType, TRITONSERVER_MemoryType};
use crate::engine::buffer::Addr;
use crate::engine::infer::{CorrelationId, DataBuffer, InferenceRequest};
use crate::engine::parameters::ParameterValue;
use crate::engine::types::MemoryType;
use crate::engine::{Error, Result};

/// An inference request.
pub type TRITONSERVER_InferenceRequest = InferenceRequest;

fn with_request(
    c: Contract,
    name: &'static str,
    request: *mut TRITONSERVER_InferenceRequest,
    f: impl FnOnce(&mut InferenceRequest) -> Result<()>,
) -> *mut TRITONSERVER_Error {
    ffi_try(name, || f(c.arg_mut(request, "inference_request")?))
}

fn host_buffer(
    base: *const c_void,
    byte_size: usize,
    mt: MemoryType,
    id: i64,
) -> Result<DataBuffer> {
    if mt == MemoryType::Gpu {
        return Err(Error::unsupported(
            "GPU memory is not supported by this build of triton-core; use CPU or CPU_PINNED memory",
        ));
    }
    if base.is_null() && byte_size > 0 {
        return Err(Error::invalid_arg(format!(
            "{}: 'base' must not be NULL for {byte_size} bytes",
            crate::capi::boundary::current_fn()
        )));
    }
    Ok(DataBuffer::borrowed(Addr::of(base), byte_size, mt, id))
}

/// Create a request for a model version (-1: the latest ready one).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestNew(
    inference_request: *mut *mut TRITONSERVER_InferenceRequest,
    server: *mut TRITONSERVER_Server,
    model_name: *const c_char,
    model_version: i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestNew's caller passes a live server, a NUL-terminated
    // `model_name` and writable `inference_request`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceRequestNew", || {
        let out = c.out_ptr(inference_request, "inference_request")?;
        let s = server_ref(c, server)?;
        let name = c.arg_cstr(model_name, "model_name")?;
        let model = s.get_model(name, model_version)?;
        out.write(into_raw(Box::new(InferenceRequest::new(
            model,
            model_version,
        ))));
        Ok(())
    })
}

/// Delete a request the caller owns (never one the core still holds).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestDelete(
    inference_request: *mut TRITONSERVER_InferenceRequest,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestDelete's caller passes an inference request it owns and
    // gives up, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceRequestDelete", || {
        drop(c.take_box(inference_request, "inference_request")?);
        Ok(())
    })
}

/// The request id ("" when unset), valid until the id changes or the request is deleted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestId(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    id: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestId's caller passes a live inference request and writable
    // `id`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestId",
        inference_request,
        |r| {
            c.out_ptr(id, "id")?.write(r.id_c().as_ptr());
            Ok(())
        },
    )
}

/// Set the request id (copied).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestSetId(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    id: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestSetId's caller passes a live inference request and a
    // NUL-terminated `id`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestSetId",
        inference_request,
        |r| {
            r.set_id(c.arg_cstr(id, "id")?);
            Ok(())
        },
    )
}

/// The request flags (`TRITONSERVER_RequestFlag` bits).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestFlags(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    flags: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestFlags's caller passes a live inference request and
    // writable `flags`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestFlags",
        inference_request,
        |r| {
            c.out_ptr(flags, "flags")?.write(r.flags);
            Ok(())
        },
    )
}

/// Set the request flags (sequence start / end).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestSetFlags(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    flags: u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestSetFlags's caller passes a live inference request, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestSetFlags",
        inference_request,
        |r| {
            r.flags = flags;
            Ok(())
        },
    )
}

/// The unsigned correlation id; an error when the id is a string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestCorrelationId(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    correlation_id: *mut u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestCorrelationId's caller passes a live inference request
    // and writable `correlation_id`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestCorrelationId",
        inference_request,
        |r| {
            let out = c.out_ptr(correlation_id, "correlation_id")?;
            match &r.correlation_id {
                CorrelationId::U64(v) => {
                    out.write(*v);
                    Ok(())
                }
                CorrelationId::Str(_) => Err(Error::invalid_arg(
                    "given request's correlation id is not an unsigned int",
                )),
            }
        },
    )
}

/// The string correlation id; an error when the id is unsigned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestCorrelationIdString(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    correlation_id: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestCorrelationIdString's caller passes a live inference
    // request and writable `correlation_id`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestCorrelationIdString",
        inference_request,
        |r| {
            let out = c.out_ptr(correlation_id, "correlation_id")?;
            match &r.correlation_id {
                CorrelationId::Str(s) => {
                    out.write(s.as_ptr());
                    Ok(())
                }
                CorrelationId::U64(_) => Err(Error::invalid_arg(
                    "given request's correlation id is not a string",
                )),
            }
        },
    )
}

/// Set an unsigned correlation id (for sequence batching).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestSetCorrelationId(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    correlation_id: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestSetCorrelationId's caller passes a live inference
    // request, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestSetCorrelationId",
        inference_request,
        |r| {
            r.correlation_id = CorrelationId::U64(correlation_id);
            Ok(())
        },
    )
}

/// Set a string correlation id (copied).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestSetCorrelationIdString(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    correlation_id: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestSetCorrelationIdString's caller passes a live inference
    // request and a NUL-terminated `correlation_id`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestSetCorrelationIdString",
        inference_request,
        |r| {
            let s = c.arg_cstr(correlation_id, "correlation_id")?;
            if s.len() > 128 {
                return Err(Error::invalid_arg(
                    "string correlation ID cannot exceed 128 characters",
                ));
            }
            r.correlation_id = CorrelationId::Str(crate::engine::sync::c_string(s));
            Ok(())
        },
    )
}

/// Ask for the request to be cancelled; backends see it with `TRITONBACKEND_RequestIsCancelled`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestCancel(
    inference_request: *mut TRITONSERVER_InferenceRequest,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestCancel's caller passes a live inference request, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceRequestCancel", || {
        c.arg_ref(inference_request, "inference_request")?.cancel();
        Ok(())
    })
}

/// Whether the request was cancelled.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestIsCancelled(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    is_cancelled: *mut bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestIsCancelled's caller passes a live inference request and
    // writable `is_cancelled`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceRequestIsCancelled", || {
        let r = c.arg_ref(inference_request, "inference_request")?;
        c.out_ptr(is_cancelled, "is_cancelled")?
            .write(r.is_cancelled());
        Ok(())
    })
}

/// The priority, as 32 bits (deprecated: see `...PriorityUInt64`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestPriority(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    priority: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestPriority's caller passes a live inference request and
    // writable `priority`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestPriority",
        inference_request,
        |r| {
            c.out_ptr(priority, "priority")?
                .write(u32::try_from(r.priority).unwrap_or(u32::MAX));
            Ok(())
        },
    )
}

/// The priority (0 = the model's default; 1 is the highest).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestPriorityUInt64(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    priority: *mut u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestPriorityUInt64's caller passes a live inference request
    // and writable `priority`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestPriorityUInt64",
        inference_request,
        |r| {
            c.out_ptr(priority, "priority")?.write(r.priority);
            Ok(())
        },
    )
}

/// Set the priority (32-bit form).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestSetPriority(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    priority: u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestSetPriority's caller passes a live inference request, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestSetPriority",
        inference_request,
        |r| {
            r.set_priority(u64::from(priority));
            Ok(())
        },
    )
}

/// Set the priority.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestSetPriorityUInt64(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    priority: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestSetPriorityUInt64's caller passes a live inference
    // request, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestSetPriorityUInt64",
        inference_request,
        |r| {
            r.set_priority(priority);
            Ok(())
        },
    )
}

/// The timeout in microseconds (0: none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestTimeoutMicroseconds(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    timeout_us: *mut u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestTimeoutMicroseconds's caller passes a live inference
    // request and writable `timeout_us`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestTimeoutMicroseconds",
        inference_request,
        |r| {
            c.out_ptr(timeout_us, "timeout_us")?.write(r.timeout_us);
            Ok(())
        },
    )
}

/// Set the timeout in microseconds (0: none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestSetTimeoutMicroseconds(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    timeout_us: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestSetTimeoutMicroseconds's caller passes a live inference
    // request, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestSetTimeoutMicroseconds",
        inference_request,
        |r| {
            r.timeout_us = timeout_us;
            Ok(())
        },
    )
}

/// Add an input tensor with a data type and shape (copied); data comes with
/// `...AppendInputData`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestAddInput(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    name: *const c_char,
    datatype: TRITONSERVER_DataType,
    shape: *const i64,
    dim_count: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestAddInput's caller passes a live inference request, a
    // NUL-terminated `name` and `dim_count` elements at `shape`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestAddInput",
        inference_request,
        |r| {
            let name = c.arg_cstr(name, "name")?;
            let datatype = datatype.get()?;
            let n = usize::try_from(dim_count)
                .map_err(|_| Error::invalid_arg("dim_count too large"))?;
            let shape = c.arg_slice(shape, n, "shape")?;
            r.add_input(name, datatype, shape)
        },
    )
}

/// Add the model's single input as a raw input: its type and shape come from the
/// configuration and the data size.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestAddRawInput(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    name: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestAddRawInput's caller passes a live inference request and
    // a NUL-terminated `name`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestAddRawInput",
        inference_request,
        |r| r.add_raw_input(c.arg_cstr(name, "name")?),
    )
}

/// Remove an input.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestRemoveInput(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    name: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestRemoveInput's caller passes a live inference request and
    // a NUL-terminated `name`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestRemoveInput",
        inference_request,
        |r| r.remove_input(c.arg_cstr(name, "name")?),
    )
}

/// Remove every input.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestRemoveAllInputs(
    inference_request: *mut TRITONSERVER_InferenceRequest,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestRemoveAllInputs's caller passes a live inference
    // request, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestRemoveAllInputs",
        inference_request,
        |r| {
            r.remove_all_inputs();
            Ok(())
        },
    )
}

/// Append a buffer of input data (not copied: it must stay valid until the request is
/// released). CPU and CPU_PINNED memory only in this build.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestAppendInputData(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    name: *const c_char,
    base: *const c_void,
    byte_size: usize,
    memory_type: TRITONSERVER_MemoryType,
    memory_type_id: i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestAppendInputData's caller passes a live inference request
    // and a NUL-terminated `name`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestAppendInputData",
        inference_request,
        |r| {
            let name = c.arg_cstr(name, "name")?;
            let buf = host_buffer(base, byte_size, memory_type.get()?, memory_type_id)?;
            r.append_input_data(name, buf, None)
        },
    )
}

/// Append input data for one host policy.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestAppendInputDataWithHostPolicy(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    name: *const c_char,
    base: *const c_void,
    byte_size: usize,
    memory_type: TRITONSERVER_MemoryType,
    memory_type_id: i64,
    host_policy_name: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestAppendInputDataWithHostPolicy's caller passes a live
    // inference request, a NUL-terminated `name` and a NUL-terminated `host_policy_name`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestAppendInputDataWithHostPolicy",
        inference_request,
        |r| {
            let name = c.arg_cstr(name, "name")?;
            let policy = c.arg_cstr(host_policy_name, "host_policy_name")?;
            let buf = host_buffer(base, byte_size, memory_type.get()?, memory_type_id)?;
            r.append_input_data(name, buf, Some(policy))
        },
    )
}

/// Append input data described by buffer attributes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestAppendInputDataWithBufferAttributes(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    name: *const c_char,
    base: *const c_void,
    buffer_attributes: *mut TRITONSERVER_BufferAttributes,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestAppendInputDataWithBufferAttributes's caller passes a
    // live inference request, a NUL-terminated `name` and a live buffer attributes object, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestAppendInputDataWithBufferAttributes",
        inference_request,
        |r| {
            let name = c.arg_cstr(name, "name")?;
            let attrs = c.arg_ref(buffer_attributes, "buffer_attributes")?;
            let buf = host_buffer(
                base,
                attrs.byte_size,
                attrs.memory_type,
                attrs.memory_type_id,
            )?;
            r.append_input_data(name, buf, None)
        },
    )
}

/// Remove all data of an input.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestRemoveAllInputData(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    name: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestRemoveAllInputData's caller passes a live inference
    // request and a NUL-terminated `name`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestRemoveAllInputData",
        inference_request,
        |r| r.remove_all_input_data(c.arg_cstr(name, "name")?),
    )
}

/// Ask for an output (without any, the model produces all its outputs).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestAddRequestedOutput(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    name: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestAddRequestedOutput's caller passes a live inference
    // request and a NUL-terminated `name`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestAddRequestedOutput",
        inference_request,
        |r| r.add_requested_output(c.arg_cstr(name, "name")?),
    )
}

/// Stop asking for an output.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestRemoveRequestedOutput(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    name: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestRemoveRequestedOutput's caller passes a live inference
    // request and a NUL-terminated `name`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestRemoveRequestedOutput",
        inference_request,
        |r| r.remove_requested_output(c.arg_cstr(name, "name")?),
    )
}

/// Forget every requested output.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestRemoveAllRequestedOutputs(
    inference_request: *mut TRITONSERVER_InferenceRequest,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestRemoveAllRequestedOutputs's caller passes a live
    // inference request, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestRemoveAllRequestedOutputs",
        inference_request,
        |r| {
            r.remove_all_requested_outputs();
            Ok(())
        },
    )
}

/// Set the function that gets the request back once the core is done with it (called once
/// per `ServerInferAsync`, with `TRITONSERVER_REQUEST_RELEASE_ALL`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestSetReleaseCallback(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    request_release_fn: TRITONSERVER_InferenceRequestReleaseFn_t,
    request_release_userp: *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestSetReleaseCallback's caller passes a live inference
    // request and a release function that may be called with `request_release_userp`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestSetReleaseCallback",
        inference_request,
        |r| {
            let f = request_release_fn
                .ok_or_else(|| crate::capi::handle::null_arg("request_release_fn"))?;
            r.set_release_callback(Arc::new(CReleaseCallback::new(c, f, request_release_userp)));
            Ok(())
        },
    )
}

/// Set the allocator for output buffers and the function that receives responses (it owns
/// each response; the last one carries `TRITONSERVER_RESPONSE_COMPLETE_FINAL`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestSetResponseCallback(
    inference_request: *mut TRITONSERVER_InferenceRequest,
    response_allocator: *mut TRITONSERVER_ResponseAllocator,
    response_allocator_userp: *mut c_void,
    response_fn: TRITONSERVER_InferenceResponseCompleteFn_t,
    response_userp: *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestSetResponseCallback's caller passes a live inference
    // request, a live response allocator whose functions may be called with
    // `response_allocator_userp`, and a response function that may be called with `response_userp`,
    // as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_request(
        c,
        "TRITONSERVER_InferenceRequestSetResponseCallback",
        inference_request,
        |r| {
            let allocator = c.arg_ref(response_allocator, "response_allocator")?;
            let f = response_fn.ok_or_else(|| crate::capi::handle::null_arg("response_fn"))?;
            r.set_response_callback(
                Arc::new(CAllocator::new(c, allocator, response_allocator_userp)),
                Arc::new(CResponseCallback::new(c, f, response_userp)),
            );
            Ok(())
        },
    )
}

fn set_param(
    c: Contract,
    name: &'static str,
    request: *mut TRITONSERVER_InferenceRequest,
    key: *const c_char,
    value: impl FnOnce() -> Result<ParameterValue>,
) -> *mut TRITONSERVER_Error {
    ffi_try(name, || {
        let r = c.arg_mut(request, "request")?;
        let key = c.arg_cstr(key, "key")?;
        r.set_parameter(key, value()?);
        Ok(())
    })
}

/// Set a string parameter (copied).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestSetStringParameter(
    request: *mut TRITONSERVER_InferenceRequest,
    key: *const c_char,
    value: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestSetStringParameter's caller passes a live inference
    // request, a NUL-terminated `key` and a NUL-terminated `value`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    set_param(
        c,
        "TRITONSERVER_InferenceRequestSetStringParameter",
        request,
        key,
        || {
            Ok(ParameterValue::String(crate::engine::sync::c_string(
                c.arg_cstr(value, "value")?,
            )))
        },
    )
}

/// Set an integer parameter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestSetIntParameter(
    request: *mut TRITONSERVER_InferenceRequest,
    key: *const c_char,
    value: i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestSetIntParameter's caller passes a live inference request
    // and a NUL-terminated `key`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    set_param(
        c,
        "TRITONSERVER_InferenceRequestSetIntParameter",
        request,
        key,
        || Ok(ParameterValue::Int(value)),
    )
}

/// Set a boolean parameter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestSetBoolParameter(
    request: *mut TRITONSERVER_InferenceRequest,
    key: *const c_char,
    value: bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestSetBoolParameter's caller passes a live inference
    // request and a NUL-terminated `key`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    set_param(
        c,
        "TRITONSERVER_InferenceRequestSetBoolParameter",
        request,
        key,
        || Ok(ParameterValue::Bool(value)),
    )
}

/// Set a double parameter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceRequestSetDoubleParameter(
    request: *mut TRITONSERVER_InferenceRequest,
    key: *const c_char,
    value: f64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceRequestSetDoubleParameter's caller passes a live inference
    // request and a NUL-terminated `key`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    set_param(
        c,
        "TRITONSERVER_InferenceRequestSetDoubleParameter",
        request,
        key,
        || Ok(ParameterValue::Double(value)),
    )
}

/// Give a request the frontend's trace: it records the model, version and request id, and
/// the request reports its activities to it until it is released.
fn attach_trace(
    c: Contract,
    request: &mut InferenceRequest,
    trace: *mut crate::capi::server::trace::TRITONSERVER_InferenceTrace,
) {
    let Ok(t) = c.clone_arc(trace.cast_const(), "trace") else {
        return;
    };
    t.set_model(request.model().name(), request.model().version());
    t.set_request_id(request.id());
    request.set_trace(Some(crate::engine::trace::TraceProxy::new(t)));
}

/// Hand a request to the server for execution. On success the core owns the request until
/// its release callback runs; on an error the caller keeps it and no callback runs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerInferAsync(
    server: *mut TRITONSERVER_Server,
    inference_request: *mut TRITONSERVER_InferenceRequest,
    trace: *mut crate::capi::server::trace::TRITONSERVER_InferenceTrace,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerInferAsync's caller passes a live server, an inference request it
    // owns and gives up (its input data valid until it is released) and a live trace or NULL, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerInferAsync", || {
        let s = server_ref(c, server)?;
        let mut request = c.take_box(inference_request, "inference_request")?;
        if !trace.is_null() {
            attach_trace(c, &mut request, trace);
        }
        match s.infer_with_memory(request, &crate::capi::handle::CHostMemory::new(c)) {
            Ok(()) => Ok(()),
            Err((e, mut request)) => {
                // An accepted trace is released (its release callback runs), as upstream does
                // when inference fails after the trace was attached.
                drop(request.take_trace());
                // The caller keeps ownership: the same object goes back where it was.
                let _ = into_raw(request);
                Err(e)
            }
        }
    })
}
