//! Calling the frontend's C callbacks: the response allocator, the response complete callback,
//! the request release callback and the trace callbacks. Function pointers and user pointers are
//! kept as they came; every call states the header contract it relies on. The wrappers are made
//! only with a [`Contract`] of the exported function that registers the callbacks: safe code
//! cannot wrap arbitrary function pointers and have them called.

use std::ffi::{c_char, c_void, CStr};

use crate::capi::handle::{backend_error, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::types::{
    TRITONSERVER_DataType, TRITONSERVER_InferenceTraceActivity, TRITONSERVER_MemoryType,
};
use crate::engine::buffer::Addr;
use crate::engine::infer::{
    AllocatedBuffer, BufferAttributes, InferenceRequest, InferenceResponse, ReleaseCallback,
    ResponseAllocator, ResponseCallback,
};
use crate::engine::trace::{Activity, Trace, TraceCallbacks, TraceTensor};
use crate::engine::types::MemoryType;
use crate::engine::{Error, Result};

/// A response allocator (`TRITONSERVER_ResponseAllocator`): the frontend's functions.
#[derive(Debug, Clone, Copy)]
pub struct TRITONSERVER_ResponseAllocator {
    pub alloc_fn: AllocFn,
    pub release_fn: ReleaseFn,
    pub start_fn: Option<StartFn>,
    pub query_fn: Option<QueryFn>,
    pub buffer_attributes_fn: Option<BufferAttributesFn>,
}

/// The opaque buffer attributes object (`TRITONSERVER_BufferAttributes`).
pub type TRITONSERVER_BufferAttributes = BufferAttributes;

pub type AllocFn = unsafe extern "C" fn(
    *mut TRITONSERVER_ResponseAllocator,
    *const c_char,
    usize,
    TRITONSERVER_MemoryType,
    i64,
    *mut c_void,
    *mut *mut c_void,
    *mut *mut c_void,
    *mut TRITONSERVER_MemoryType,
    *mut i64,
) -> *mut TRITONSERVER_Error;
pub type ReleaseFn = unsafe extern "C" fn(
    *mut TRITONSERVER_ResponseAllocator,
    *mut c_void,
    *mut c_void,
    usize,
    TRITONSERVER_MemoryType,
    i64,
) -> *mut TRITONSERVER_Error;
pub type StartFn = unsafe extern "C" fn(
    *mut TRITONSERVER_ResponseAllocator,
    *mut c_void,
) -> *mut TRITONSERVER_Error;
pub type QueryFn = unsafe extern "C" fn(
    *mut TRITONSERVER_ResponseAllocator,
    *mut c_void,
    *const c_char,
    *mut usize,
    *mut TRITONSERVER_MemoryType,
    *mut i64,
) -> *mut TRITONSERVER_Error;
pub type BufferAttributesFn = unsafe extern "C" fn(
    *mut TRITONSERVER_ResponseAllocator,
    *const c_char,
    *mut TRITONSERVER_BufferAttributes,
    *mut c_void,
    *mut c_void,
) -> *mut TRITONSERVER_Error;
/// `TRITONSERVER_ResponseAllocatorAllocFn_t` (NULL-able).
pub type TRITONSERVER_ResponseAllocatorAllocFn_t = Option<AllocFn>;
/// `TRITONSERVER_ResponseAllocatorReleaseFn_t` (NULL-able).
pub type TRITONSERVER_ResponseAllocatorReleaseFn_t = Option<ReleaseFn>;
/// `TRITONSERVER_ResponseAllocatorStartFn_t` (NULL-able).
pub type TRITONSERVER_ResponseAllocatorStartFn_t = Option<StartFn>;
/// `TRITONSERVER_ResponseAllocatorQueryFn_t` (NULL-able).
pub type TRITONSERVER_ResponseAllocatorQueryFn_t = Option<QueryFn>;
/// `TRITONSERVER_ResponseAllocatorBufferAttributesFn_t` (NULL-able).
pub type TRITONSERVER_ResponseAllocatorBufferAttributesFn_t = Option<BufferAttributesFn>;
/// `TRITONSERVER_InferenceResponseCompleteFn_t` (NULL-able).
pub type TRITONSERVER_InferenceResponseCompleteFn_t = Option<ResponseCompleteFn>;
/// `TRITONSERVER_InferenceRequestReleaseFn_t` (NULL-able).
pub type TRITONSERVER_InferenceRequestReleaseFn_t = Option<RequestReleaseFn>;

pub type ResponseCompleteFn = unsafe extern "C" fn(*mut InferenceResponse, u32, *mut c_void);
pub type RequestReleaseFn = unsafe extern "C" fn(*mut InferenceRequest, u32, *mut c_void);

fn memory_type(t: TRITONSERVER_MemoryType) -> Result<MemoryType> {
    MemoryType::from_u32(t.0).ok_or_else(|| {
        Error::invalid_arg(format!("allocator returned invalid memory type {}", t.0))
    })
}

/// The engine's view of a frontend allocator plus its user pointer.
pub struct CAllocator {
    /// The frontend's allocator object, passed back to its functions.
    allocator: usize,
    fns: TRITONSERVER_ResponseAllocator,
    userp: Addr,
}

impl CAllocator {
    /// The allocator and user pointer given to `TRITONSERVER_InferenceRequestSetResponseCallback`
    /// (the call of the token `_c`).
    pub fn new(
        _c: Contract,
        allocator: &TRITONSERVER_ResponseAllocator,
        userp: *mut c_void,
    ) -> CAllocator {
        CAllocator {
            allocator: std::ptr::from_ref(allocator) as usize,
            fns: *allocator,
            userp: Addr::of(userp),
        }
    }
    fn alloc_ptr(&self) -> *mut TRITONSERVER_ResponseAllocator {
        self.allocator as *mut TRITONSERVER_ResponseAllocator
    }
}

impl ResponseAllocator for CAllocator {
    fn start(&self) -> Result<()> {
        let Some(f) = self.fns.start_fn else {
            return Ok(());
        };
        // SAFETY: the frontend's start function, called with its own allocator and user
        // pointer, which it keeps valid while responses of its requests exist.
        // It returns NULL or a new error object, which the core then owns (tritonserver.h).
        unsafe { backend_error(f(self.alloc_ptr(), self.userp.ptr::<c_void>())) }
    }

    fn alloc(
        &self,
        tensor: &CStr,
        byte_size: usize,
        memory_type_in: MemoryType,
        memory_type_id: i64,
    ) -> Result<AllocatedBuffer> {
        let mut buffer: *mut c_void = std::ptr::null_mut();
        let mut buffer_userp: *mut c_void = std::ptr::null_mut();
        let mut actual = TRITONSERVER_MemoryType(memory_type_in as u32);
        let mut actual_id = memory_type_id;
        // SAFETY: the frontend's alloc function with valid out-pointers to locals and a
        // NUL-terminated tensor name that outlives the call.
        // It returns NULL or a new error object, which the core then owns (tritonserver.h).
        unsafe {
            backend_error((self.fns.alloc_fn)(
                self.alloc_ptr(),
                tensor.as_ptr(),
                byte_size,
                TRITONSERVER_MemoryType(memory_type_in as u32),
                memory_type_id,
                self.userp.ptr::<c_void>(),
                &mut buffer,
                &mut buffer_userp,
                &mut actual,
                &mut actual_id,
            ))
        }?;
        let buf = AllocatedBuffer {
            addr: Addr::of(buffer),
            byte_size,
            memory_type: memory_type(actual)?,
            memory_type_id: actual_id,
            buffer_userp: Addr::of(buffer_userp),
        };
        if let Some(f) = self.fns.buffer_attributes_fn {
            let mut attrs = BufferAttributes {
                memory_type: buf.memory_type,
                memory_type_id: buf.memory_type_id,
                byte_size,
                cuda_ipc_handle: None,
            };
            // SAFETY: the frontend's buffer-attributes function with a live attributes object
            // and the user pointers it gave.
            // It returns NULL or a new error object, which the core then owns (tritonserver.h).
            let r = unsafe {
                backend_error(f(
                    self.alloc_ptr(),
                    tensor.as_ptr(),
                    &mut attrs,
                    self.userp.ptr::<c_void>(),
                    buffer_userp,
                ))
            };
            if let Err(e) = r {
                let _ = self.release(&buf);
                return Err(e);
            }
        }
        Ok(buf)
    }

    fn release(&self, b: &AllocatedBuffer) -> Result<()> {
        // SAFETY: the frontend's release function, given back exactly what its alloc function
        // returned, once.
        // It returns NULL or a new error object, which the core then owns (tritonserver.h).
        unsafe {
            backend_error((self.fns.release_fn)(
                self.alloc_ptr(),
                b.addr.ptr::<c_void>(),
                b.buffer_userp.ptr::<c_void>(),
                b.byte_size,
                TRITONSERVER_MemoryType(b.memory_type as u32),
                b.memory_type_id,
            ))
        }
    }

    fn query(
        &self,
        tensor: Option<&CStr>,
        byte_size: Option<usize>,
        memory_type_in: MemoryType,
        memory_type_id: i64,
    ) -> Result<(MemoryType, i64)> {
        let Some(f) = self.fns.query_fn else {
            return Err(Error::unavailable(
                "response allocator has no query function",
            ));
        };
        let mut size = byte_size.unwrap_or(0);
        let mut mt = TRITONSERVER_MemoryType(memory_type_in as u32);
        let mut id = memory_type_id;
        // SAFETY: the frontend's query function with valid out-pointers (NULL size when the
        // size is unknown, as the header allows) and an optional NUL-terminated name.
        // It returns NULL or a new error object, which the core then owns (tritonserver.h).
        unsafe {
            backend_error(f(
                self.alloc_ptr(),
                self.userp.ptr::<c_void>(),
                tensor.map_or(std::ptr::null(), CStr::as_ptr),
                if byte_size.is_some() {
                    &mut size
                } else {
                    std::ptr::null_mut()
                },
                &mut mt,
                &mut id,
            ))
        }?;
        Ok((memory_type(mt)?, id))
    }
}

/// The frontend's response complete callback.
pub struct CResponseCallback {
    f: ResponseCompleteFn,
    userp: Addr,
}

impl CResponseCallback {
    /// The callback and user pointer given to `TRITONSERVER_InferenceRequestSetResponseCallback`
    /// (the call of the token `_c`).
    pub fn new(_c: Contract, f: ResponseCompleteFn, userp: *mut c_void) -> CResponseCallback {
        CResponseCallback {
            f,
            userp: Addr::of(userp),
        }
    }
}

impl ResponseCallback for CResponseCallback {
    fn complete(&self, response: Option<Box<InferenceResponse>>, flags: u32) {
        let p = response.map_or(std::ptr::null_mut(), Box::into_raw);
        // SAFETY: the frontend's callback takes ownership of the response (freed with
        // TRITONSERVER_InferenceResponseDelete), with the user pointer it registered.
        unsafe { (self.f)(p, flags, self.userp.ptr::<c_void>()) }
    }
}

/// The frontend's request release callback.
pub struct CReleaseCallback {
    f: RequestReleaseFn,
    userp: Addr,
}

impl CReleaseCallback {
    /// The callback and user pointer given to `TRITONSERVER_InferenceRequestSetReleaseCallback`
    /// (the call of the token `_c`).
    pub fn new(_c: Contract, f: RequestReleaseFn, userp: *mut c_void) -> CReleaseCallback {
        CReleaseCallback {
            f,
            userp: Addr::of(userp),
        }
    }
}

impl ReleaseCallback for CReleaseCallback {
    fn release(&self, request: Box<InferenceRequest>, flags: u32) {
        // SAFETY: ownership of the request returns to the frontend (the same object it created
        // with TRITONSERVER_InferenceRequestNew), with the user pointer it registered.
        unsafe { (self.f)(Box::into_raw(request), flags, self.userp.ptr::<c_void>()) }
    }
}

/// The frontend's trace callbacks and user pointer (`TRITONSERVER_InferenceTraceNew` /
/// `TRITONSERVER_InferenceTraceTensorNew`); every callback gets the trace object itself.
pub struct CTraceCallbacks {
    activity_fn: Option<TraceActivityFn>,
    tensor_activity_fn: Option<TraceTensorActivityFn>,
    release_fn: Option<TraceReleaseFn>,
    userp: Addr,
}

impl CTraceCallbacks {
    /// The callbacks and user pointer given to `TRITONSERVER_InferenceTraceNew` or
    /// `TRITONSERVER_InferenceTraceTensorNew` (the call of the token `_c`).
    pub fn new(
        _c: Contract,
        activity_fn: Option<TraceActivityFn>,
        tensor_activity_fn: Option<TraceTensorActivityFn>,
        release_fn: Option<TraceReleaseFn>,
        userp: *mut c_void,
    ) -> CTraceCallbacks {
        CTraceCallbacks {
            activity_fn,
            tensor_activity_fn,
            release_fn,
            userp: Addr::of(userp),
        }
    }
}

pub type TraceActivityFn =
    unsafe extern "C" fn(*mut Trace, TRITONSERVER_InferenceTraceActivity, u64, *mut c_void);
pub type TraceTensorActivityFn = unsafe extern "C" fn(
    *mut Trace,
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
);
pub type TraceReleaseFn = unsafe extern "C" fn(*mut Trace, *mut c_void);

fn trace_ptr(trace: &Trace) -> *mut Trace {
    std::ptr::from_ref(trace).cast_mut()
}

impl TraceCallbacks for CTraceCallbacks {
    fn activity(&self, trace: &Trace, activity: Activity, timestamp_ns: u64) {
        let Some(f) = self.activity_fn else { return };
        // SAFETY: the frontend's activity callback, given the trace object it created (alive for
        // the call) and its user pointer.
        unsafe {
            f(
                trace_ptr(trace),
                TRITONSERVER_InferenceTraceActivity(activity as u32),
                timestamp_ns,
                self.userp.ptr::<c_void>(),
            )
        }
    }

    fn tensor_activity(&self, trace: &Trace, activity: Activity, tensor: &TraceTensor<'_>) {
        let Some(f) = self.tensor_activity_fn else {
            return;
        };
        let (base, byte_size, memory_type, memory_type_id, _joined): (
            Addr,
            usize,
            MemoryType,
            i64,
            Vec<u8>,
        ) = match tensor.buffers {
            [] => return,
            [b] => (
                b.addr,
                b.byte_size(),
                b.attributes.memory_type,
                b.attributes.memory_type_id,
                Vec::new(),
            ),
            many => {
                if many
                    .iter()
                    .any(|b| b.attributes.memory_type == MemoryType::Gpu)
                {
                    crate::log_error!(
                        "{}: tensor: {}: GPU buffers are not traced",
                        activity.name(),
                        tensor.name.to_string_lossy()
                    );
                    return;
                }
                let mut joined = Vec::new();
                for b in many {
                    if b.byte_size() == 0 {
                        continue;
                    }
                    // SAFETY: a host input buffer of the request, `byte_size` readable bytes
                    // at `addr` that the frontend keeps valid until the request is released.
                    let bytes =
                        unsafe { std::slice::from_raw_parts(b.addr.ptr::<u8>(), b.byte_size()) };
                    joined.extend_from_slice(bytes);
                }
                (
                    Addr::of(joined.as_ptr()),
                    joined.len(),
                    MemoryType::Cpu,
                    0,
                    joined,
                )
            }
        };
        // SAFETY: the frontend's tensor callback with a NUL-terminated name, a shape array of
        // `shape.len()` elements and data of `byte_size` bytes, all alive for the call.
        unsafe {
            f(
                trace_ptr(trace),
                TRITONSERVER_InferenceTraceActivity(activity as u32),
                tensor.name.as_ptr(),
                TRITONSERVER_DataType(tensor.datatype as u32),
                base.ptr::<c_void>().cast_const(),
                byte_size,
                tensor.shape.as_ptr(),
                tensor.shape.len() as u64,
                TRITONSERVER_MemoryType(memory_type as u32),
                memory_type_id,
                self.userp.ptr::<c_void>(),
            )
        }
    }

    fn release(&self, trace: &Trace) {
        let Some(f) = self.release_fn else { return };
        // SAFETY: the frontend's release callback, given the trace object it created; the core
        // keeps its own reference until the call returns, so deleting it there is fine.
        unsafe { f(trace_ptr(trace), self.userp.ptr::<c_void>()) }
    }
}
