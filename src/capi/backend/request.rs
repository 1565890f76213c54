//! `TRITONBACKEND_Request` and `TRITONBACKEND_Input`: what a backend reads from a request, and
//! giving the request back with `TRITONBACKEND_RequestRelease`.
//!
//! Methods: `RequestId`, `RequestIsCancelled`, `RequestCorrelationId`,
//! `RequestCorrelationIdString`, `InferenceRequestTimeoutMicroseconds`, `RequestFlags`,
//! `RequestParameterCount`, `RequestParameter`, `RequestInputCount`, `RequestInputName`,
//! `RequestInput`, `RequestInputByIndex`, `RequestOutputCount`, `RequestOutputName`,
//! `RequestOutputBufferProperties`, `RequestRelease`, `RequestTrace`, `InputProperties`,
//! `InputPropertiesForHostPolicy`, `InputBuffer`, `InputBufferForHostPolicy`,
//! `InputBufferAttributes`. Strings, shapes and inputs live until the request is released.

use std::ffi::{c_char, c_void};

use crate::capi::backend::TRITONBACKEND_Request;
use crate::capi::boundary::ffi_try;
use crate::capi::callback::TRITONSERVER_BufferAttributes;
use crate::capi::handle::Contract;
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::server::response::param_value_ptr;
use crate::capi::server::trace::TRITONSERVER_InferenceTrace;
use crate::capi::types::{
    TRITONSERVER_DataType, TRITONSERVER_MemoryType, TRITONSERVER_ParameterType,
};
use crate::engine::infer::{
    CorrelationId, InferenceRequest, InputTensor, RELEASE_ALL, RELEASE_RESCHEDULE,
};
use crate::engine::types::MemoryType;
use crate::engine::{Error, Result};

/// An input of a request as a backend sees it.
pub type TRITONBACKEND_Input = InputTensor;

fn index_error(what: &str, index: u32, count: usize) -> Error {
    Error::invalid_arg(format!(
        "out of bounds index {index}: request has {count} {what}"
    ))
}

fn request_ref<'a>(
    c: Contract,
    request: *mut TRITONBACKEND_Request,
) -> Result<&'a InferenceRequest> {
    c.arg_ref(request, "request")
}

/// The request id ("" when unset).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestId(
    request: *mut TRITONBACKEND_Request,
    id: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestId's caller passes a live request and writable `id`, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestId", || {
        let r = request_ref(c, request)?;
        c.out_ptr(id, "id")?.write(r.id_c().as_ptr());
        Ok(())
    })
}

/// Whether the frontend cancelled the request.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestIsCancelled(
    request: *mut TRITONBACKEND_Request,
    is_cancelled: *mut bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestIsCancelled's caller passes a live request and writable
    // `is_cancelled`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestIsCancelled", || {
        let r = request_ref(c, request)?;
        c.out_ptr(is_cancelled, "is_cancelled")?
            .write(r.is_cancelled());
        Ok(())
    })
}

/// The unsigned correlation id; an error when it is a string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestCorrelationId(
    request: *mut TRITONBACKEND_Request,
    id: *mut u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestCorrelationId's caller passes a live request and writable `id`,
    // as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestCorrelationId", || {
        let r = request_ref(c, request)?;
        let out = c.out_ptr(id, "id")?;
        match &r.correlation_id {
            CorrelationId::U64(v) => {
                out.write(*v);
                Ok(())
            }
            CorrelationId::Str(_) => Err(Error::invalid_arg(
                "correlation ID in request is not an unsigned int",
            )),
        }
    })
}

/// The string correlation id; an error when it is unsigned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestCorrelationIdString(
    request: *mut TRITONBACKEND_Request,
    id: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestCorrelationIdString's caller passes a live request and writable
    // `id`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestCorrelationIdString", || {
        let r = request_ref(c, request)?;
        let out = c.out_ptr(id, "id")?;
        match &r.correlation_id {
            CorrelationId::Str(s) => {
                out.write(s.as_ptr());
                Ok(())
            }
            CorrelationId::U64(_) => Err(Error::invalid_arg(
                "correlation ID in request is not a string",
            )),
        }
    })
}

