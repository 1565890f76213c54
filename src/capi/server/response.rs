//! `TRITONSERVER_InferenceResponse`, `TRITONSERVER_ResponseAllocator`,
//! `TRITONSERVER_BufferAttributes`, and model statistics.
//!
//! Responses reach the frontend's response callback, which owns them and frees them with
//! `TRITONSERVER_InferenceResponseDelete` (releasing their output buffers through the
//! allocator). Strings and shapes read from a response live as long as the response.

use std::ffi::{c_char, c_void};

use crate::capi::boundary::ffi_try;
use crate::capi::callback::{
    TRITONSERVER_BufferAttributes, TRITONSERVER_ResponseAllocator,
    TRITONSERVER_ResponseAllocatorAllocFn_t, TRITONSERVER_ResponseAllocatorBufferAttributesFn_t,
    TRITONSERVER_ResponseAllocatorQueryFn_t, TRITONSERVER_ResponseAllocatorReleaseFn_t,
    TRITONSERVER_ResponseAllocatorStartFn_t,
};
use crate::capi::handle::{into_raw, null_arg, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::server::message::TRITONSERVER_Message;
use crate::capi::server::server::{server_ref, TRITONSERVER_Server};
use crate::capi::types::{
    TRITONSERVER_DataType, TRITONSERVER_MemoryType, TRITONSERVER_ParameterType,
};
use crate::engine::infer::{BufferAttributes, InferenceResponse};
use crate::engine::message::Message;
use crate::engine::parameters::ParameterValue;
use crate::engine::Error;

/// A response.
pub type TRITONSERVER_InferenceResponse = InferenceResponse;

fn index_error(what: &str, index: u32, count: usize) -> Error {
    Error::invalid_arg(format!(
        "out of bounds index {index}: response has {count} {what}"
    ))
}

/// Pointer to a parameter's value as the C API hands it out: `const char*` for strings, a
/// pointer to the `int64_t`, `bool` or `double` otherwise, the bytes for BYTES.
pub fn param_value_ptr(v: &ParameterValue) -> *const c_void {
    match v {
        ParameterValue::String(s) => s.as_ptr().cast(),
        ParameterValue::Int(i) => std::ptr::from_ref(i).cast(),
        ParameterValue::Bool(b) => std::ptr::from_ref(b).cast(),
        ParameterValue::Double(d) => std::ptr::from_ref(d).cast(),
        ParameterValue::Bytes(b) => b.as_ptr().cast(),
    }
}

/// Create a response allocator from the frontend's functions (`alloc_fn` and `release_fn`
/// required, `start_fn` optional).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ResponseAllocatorNew(
    allocator: *mut *mut TRITONSERVER_ResponseAllocator,
    alloc_fn: TRITONSERVER_ResponseAllocatorAllocFn_t,
    release_fn: TRITONSERVER_ResponseAllocatorReleaseFn_t,
    start_fn: TRITONSERVER_ResponseAllocatorStartFn_t,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ResponseAllocatorNew's caller passes writable `allocator`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ResponseAllocatorNew", || {
        let out = c.out_ptr(allocator, "allocator")?;
        let alloc_fn = alloc_fn.ok_or_else(|| null_arg("alloc_fn"))?;
        let release_fn = release_fn.ok_or_else(|| null_arg("release_fn"))?;
        out.write(into_raw(Box::new(TRITONSERVER_ResponseAllocator {
            alloc_fn,
            release_fn,
            start_fn,
            query_fn: None,
            buffer_attributes_fn: None,
        })));
        Ok(())
    })
}

/// Set the function that describes allocated buffers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ResponseAllocatorSetBufferAttributesFunction(
    allocator: *mut TRITONSERVER_ResponseAllocator,
    buffer_attributes_fn: TRITONSERVER_ResponseAllocatorBufferAttributesFn_t,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ResponseAllocatorSetBufferAttributesFunction's caller passes a live
    // response allocator, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try(
        "TRITONSERVER_ResponseAllocatorSetBufferAttributesFunction",
        || {
            c.arg_mut(allocator, "allocator")?.buffer_attributes_fn = buffer_attributes_fn;
            Ok(())
        },
    )
}

/// Set the function that tells the allocator's preferred memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ResponseAllocatorSetQueryFunction(
    allocator: *mut TRITONSERVER_ResponseAllocator,
    query_fn: TRITONSERVER_ResponseAllocatorQueryFn_t,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ResponseAllocatorSetQueryFunction's caller passes a live response
    // allocator, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ResponseAllocatorSetQueryFunction", || {
        c.arg_mut(allocator, "allocator")?.query_fn = query_fn;
        Ok(())
    })
}

