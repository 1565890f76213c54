//! `TRITONBACKEND_ResponseFactory`, `TRITONBACKEND_Response` and `TRITONBACKEND_Output`: how a
//! backend builds and sends responses.
//!
//! A response is created from a request (`ResponseNew`) or from a factory (`ResponseNewFromFactory`,
//! which also works after the request was released: decoupled models). The backend owns it until
//! `ResponseSend` (ownership passes to the frontend) or `ResponseDelete`. Outputs belong to
//! their response.

use std::ffi::{c_char, c_void};

use crate::capi::backend::TRITONBACKEND_Request;
use crate::capi::boundary::ffi_try;
use crate::capi::callback::TRITONSERVER_BufferAttributes;
use crate::capi::handle::{into_raw, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::types::{TRITONSERVER_DataType, TRITONSERVER_MemoryType};
use crate::engine::infer::{BackendFactory, InferenceResponse, OutputTensor};
use crate::engine::parameters::ParameterValue;
use crate::engine::{Error, Result};

/// A response factory as a backend holds it.
pub type TRITONBACKEND_ResponseFactory = BackendFactory;
/// A response being built by a backend (the same object the frontend receives).
pub type TRITONBACKEND_Response = InferenceResponse;
/// An output of a response.
pub type TRITONBACKEND_Output = OutputTensor;

/// A factory for the responses of a request; it stays usable after the request is released.
/// Delete it with `TRITONBACKEND_ResponseFactoryDelete`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ResponseFactoryNew(
    factory: *mut *mut TRITONBACKEND_ResponseFactory,
    request: *mut TRITONBACKEND_Request,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ResponseFactoryNew's caller passes a live request and writable
    // `factory`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ResponseFactoryNew", || {
        let out = c.out_ptr(factory, "factory")?;
        let r = c.arg_ref(request, "request")?;
        out.write(into_raw(Box::new(BackendFactory::for_request(r)?)));
        Ok(())
    })
}

/// Delete a response factory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ResponseFactoryDelete(
    factory: *mut TRITONBACKEND_ResponseFactory,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ResponseFactoryDelete's caller passes a response factory it owns and
    // gives up, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ResponseFactoryDelete", || {
        drop(c.take_box(factory, "factory")?);
        Ok(())
    })
}

/// Send only flags (typically `TRITONSERVER_RESPONSE_COMPLETE_FINAL` after the last response
/// of a decoupled request): the frontend's callback gets a NULL response.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ResponseFactorySendFlags(
    factory: *mut TRITONBACKEND_ResponseFactory,
    send_flags: u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ResponseFactorySendFlags's caller passes a live response factory, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ResponseFactorySendFlags", || {
        c.arg_ref(factory, "factory")?
            .factory()
            .send_flags(send_flags);
        Ok(())
    })
}

/// Whether the request of this factory was cancelled.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ResponseFactoryIsCancelled(
    factory: *mut TRITONBACKEND_ResponseFactory,
    is_cancelled: *mut bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ResponseFactoryIsCancelled's caller passes a live response factory and
    // writable `is_cancelled`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ResponseFactoryIsCancelled", || {
        let f = c.arg_ref(factory, "factory")?;
        c.out_ptr(is_cancelled, "is_cancelled")?
            .write(f.factory().is_cancelled());
        Ok(())
    })
}

/// A new response for a request.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ResponseNew(
    response: *mut *mut TRITONBACKEND_Response,
    request: *mut TRITONBACKEND_Request,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ResponseNew's caller passes a live request and writable `response`, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ResponseNew", || {
        let out = c.out_ptr(response, "response")?;
        let r = c.arg_ref(request, "request")?;
        out.write(into_raw(r.response_factory()?.create()));
        Ok(())
    })
}

/// A new response from a factory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ResponseNewFromFactory(
    response: *mut *mut TRITONBACKEND_Response,
    factory: *mut TRITONBACKEND_ResponseFactory,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ResponseNewFromFactory's caller passes a live response factory and
    // writable `response`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ResponseNewFromFactory", || {
        let out = c.out_ptr(response, "response")?;
        let f = c.arg_ref(factory, "factory")?;
        out.write(into_raw(f.factory().create()));
        Ok(())
    })
}