/// The request timeout in microseconds (0: none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_InferenceRequestTimeoutMicroseconds(
    request: *mut TRITONBACKEND_Request,
    timeout: *mut u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_InferenceRequestTimeoutMicroseconds's caller passes a live request and
    // writable `timeout`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_InferenceRequestTimeoutMicroseconds", || {
        let r = request_ref(c, request)?;
        c.out_ptr(timeout, "timeout")?.write(r.timeout_us);
        Ok(())
    })
}

/// The request flags.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestFlags(
    request: *mut TRITONBACKEND_Request,
    flags: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestFlags's caller passes a live request and writable `flags`, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestFlags", || {
        let r = request_ref(c, request)?;
        c.out_ptr(flags, "flags")?.write(r.flags);
        Ok(())
    })
}

/// How many parameters the request has.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestParameterCount(
    request: *mut TRITONBACKEND_Request,
    count: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestParameterCount's caller passes a live request and writable
    // `count`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestParameterCount", || {
        let r = request_ref(c, request)?;
        c.out_ptr(count, "count")?
            .write(u32::try_from(r.parameters.len()).unwrap_or(u32::MAX));
        Ok(())
    })
}

/// One parameter: key, type and a pointer to the value.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestParameter(
    request: *mut TRITONBACKEND_Request,
    index: u32,
    key: *mut *const c_char,
    type_: *mut TRITONSERVER_ParameterType,
    vvalue: *mut *const c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestParameter's caller passes a live request and writable `key`,
    // `type_` and `vvalue`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestParameter", || {
        let r = request_ref(c, request)?;
        let key = c.out_ptr(key, "key")?;
        let kind = c.out_ptr(type_, "type")?;
        let value = c.out_ptr(vvalue, "vvalue")?;
        let p = r
            .parameters
            .get(index as usize)
            .ok_or_else(|| index_error("parameters", index, r.parameters.len()))?;
        key.write(p.name_c().as_ptr());
        kind.write(TRITONSERVER_ParameterType(p.kind() as u32));
        value.write(param_value_ptr(p.value()));
        Ok(())
    })
}

/// How many inputs the request has.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestInputCount(
    request: *mut TRITONBACKEND_Request,
    count: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestInputCount's caller passes a live request and writable `count`,
    // as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestInputCount", || {
        let r = request_ref(c, request)?;
        c.out_ptr(count, "count")?
            .write(u32::try_from(r.inputs().len()).unwrap_or(u32::MAX));
        Ok(())
    })
}

/// The name of one input.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestInputName(
    request: *mut TRITONBACKEND_Request,
    index: u32,
    input_name: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestInputName's caller passes a live request and writable
    // `input_name`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestInputName", || {
        let r = request_ref(c, request)?;
        let out = c.out_ptr(input_name, "input_name")?;
        let i = r
            .inputs()
            .get(index as usize)
            .ok_or_else(|| index_error("inputs", index, r.inputs().len()))?;
        out.write(i.name_c().as_ptr());
        Ok(())
    })
}

/// The input with a name.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestInput(
    request: *mut TRITONBACKEND_Request,
    name: *const c_char,
    input: *mut *mut TRITONBACKEND_Input,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestInput's caller passes a live request, a NUL-terminated `name`
    // and writable `input`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestInput", || {
        let r = request_ref(c, request)?;
        let name = c.arg_cstr(name, "name")?;
        let out = c.out_ptr(input, "input")?;
        let i = r.input(name).ok_or_else(|| {
            Error::invalid_arg(format!(
                "{}input '{name}' does not exist in request",
                r.log_prefix()
            ))
        })?;
        out.write(std::ptr::from_ref(i).cast_mut());
        Ok(())
    })
}