/// Delete an allocator (no request using it may still be in flight).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ResponseAllocatorDelete(
    allocator: *mut TRITONSERVER_ResponseAllocator,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ResponseAllocatorDelete's caller passes a response allocator it owns and
    // gives up, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ResponseAllocatorDelete", || {
        drop(c.take_box(allocator, "allocator")?);
        Ok(())
    })
}

/// Delete a response, releasing its output buffers through the allocator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceResponseDelete(
    inference_response: *mut TRITONSERVER_InferenceResponse,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceResponseDelete's caller passes an inference response it owns
    // and gives up, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceResponseDelete", || {
        // NULL is a no-op, as in Triton 2.51: its python backend deletes NULL responses on the
        // BLS path of a dead stub.
        if inference_response.is_null() {
            return Ok(());
        }
        drop(c.take_box(inference_response, "inference_response")?);
        Ok(())
    })
}

/// The response's error, as a new error object the caller owns; NULL for a successful response.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceResponseError(
    inference_response: *mut TRITONSERVER_InferenceResponse,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceResponseError's caller passes a live inference response, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    // The response's own error comes back as a new error object (NULL when it has none).
    ffi_try("TRITONSERVER_InferenceResponseError", || {
        match c.arg_ref(inference_response, "inference_response")?.error() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    })
}

/// The model (and version) that produced the response.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceResponseModel(
    inference_response: *mut TRITONSERVER_InferenceResponse,
    model_name: *mut *const c_char,
    model_version: *mut i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceResponseModel's caller passes a live inference response and
    // writable `model_name` and `model_version`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceResponseModel", || {
        let r = c.arg_ref(inference_response, "inference_response")?;
        let name = c.out_ptr(model_name, "model_name")?;
        let version = c.out_ptr(model_version, "model_version")?;
        name.write(r.model().name_c().as_ptr());
        version.write(r.model().version());
        Ok(())
    })
}

/// The id of the request the response answers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceResponseId(
    inference_response: *mut TRITONSERVER_InferenceResponse,
    request_id: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceResponseId's caller passes a live inference response and
    // writable `request_id`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceResponseId", || {
        let r = c.arg_ref(inference_response, "inference_response")?;
        c.out_ptr(request_id, "request_id")?
            .write(r.request_id_c().as_ptr());
        Ok(())
    })
}

/// How many parameters the response has.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceResponseParameterCount(
    inference_response: *mut TRITONSERVER_InferenceResponse,
    count: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceResponseParameterCount's caller passes a live inference
    // response and writable `count`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceResponseParameterCount", || {
        let r = c.arg_ref(inference_response, "inference_response")?;
        c.out_ptr(count, "count")?
            .write(u32::try_from(r.parameters.len()).unwrap_or(u32::MAX));
        Ok(())
    })
}

/// One parameter of the response: name, type and a pointer to the value.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceResponseParameter(
    inference_response: *mut TRITONSERVER_InferenceResponse,
    index: u32,
    name: *mut *const c_char,
    type_: *mut TRITONSERVER_ParameterType,
    vvalue: *mut *const c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceResponseParameter's caller passes a live inference response and
    // writable `name`, `type_` and `vvalue`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceResponseParameter", || {
        let r = c.arg_ref(inference_response, "inference_response")?;
        let name = c.out_ptr(name, "name")?;
        let kind = c.out_ptr(type_, "type")?;
        let value = c.out_ptr(vvalue, "vvalue")?;
        let p = r
            .parameters
            .get(index as usize)
            .ok_or_else(|| index_error("parameters", index, r.parameters.len()))?;
        name.write(p.name_c().as_ptr());
        kind.write(TRITONSERVER_ParameterType(p.kind() as u32));
        value.write(param_value_ptr(p.value()));
        Ok(())
    })
}

/// How many outputs the response has.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceResponseOutputCount(
    inference_response: *mut TRITONSERVER_InferenceResponse,
    count: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceResponseOutputCount's caller passes a live inference response
    // and writable `count`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceResponseOutputCount", || {
        let r = c.arg_ref(inference_response, "inference_response")?;
        c.out_ptr(count, "count")?
            .write(u32::try_from(r.outputs().len()).unwrap_or(u32::MAX));
        Ok(())
    })
}