/// Delete a response that will not be sent (its output buffers are released).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ResponseDelete(
    response: *mut TRITONBACKEND_Response,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ResponseDelete's caller passes a response it owns and gives up, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ResponseDelete", || {
        drop(c.take_box(response, "response")?);
        Ok(())
    })
}

fn set_param(
    c: Contract,
    name: &'static str,
    response: *mut TRITONBACKEND_Response,
    key: *const c_char,
    value: impl FnOnce() -> Result<ParameterValue>,
) -> *mut TRITONSERVER_Error {
    ffi_try(name, || {
        let r = c.arg_mut(response, "response")?;
        let key = c.arg_cstr(key, "name")?;
        r.set_parameter(key, value()?);
        Ok(())
    })
}

/// Add a string parameter (copied) to a response.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ResponseSetStringParameter(
    response: *mut TRITONBACKEND_Response,
    name: *const c_char,
    value: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ResponseSetStringParameter's caller passes a live response, a
    // NUL-terminated `name` and a NUL-terminated `value`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    set_param(
        c,
        "TRITONBACKEND_ResponseSetStringParameter",
        response,
        name,
        || {
            Ok(ParameterValue::String(crate::engine::sync::c_string(
                c.arg_cstr(value, "value")?,
            )))
        },
    )
}

/// Add an integer parameter to a response.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ResponseSetIntParameter(
    response: *mut TRITONBACKEND_Response,
    name: *const c_char,
    value: i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ResponseSetIntParameter's caller passes a live response and a
    // NUL-terminated `name`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    set_param(
        c,
        "TRITONBACKEND_ResponseSetIntParameter",
        response,
        name,
        || Ok(ParameterValue::Int(value)),
    )
}

/// Add a boolean parameter to a response.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ResponseSetBoolParameter(
    response: *mut TRITONBACKEND_Response,
    name: *const c_char,
    value: bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ResponseSetBoolParameter's caller passes a live response and a
    // NUL-terminated `name`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    set_param(
        c,
        "TRITONBACKEND_ResponseSetBoolParameter",
        response,
        name,
        || Ok(ParameterValue::Bool(value)),
    )
}

/// Add a double parameter to a response.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ResponseSetDoubleParameter(
    response: *mut TRITONBACKEND_Response,
    name: *const c_char,
    value: f64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ResponseSetDoubleParameter's caller passes a live response and a
    // NUL-terminated `name`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    set_param(
        c,
        "TRITONBACKEND_ResponseSetDoubleParameter",
        response,
        name,
        || Ok(ParameterValue::Double(value)),
    )
}

/// Add an output (a model output) with a type and shape (copied).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ResponseOutput(
    response: *mut TRITONBACKEND_Response,
    output: *mut *mut TRITONBACKEND_Output,
    name: *const c_char,
    datatype: TRITONSERVER_DataType,
    shape: *const i64,
    dims_count: u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ResponseOutput's caller passes a live response, a NUL-terminated
    // `name`, `dims_count` elements at `shape` and writable `output`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ResponseOutput", || {
        let r = c.arg_mut(response, "response")?;
        let out = c.out_ptr(output, "output")?;
        let name = c.arg_cstr(name, "name")?;
        let shape = c.arg_slice(shape, dims_count as usize, "shape")?;
        let index = r.add_output(name, datatype.get()?, shape)?;
        let o = r
            .output_mut(index)
            .ok_or_else(|| Error::internal("added output is missing"))?;
        out.write(std::ptr::from_mut(o));
        Ok(())
    })
}

/// Send a response; the frontend's callback takes it over. With `error`, the response carries
/// that error (the error object stays the caller's).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ResponseSend(
    response: *mut TRITONBACKEND_Response,
    send_flags: u32,
    error: *mut TRITONSERVER_Error,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ResponseSend's caller passes a response it owns and gives up and a live
    // error object or NULL, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ResponseSend", || {
        let mut r = c.take_box(response, "response")?;
        if !error.is_null() {
            r.set_error(c.arg_ref(error, "error")?.to_error());
        }
        r.send(send_flags);
        Ok(())
    })
}