/// The input at an index.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestInputByIndex(
    request: *mut TRITONBACKEND_Request,
    index: u32,
    input: *mut *mut TRITONBACKEND_Input,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestInputByIndex's caller passes a live request and writable
    // `input`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestInputByIndex", || {
        let r = request_ref(c, request)?;
        let out = c.out_ptr(input, "input")?;
        let i = r
            .inputs()
            .get(index as usize)
            .ok_or_else(|| index_error("inputs", index, r.inputs().len()))?;
        out.write(std::ptr::from_ref(i).cast_mut());
        Ok(())
    })
}

/// How many outputs the backend is to produce: those requested, or all of the model's outputs
/// when the request named none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestOutputCount(
    request: *mut TRITONBACKEND_Request,
    count: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestOutputCount's caller passes a live request and writable `count`,
    // as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestOutputCount", || {
        let r = request_ref(c, request)?;
        c.out_ptr(count, "count")?
            .write(u32::try_from(r.effective_outputs().len()).unwrap_or(u32::MAX));
        Ok(())
    })
}

/// The name of one requested output.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestOutputName(
    request: *mut TRITONBACKEND_Request,
    index: u32,
    output_name: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestOutputName's caller passes a live request and writable
    // `output_name`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestOutputName", || {
        let r = request_ref(c, request)?;
        let out = c.out_ptr(output_name, "output_name")?;
        let outputs = r.effective_outputs();
        let name = outputs
            .get(index as usize)
            .ok_or_else(|| index_error("requested outputs", index, outputs.len()))?;
        out.write(name.as_ptr());
        Ok(())
    })
}

/// The memory the frontend's allocator prefers for an output (`name` NULL: any output); needs
/// an allocator query function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestOutputBufferProperties(
    request: *mut TRITONBACKEND_Request,
    name: *const c_char,
    byte_size: *mut usize,
    memory_type: *mut TRITONSERVER_MemoryType,
    memory_type_id: *mut i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestOutputBufferProperties's caller passes a live request, `name`
    // NULL or NUL-terminated, writable `memory_type` and `memory_type_id` and `byte_size` NULL or
    // writable, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestOutputBufferProperties", || {
        let r = request_ref(c, request)?;
        let mt = c.out_ptr(memory_type, "memory_type")?;
        let id = c.out_ptr(memory_type_id, "memory_type_id")?;
        let name = if name.is_null() {
            None
        } else {
            Some(crate::engine::sync::c_string(c.arg_cstr(name, "name")?))
        };
        let size = c.opt_out(byte_size);
        let factory = r.response_factory()?;
        let (t, i) = factory
            .allocator()
            .query(name.as_deref(), None, MemoryType::Cpu, 0)
            .map_err(|_| Error::unavailable("Output properties are not available"))?;
        if let Some(s) = size {
            s.write(0);
        }
        mt.write(TRITONSERVER_MemoryType(t as u32));
        id.write(i);
        Ok(())
    })
}

/// Give a request back to the core (`TRITONSERVER_REQUEST_RELEASE_ALL`); the core passes it
/// to the frontend's release callback. The backend must not use it afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestRelease(
    request: *mut TRITONBACKEND_Request,
    release_flags: u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestRelease's caller passes a live request that it owns and, unless
    // the call fails, gives up, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestRelease", || {
        if release_flags & RELEASE_RESCHEDULE != 0 {
            // Rescheduling needs an iterative sequence batcher; the request stays the backend's.
            c.arg_ref(request, "request")?;
            return Err(Error::invalid_arg(
                "Request is released with TRITONSERVER_REQUEST_RELEASE_RESCHEDULE, while the model is not configured to handle such a flag.",
            ));
        }
        let r = c.take_box(request, "request")?;
        r.release(release_flags | RELEASE_ALL);
        Ok(())
    })
}