/// One output of the response: name, type, shape and its data buffer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceResponseOutput(
    inference_response: *mut TRITONSERVER_InferenceResponse,
    index: u32,
    name: *mut *const c_char,
    datatype: *mut TRITONSERVER_DataType,
    shape: *mut *const i64,
    dim_count: *mut u64,
    base: *mut *const c_void,
    byte_size: *mut usize,
    memory_type: *mut TRITONSERVER_MemoryType,
    memory_type_id: *mut i64,
    userp: *mut *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceResponseOutput's caller passes a live inference response and
    // writable `name`, `datatype`, `shape`, `dim_count`, `base`, `byte_size`, `memory_type`,
    // `memory_type_id` and `userp`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_InferenceResponseOutput", || {
        let r = c.arg_ref(inference_response, "inference_response")?;
        let name = c.out_ptr(name, "name")?;
        let datatype = c.out_ptr(datatype, "datatype")?;
        let shape = c.out_ptr(shape, "shape")?;
        let dim_count = c.out_ptr(dim_count, "dim_count")?;
        let base = c.out_ptr(base, "base")?;
        let byte_size = c.out_ptr(byte_size, "byte_size")?;
        let memory_type = c.out_ptr(memory_type, "memory_type")?;
        let memory_type_id = c.out_ptr(memory_type_id, "memory_type_id")?;
        let userp = c.out_ptr(userp, "userp")?;
        let o = r
            .outputs()
            .get(index as usize)
            .ok_or_else(|| index_error("outputs", index, r.outputs().len()))?;
        name.write(o.name_c().as_ptr());
        datatype.write(TRITONSERVER_DataType(o.datatype as u32));
        shape.write(o.shape.as_ptr());
        dim_count.write(o.shape.len() as u64);
        match &o.buffer {
            Some(b) => {
                base.write(b.addr.ptr::<c_void>());
                byte_size.write(b.byte_size);
                memory_type.write(TRITONSERVER_MemoryType(b.memory_type as u32));
                memory_type_id.write(b.memory_type_id);
                userp.write(b.buffer_userp.ptr::<c_void>());
            }
            None => {
                base.write(std::ptr::null());
                byte_size.write(0);
                memory_type.write(TRITONSERVER_MemoryType(0));
                memory_type_id.write(0);
                userp.write(std::ptr::null_mut());
            }
        }
        Ok(())
    })
}

/// The classification label of one class of an output (NULL when the model has none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InferenceResponseOutputClassificationLabel(
    inference_response: *mut TRITONSERVER_InferenceResponse,
    index: u32,
    class_index: usize,
    label: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_InferenceResponseOutputClassificationLabel's caller passes a live
    // inference response and writable `label`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try(
        "TRITONSERVER_InferenceResponseOutputClassificationLabel",
        || {
            let r = c.arg_ref(inference_response, "inference_response")?;
            let out = c.out_ptr(label, "label")?;
            let o = r
                .outputs()
                .get(index as usize)
                .ok_or_else(|| index_error("outputs", index, r.outputs().len()))?;
            out.write(
                r.model()
                    .label(o.name(), class_index)
                    .map_or(std::ptr::null(), |l| l.as_ptr()),
            );
            Ok(())
        },
    )
}

/// Create buffer attributes (CPU, id 0, size 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_BufferAttributesNew(
    buffer_attributes: *mut *mut TRITONSERVER_BufferAttributes,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_BufferAttributesNew's caller passes writable `buffer_attributes`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_BufferAttributesNew", || {
        c.out_ptr(buffer_attributes, "buffer_attributes")?
            .write(into_raw(Box::new(BufferAttributes::default())));
        Ok(())
    })
}

/// Delete buffer attributes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_BufferAttributesDelete(
    buffer_attributes: *mut TRITONSERVER_BufferAttributes,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_BufferAttributesDelete's caller passes a buffer attributes object it
    // owns and gives up, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_BufferAttributesDelete", || {
        drop(c.take_box(buffer_attributes, "buffer_attributes")?);
        Ok(())
    })
}

/// Set the memory type id.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_BufferAttributesSetMemoryTypeId(
    buffer_attributes: *mut TRITONSERVER_BufferAttributes,
    memory_type_id: i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_BufferAttributesSetMemoryTypeId's caller passes a live buffer attributes
    // object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_BufferAttributesSetMemoryTypeId", || {
        c.arg_mut(buffer_attributes, "buffer_attributes")?
            .memory_type_id = memory_type_id;
        Ok(())
    })
}