/// Allocate the data buffer of an output through the frontend's allocator. `*memory_type` and
/// `*memory_type_id` give the preferred memory on entry and the actual memory on return.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_OutputBuffer(
    output: *mut TRITONBACKEND_Output,
    buffer: *mut *mut c_void,
    buffer_byte_size: u64,
    memory_type: *mut TRITONSERVER_MemoryType,
    memory_type_id: *mut i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_OutputBuffer's caller passes a live output, a readable and writable
    // `memory_type`, a readable and writable `memory_type_id` and writable `buffer`, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_OutputBuffer", || {
        let o = c.arg_mut(output, "output")?;
        let buffer = c.out_ptr(buffer, "buffer")?;
        let mt = c.arg_mut(memory_type, "memory_type")?;
        let id = c.arg_mut(memory_type_id, "memory_type_id")?;
        let size = usize::try_from(buffer_byte_size)
            .map_err(|_| Error::invalid_arg("buffer_byte_size is too large"))?;
        let b = o.allocate(size, mt.get()?, *id)?;
        buffer.write(b.addr.ptr::<c_void>());
        *mt = TRITONSERVER_MemoryType(b.memory_type as u32);
        *id = b.memory_type_id;
        Ok(())
    })
}

/// The attributes of an output's allocated buffer. The object belongs to the output.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_OutputBufferAttributes(
    output: *mut TRITONBACKEND_Output,
    buffer_attributes: *mut *mut TRITONSERVER_BufferAttributes,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_OutputBufferAttributes's caller passes a live output and writable
    // `buffer_attributes`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_OutputBufferAttributes", || {
        let o = c.arg_mut(output, "output")?;
        let out = c.out_ptr(buffer_attributes, "buffer_attributes")?;
        out.write(std::ptr::from_mut(o.attributes_mut()));
        Ok(())
    })
}

/// Name, type and shape of a response's output by index.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_InferenceResponseOutput(
    response: *mut TRITONBACKEND_Response,
    index: u32,
    name: *mut *const c_char,
    datatype: *mut TRITONSERVER_DataType,
    shape: *mut *const i64,
    dim_count: *mut u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_InferenceResponseOutput's caller passes a live response and writable
    // `name`, `datatype`, `shape` and `dim_count`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_InferenceResponseOutput", || {
        let r = c.arg_ref(response, "response")?;
        let o = r.outputs().get(index as usize).ok_or_else(|| {
            Error::invalid_arg(format!(
                "out of bounds index {index}: response has {} outputs",
                r.outputs().len()
            ))
        })?;
        let name = c.out_ptr(name, "name")?;
        write_type_shape(c, o, datatype, shape, dim_count)?;
        name.write(o.name_c().as_ptr());
        Ok(())
    })
}

/// Type and shape of a response's output by name.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_InferenceResponseOutputByName(
    response: *mut TRITONBACKEND_Response,
    name: *const c_char,
    datatype: *mut TRITONSERVER_DataType,
    shape: *mut *const i64,
    dim_count: *mut u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_InferenceResponseOutputByName's caller passes a live response, a
    // NUL-terminated `name` and writable `datatype`, `shape` and `dim_count`, as tritonbackend.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_InferenceResponseOutputByName", || {
        let r = c.arg_ref(response, "response")?;
        let name = c.arg_cstr(name, "name")?;
        let o = r
            .outputs()
            .iter()
            .find(|o| o.name() == name)
            .ok_or_else(|| Error::not_found(format!("Output name {name} not found.")))?;
        write_type_shape(c, o, datatype, shape, dim_count)
    })
}

fn write_type_shape(
    c: Contract,
    o: &OutputTensor,
    datatype: *mut TRITONSERVER_DataType,
    shape: *mut *const i64,
    dim_count: *mut u64,
) -> Result<()> {
    let d = c.out_ptr(datatype, "datatype")?;
    let s = c.out_ptr(shape, "shape")?;
    let n = c.out_ptr(dim_count, "dim_count")?;
    d.write(TRITONSERVER_DataType(o.datatype as u32));
    s.write(o.shape.as_ptr());
    n.write(o.shape.len() as u64);
    Ok(())
}