/// The trace of the request (NULL when the request is not traced).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_RequestTrace(
    request: *mut TRITONBACKEND_Request,
    trace: *mut *mut TRITONSERVER_InferenceTrace,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_RequestTrace's caller passes a live request and writable `trace`, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_RequestTrace", || {
        let r = request_ref(c, request)?;
        let t = r.trace().map_or(std::ptr::null_mut(), |t| {
            std::sync::Arc::as_ptr(t).cast_mut()
        });
        c.out_ptr(trace, "trace")?.write(t);
        Ok(())
    })
}

#[allow(clippy::too_many_arguments, reason = "mirrors the C function")]
fn input_properties(
    c: Contract,
    input: *mut TRITONBACKEND_Input,
    host_policy: Option<&str>,
    name: *mut *const c_char,
    datatype: *mut TRITONSERVER_DataType,
    shape: *mut *const i64,
    dims_count: *mut u32,
    byte_size: *mut u64,
    buffer_count: *mut u32,
) -> Result<()> {
    let i = c.arg_ref(input, "input")?;
    let buffers = i.buffers_for(host_policy);
    if let Some(o) = c.opt_out(name) {
        o.write(i.name_c().as_ptr());
    }
    if let Some(o) = c.opt_out(datatype) {
        o.write(TRITONSERVER_DataType(i.datatype as u32));
    }
    if let Some(o) = c.opt_out(shape) {
        o.write(i.shape_with_batch_dim.as_ptr());
    }
    if let Some(o) = c.opt_out(dims_count) {
        o.write(i.shape_with_batch_dim.len() as u32);
    }
    if let Some(o) = c.opt_out(byte_size) {
        o.write(buffers.iter().map(|b| b.byte_size() as u64).sum());
    }
    if let Some(o) = c.opt_out(buffer_count) {
        o.write(u32::try_from(buffers.len()).unwrap_or(u32::MAX));
    }
    Ok(())
}

/// Properties of an input: name, type, shape (with the batch dimension when the model
/// batches), total byte size and buffer count. Any out-pointer may be NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_InputProperties(
    input: *mut TRITONBACKEND_Input,
    name: *mut *const c_char,
    datatype: *mut TRITONSERVER_DataType,
    shape: *mut *const i64,
    dims_count: *mut u32,
    byte_size: *mut u64,
    buffer_count: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_InputProperties's caller passes a live input and `name`, `datatype`,
    // `shape`, `dims_count`, `byte_size` and `buffer_count` each NULL or writable, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_InputProperties", || {
        input_properties(
            c,
            input,
            None,
            name,
            datatype,
            shape,
            dims_count,
            byte_size,
            buffer_count,
        )
    })
}

/// Input properties for the buffers of one host policy (NULL: the default buffers).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_InputPropertiesForHostPolicy(
    input: *mut TRITONBACKEND_Input,
    host_policy_name: *const c_char,
    name: *mut *const c_char,
    datatype: *mut TRITONSERVER_DataType,
    shape: *mut *const i64,
    dims_count: *mut u32,
    byte_size: *mut u64,
    buffer_count: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_InputPropertiesForHostPolicy's caller passes a live input,
    // `host_policy_name` NULL or NUL-terminated and `name`, `datatype`, `shape`, `dims_count`,
    // `byte_size` and `buffer_count` each NULL or writable, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_InputPropertiesForHostPolicy", || {
        let policy = if host_policy_name.is_null() {
            None
        } else {
            Some(c.arg_cstr(host_policy_name, "host_policy_name")?)
        };
        input_properties(
            c,
            input,
            policy,
            name,
            datatype,
            shape,
            dims_count,
            byte_size,
            buffer_count,
        )
    })
}