/// Set the memory type.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_BufferAttributesSetMemoryType(
    buffer_attributes: *mut TRITONSERVER_BufferAttributes,
    memory_type: TRITONSERVER_MemoryType,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_BufferAttributesSetMemoryType's caller passes a live buffer attributes
    // object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_BufferAttributesSetMemoryType", || {
        let a = c.arg_mut(buffer_attributes, "buffer_attributes")?;
        a.memory_type = memory_type.get()?;
        Ok(())
    })
}

/// Set the CUDA IPC handle (64 bytes, copied; NULL clears it). Never used on CPU.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_BufferAttributesSetCudaIpcHandle(
    buffer_attributes: *mut TRITONSERVER_BufferAttributes,
    cuda_ipc_handle: *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_BufferAttributesSetCudaIpcHandle's caller passes a live buffer
    // attributes object and `cuda_ipc_handle` NULL or 64 readable bytes, as tritonserver.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_BufferAttributesSetCudaIpcHandle", || {
        let a = c.arg_mut(buffer_attributes, "buffer_attributes")?;
        a.cuda_ipc_handle = c.read_ipc_handle(cuda_ipc_handle);
        Ok(())
    })
}

/// Set the byte size.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_BufferAttributesSetByteSize(
    buffer_attributes: *mut TRITONSERVER_BufferAttributes,
    byte_size: usize,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_BufferAttributesSetByteSize's caller passes a live buffer attributes
    // object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_BufferAttributesSetByteSize", || {
        c.arg_mut(buffer_attributes, "buffer_attributes")?.byte_size = byte_size;
        Ok(())
    })
}

/// The memory type id.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_BufferAttributesMemoryTypeId(
    buffer_attributes: *mut TRITONSERVER_BufferAttributes,
    memory_type_id: *mut i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_BufferAttributesMemoryTypeId's caller passes a live buffer attributes
    // object and writable `memory_type_id`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_BufferAttributesMemoryTypeId", || {
        let a = c.arg_ref(buffer_attributes, "buffer_attributes")?;
        c.out_ptr(memory_type_id, "memory_type_id")?
            .write(a.memory_type_id);
        Ok(())
    })
}

/// The memory type.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_BufferAttributesMemoryType(
    buffer_attributes: *mut TRITONSERVER_BufferAttributes,
    memory_type: *mut TRITONSERVER_MemoryType,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_BufferAttributesMemoryType's caller passes a live buffer attributes
    // object and writable `memory_type`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_BufferAttributesMemoryType", || {
        let a = c.arg_ref(buffer_attributes, "buffer_attributes")?;
        c.out_ptr(memory_type, "memory_type")?
            .write(TRITONSERVER_MemoryType(a.memory_type as u32));
        Ok(())
    })
}

/// The CUDA IPC handle: a pointer to the attributes' own copy (NULL unless set).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_BufferAttributesCudaIpcHandle(
    buffer_attributes: *mut TRITONSERVER_BufferAttributes,
    cuda_ipc_handle: *mut *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_BufferAttributesCudaIpcHandle's caller passes a live buffer attributes
    // object and writable `cuda_ipc_handle`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_BufferAttributesCudaIpcHandle", || {
        let a = c.arg_ref(buffer_attributes, "buffer_attributes")?;
        let out = c.out_ptr(cuda_ipc_handle, "cuda_ipc_handle")?;
        out.write(match &a.cuda_ipc_handle {
            Some(h) => h.as_ptr().cast_mut().cast(),
            None => std::ptr::null_mut(),
        });
        Ok(())
    })
}

/// The byte size.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_BufferAttributesByteSize(
    buffer_attributes: *mut TRITONSERVER_BufferAttributes,
    byte_size: *mut usize,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_BufferAttributesByteSize's caller passes a live buffer attributes object
    // and writable `byte_size`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_BufferAttributesByteSize", || {
        let a = c.arg_ref(buffer_attributes, "buffer_attributes")?;
        c.out_ptr(byte_size, "byte_size")?.write(a.byte_size);
        Ok(())
    })
}

/// Statistics of a model (`""`: every model) as JSON `{"model_stats": [...]}`. The caller owns
/// the message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerModelStatistics(
    server: *mut TRITONSERVER_Server,
    model_name: *const c_char,
    model_version: i64,
    model_stats: *mut *mut TRITONSERVER_Message,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerModelStatistics's caller passes a live server, a NUL-terminated
    // `model_name` and writable `model_stats`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerModelStatistics", || {
        let s = server_ref(c, server)?;
        let name = c.arg_cstr(model_name, "model_name")?;
        let out = c.out_ptr(model_stats, "model_stats")?;
        let json = s.model_statistics(name, model_version)?;
        out.write(into_raw(Box::new(Message::from_value(&json))));
        Ok(())
    })
}
