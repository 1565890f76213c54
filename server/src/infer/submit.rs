//! Submission: the parsed request becomes a `TRITONSERVER_InferenceRequest` handed to
//! `TRITONSERVER_ServerInferAsync`; the response allocator (plain heap buffers owned by the
//! response) and the callbacks that free the request and hand the responses back to the HTTP
//! task.

use std::ffi::{c_char, c_void, CString};
use std::ptr;
use std::sync::Mutex;

use serde_json::Value;

use super::{Data, Param, Parsed};
use crate::core::{check, cstring, Core, CoreError};
use crate::ffi::{self, TRITONSERVER_InferenceRequest, TRITONSERVER_InferenceResponse};

// ---- the response allocator: plain heap buffers owned by the response ----

unsafe extern "C" fn alloc_fn(
    _allocator: *mut ffi::TRITONSERVER_ResponseAllocator,
    _tensor_name: *const c_char,
    byte_size: usize,
    _memory_type: u32,
    _memory_type_id: i64,
    _userp: *mut c_void,
    buffer: *mut *mut c_void,
    buffer_userp: *mut *mut c_void,
    actual_memory_type: *mut u32,
    actual_memory_type_id: *mut i64,
) -> ffi::Err {
    let p = if byte_size == 0 {
        ptr::null_mut()
    } else {
        Box::into_raw(vec![0u8; byte_size].into_boxed_slice()) as *mut u8 as *mut c_void
    };
    // SAFETY: the core passes valid out-pointers (tritonserver.h allocator contract).
    unsafe {
        *buffer = p;
        *buffer_userp = ptr::null_mut();
        *actual_memory_type = ffi::MEMORY_CPU;
        *actual_memory_type_id = 0;
    }
    ptr::null_mut()
}

unsafe extern "C" fn release_fn(
    _allocator: *mut ffi::TRITONSERVER_ResponseAllocator,
    buffer: *mut c_void,
    _buffer_userp: *mut c_void,
    byte_size: usize,
    _memory_type: u32,
    _memory_type_id: i64,
) -> ffi::Err {
    if !buffer.is_null() && byte_size > 0 {
        // SAFETY: the buffer was made by alloc_fn as a boxed slice of exactly byte_size bytes
        // and is released once.
        drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(buffer as *mut u8, byte_size)) });
    }
    ptr::null_mut()
}

/// The process-wide response allocator.
pub struct Allocator(*mut ffi::TRITONSERVER_ResponseAllocator);
// SAFETY: the allocator is immutable after creation and only passed to the core.
unsafe impl Send for Allocator {}
// SAFETY: see Send.
unsafe impl Sync for Allocator {}

impl Allocator {
    pub fn new() -> Result<Self, CoreError> {
        let mut a = ptr::null_mut();
        // SAFETY: valid out-param and callbacks with the declared signatures.
        check(unsafe {
            ffi::TRITONSERVER_ResponseAllocatorNew(&mut a, alloc_fn, release_fn, None)
        })?;
        Ok(Allocator(a))
    }
}

impl Drop for Allocator {
    fn drop(&mut self) {
        // SAFETY: created by ResponseAllocatorNew, deleted once.
        let _ = check(unsafe { ffi::TRITONSERVER_ResponseAllocatorDelete(self.0) });
    }
}

// ---- request lifetime ----

/// Owned by the request: the bytes its inputs point into. Freed by the release callback.
struct RequestHold {
    _body: axum::body::Bytes,
    _owned: Vec<Vec<u8>>,
    _names: Vec<CString>,
}

unsafe extern "C" fn request_release(
    request: *mut TRITONSERVER_InferenceRequest,
    flags: u32,
    userp: *mut c_void,
) {
    if flags & 1 != 0 {
        // SAFETY: the core releases the request once with RELEASE_ALL; userp is the hold boxed
        // in `infer` and the request is ours to delete.
        unsafe {
            let _ = check(ffi::TRITONSERVER_InferenceRequestDelete(request));
            drop(Box::from_raw(userp as *mut RequestHold));
        }
    }
}