#[allow(clippy::too_many_arguments, reason = "mirrors the C function")]
fn input_buffer(
    c: Contract,
    input: *mut TRITONBACKEND_Input,
    host_policy: Option<&str>,
    index: u32,
    buffer: *mut *const c_void,
    buffer_byte_size: *mut u64,
    memory_type: *mut TRITONSERVER_MemoryType,
    memory_type_id: *mut i64,
) -> Result<()> {
    let i = c.arg_ref(input, "input")?;
    let buffer = c.out_ptr(buffer, "buffer")?;
    let size = c.out_ptr(buffer_byte_size, "buffer_byte_size")?;
    let mt = c.out_ptr(memory_type, "memory_type")?;
    let id = c.out_ptr(memory_type_id, "memory_type_id")?;
    let buffers = i.buffers_for(host_policy);
    let b = buffers.get(index as usize).ok_or_else(|| {
        Error::invalid_arg(format!(
            "input buffer index out of range for input '{}': {index} >= {}",
            i.name(),
            buffers.len()
        ))
    })?;
    buffer.write(b.addr.ptr::<c_void>());
    size.write(b.byte_size() as u64);
    mt.write(TRITONSERVER_MemoryType(b.attributes.memory_type as u32));
    id.write(b.attributes.memory_type_id);
    Ok(())
}

/// One data buffer of an input. The preferred memory type given in `*memory_type` is ignored:
/// the buffer is returned where it is.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_InputBuffer(
    input: *mut TRITONBACKEND_Input,
    index: u32,
    buffer: *mut *const c_void,
    buffer_byte_size: *mut u64,
    memory_type: *mut TRITONSERVER_MemoryType,
    memory_type_id: *mut i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_InputBuffer's caller passes a live input and writable `buffer`,
    // `buffer_byte_size`, `memory_type` and `memory_type_id`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_InputBuffer", || {
        input_buffer(
            c,
            input,
            None,
            index,
            buffer,
            buffer_byte_size,
            memory_type,
            memory_type_id,
        )
    })
}

/// One data buffer of an input for a host policy (NULL: the default buffers).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_InputBufferForHostPolicy(
    input: *mut TRITONBACKEND_Input,
    host_policy_name: *const c_char,
    index: u32,
    buffer: *mut *const c_void,
    buffer_byte_size: *mut u64,
    memory_type: *mut TRITONSERVER_MemoryType,
    memory_type_id: *mut i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_InputBufferForHostPolicy's caller passes a live input,
    // `host_policy_name` NULL or NUL-terminated and writable `buffer`, `buffer_byte_size`,
    // `memory_type` and `memory_type_id`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_InputBufferForHostPolicy", || {
        let policy = if host_policy_name.is_null() {
            None
        } else {
            Some(c.arg_cstr(host_policy_name, "host_policy_name")?)
        };
        input_buffer(
            c,
            input,
            policy,
            index,
            buffer,
            buffer_byte_size,
            memory_type,
            memory_type_id,
        )
    })
}

/// One data buffer of an input with its attributes. The attributes object belongs to the
/// request.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_InputBufferAttributes(
    input: *mut TRITONBACKEND_Input,
    index: u32,
    buffer: *mut *const c_void,
    buffer_attributes: *mut *mut TRITONSERVER_BufferAttributes,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_InputBufferAttributes's caller passes a live input and writable
    // `buffer` and `buffer_attributes`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_InputBufferAttributes", || {
        let i = c.arg_ref(input, "input")?;
        let buffer = c.out_ptr(buffer, "buffer")?;
        let attrs = c.out_ptr(buffer_attributes, "buffer_attributes")?;
        let b = i.buffers.get(index as usize).ok_or_else(|| {
            Error::invalid_arg(format!(
                "input buffer index out of range for input '{}': {index} >= {}",
                i.name(),
                i.buffers.len()
            ))
        })?;
        buffer.write(b.addr.ptr::<c_void>());
        attrs.write(std::ptr::from_ref(&b.attributes).cast_mut());
        Ok(())
    })
}