/// A response handed from the core's thread to the HTTP task.
pub struct Response(*mut TRITONSERVER_InferenceResponse);
// SAFETY: a response may be read and deleted on any thread once the core has handed it over.
unsafe impl Send for Response {}

impl Response {
    /// The response handle, alive as long as `self`.
    #[inline]
    pub(super) fn raw(&self) -> *mut TRITONSERVER_InferenceResponse {
        self.0
    }
}

impl Drop for Response {
    fn drop(&mut self) {
        // SAFETY: we own the response; deleted once.
        let _ = check(unsafe { ffi::TRITONSERVER_InferenceResponseDelete(self.0) });
    }
}

struct ResponseSink {
    responses: Mutex<Vec<Response>>,
    tx: Mutex<Option<tokio::sync::oneshot::Sender<Vec<Response>>>>,
}

unsafe extern "C" fn response_complete(
    response: *mut TRITONSERVER_InferenceResponse,
    flags: u32,
    userp: *mut c_void,
) {
    // SAFETY: userp is the sink boxed in `infer`, freed only below on the FINAL call.
    let sink = unsafe { &*(userp as *const ResponseSink) };
    if !response.is_null() {
        sink.responses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Response(response));
    }
    if flags & ffi::RESPONSE_COMPLETE_FINAL != 0 {
        let all = std::mem::take(&mut *sink.responses.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(tx) = sink.tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
            // A client that went away drops the receiver: the responses are dropped (deleted).
            let _ = tx.send(all);
        }
        // SAFETY: the FINAL flag is the last call for this request.
        drop(unsafe { Box::from_raw(userp as *mut ResponseSink) });
    }
}

/// Builds and submits the request; resolves to the responses once the FINAL flag arrives.
pub fn submit(
    core: &Core,
    allocator: &Allocator,
    model: &str,
    version: i64,
    parsed: &mut Parsed,
    body: axum::body::Bytes,
) -> Result<tokio::sync::oneshot::Receiver<Vec<Response>>, CoreError> {
    let model_c = cstring(model, "model name")?;
    let mut req = ptr::null_mut();
    // SAFETY: live server, NUL-terminated name, local out-param.
    check(unsafe {
        ffi::TRITONSERVER_InferenceRequestNew(&mut req, core.raw(), model_c.as_ptr(), version)
    })?;
    let setup = (|| -> Result<Vec<CString>, CoreError> {
        let mut names = Vec::new();
        // SAFETY: (whole closure) `req` is the live request created above, owned by us until
        // ServerInferAsync succeeds; every string is NUL-terminated and outlives its call; the
        // input data stays valid until the release callback (RequestHold).
        unsafe {
            if let Some(id) = &parsed.id {
                let c = cstring(id, "id")?;
                check(ffi::TRITONSERVER_InferenceRequestSetId(req, c.as_ptr()))?;
            }
            match &parsed.sequence_id {
                Some(Value::String(s)) => {
                    let c = cstring(s, "sequence_id")?;
                    check(ffi::TRITONSERVER_InferenceRequestSetCorrelationIdString(
                        req,
                        c.as_ptr(),
                    ))?;
                }
                Some(v) => check(ffi::TRITONSERVER_InferenceRequestSetCorrelationId(
                    req,
                    v.as_u64().unwrap_or_default(),
                ))?,
                None => {}
            }
            if parsed.flags != 0 {
                check(ffi::TRITONSERVER_InferenceRequestSetFlags(
                    req,
                    parsed.flags,
                ))?;
            }
            if let Some(p) = parsed.priority {
                check(ffi::TRITONSERVER_InferenceRequestSetPriorityUInt64(req, p))?;
            }
            if let Some(t) = parsed.timeout_us {
                check(ffi::TRITONSERVER_InferenceRequestSetTimeoutMicroseconds(
                    req, t,
                ))?;
            }
            for (k, v) in &parsed.params {
                let kc = cstring(k, "parameter name")?;
                check(match v {
                    Param::Str(s) => {
                        let sc = cstring(s, "parameter value")?;
                        ffi::TRITONSERVER_InferenceRequestSetStringParameter(
                            req,
                            kc.as_ptr(),
                            sc.as_ptr(),
                        )
                    }
                    Param::Int(i) => {
                        ffi::TRITONSERVER_InferenceRequestSetIntParameter(req, kc.as_ptr(), *i)
                    }
                    Param::Bool(b) => {
                        ffi::TRITONSERVER_InferenceRequestSetBoolParameter(req, kc.as_ptr(), *b)
                    }
                    Param::Double(d) => {
                        ffi::TRITONSERVER_InferenceRequestSetDoubleParameter(req, kc.as_ptr(), *d)
                    }
                })?;
            }
            for inp in &parsed.inputs {
                check(ffi::TRITONSERVER_InferenceRequestAddInput(
                    req,
                    inp.name.as_ptr(),
                    inp.datatype,
                    inp.shape.as_ptr(),
                    inp.shape.len() as u64,
                ))?;
                let bytes: &[u8] = match &inp.data {
                    Data::Body(r) => &body[r.clone()],
                    Data::Owned(v) => v,
                };
                if !bytes.is_empty() {
                    check(ffi::TRITONSERVER_InferenceRequestAppendInputData(
                        req,
                        inp.name.as_ptr(),
                        bytes.as_ptr() as *const c_void,
                        bytes.len(),
                        ffi::MEMORY_CPU,
                        0,
                    ))?;
                }
            }
            for (name, _) in &parsed.outputs {
                let c = cstring(name, "output name")?;
                check(ffi::TRITONSERVER_InferenceRequestAddRequestedOutput(
                    req,
                    c.as_ptr(),
                ))?;
                names.push(c);
            }
        }
        Ok(names)
    })();
    let names = match setup {
        Ok(n) => n,
        Err(e) => {
            // SAFETY: never submitted: still ours to delete.
            let _ = check(unsafe { ffi::TRITONSERVER_InferenceRequestDelete(req) });
            return Err(e);
        }
    };
    let owned: Vec<Vec<u8>> = parsed
        .inputs
        .iter_mut()
        .filter_map(|i| match std::mem::replace(&mut i.data, Data::Body(0..0)) {
            Data::Owned(v) => Some(v),
            Data::Body(_) => None,
        })
        .collect();
    // Moving the Vec<u8>s keeps their heap buffers (and the pointers given to the core) intact.
    let hold = Box::into_raw(Box::new(RequestHold {
        _body: body,
        _owned: owned,
        _names: names,
    }));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sink = Box::into_raw(Box::new(ResponseSink {
        responses: Mutex::new(Vec::new()),
        tx: Mutex::new(Some(tx)),
    }));
    // SAFETY: live request; the callbacks match the declared types; hold and sink are freed by
    // the callbacks, or below if the submission fails.
    let r = unsafe {
        check(ffi::TRITONSERVER_InferenceRequestSetReleaseCallback(
            req,
            request_release,
            hold as *mut c_void,
        ))
        .and_then(|()| {
            check(ffi::TRITONSERVER_InferenceRequestSetResponseCallback(
                req,
                allocator.0,
                ptr::null_mut(),
                response_complete,
                sink as *mut c_void,
            ))
        })
        .and_then(|()| {
            check(ffi::TRITONSERVER_ServerInferAsync(
                core.raw(),
                req,
                ptr::null_mut(),
            ))
        })
    };
    if let Err(e) = r {
        // SAFETY: a failed ServerInferAsync leaves the request with the caller (upstream):
        // no callback will run, so we free everything here, once.
        unsafe {
            let _ = check(ffi::TRITONSERVER_InferenceRequestDelete(req));
            drop(Box::from_raw(hold));
            drop(Box::from_raw(sink));
        }
        return Err(e);
    }
    Ok(rx)
}
