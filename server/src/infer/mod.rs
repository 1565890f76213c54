//! `POST /v2/models/{m}[/versions/{v}]/infer`, stage by stage: the KServe v2 JSON body, the
//! binary tensor data extension (`Inference-Header-Content-Length`), request/response parameters,
//! requested outputs with `binary_data` and `classification`, submitted through
//! `TRITONSERVER_ServerInferAsync`.
//!
//! - `parse.rs`: the request body into a [`Parsed`] request, any shape, every error message;
//! - `fast.rs`: the common shape parsed without a JSON tree (`parse` tries it first);
//! - `submit.rs`: the `TRITONSERVER_InferenceRequest`, the response allocator and the callbacks
//!   that hand the responses back;
//! - `render.rs`: the response into the HTTP body.
//!
//! This file holds what the stages share: the parsed request and the data-type helpers. The
//! HTTP handler that runs the stages (and decides which run off the event loop) is in http.rs.
//! Dependencies point one way: http.rs → infer → core.rs → ffi.rs.

mod fast;
mod parse;
mod render;
mod submit;

use std::ffi::{CStr, CString};
use std::ops::Range;

use serde_json::Value;

use crate::core::{cstring, CoreError};
use crate::ffi;

pub use parse::parse;
pub use render::{output_bytes, render};
pub use submit::{submit, Allocator};

/// Where an input's bytes are.
enum Data {
    Body(Range<usize>),
    Owned(Vec<u8>),
}

/// One input tensor of the request.
struct Input {
    name: CString,
    datatype: u32,
    shape: Vec<i64>,
    data: Data,
}

/// What the request asks of one output (its `parameters`).
struct RequestedOutput {
    binary: Option<bool>,
    classification: u64,
}

/// A request parameter passed on to the core.
enum Param {
    Str(String),
    Int(i64),
    Bool(bool),
    Double(f64),
}

/// A parsed infer request, ready to be turned into a `TRITONSERVER_InferenceRequest`.
pub struct Parsed {
    id: Option<String>,
    params: Vec<(String, Param)>,
    sequence_id: Option<Value>,
    flags: u32,
    priority: Option<u64>,
    timeout_us: Option<u64>,
    binary_default: bool,
    inputs: Vec<Input>,
    outputs: Vec<(String, RequestedOutput)>,
}

fn bad(msg: impl Into<String>) -> CoreError {
    CoreError::invalid_arg(msg)
}

/// The data type named `s` (`TYPE_INVALID` for an unknown name).
fn datatype_from_str(s: &str) -> u32 {
    match cstring(s, "datatype") {
        // SAFETY: NUL-terminated string; the function only reads it.
        Ok(c) => unsafe { ffi::TRITONSERVER_StringToDataType(c.as_ptr()) },
        Err(_) => ffi::TYPE_INVALID,
    }
}

/// The name of a data type, borrowed from the core's static strings.
fn datatype_str(dt: u32) -> std::borrow::Cow<'static, str> {
    // SAFETY: returns NULL or a static NUL-terminated string for any value.
    let p = unsafe { ffi::TRITONSERVER_DataTypeString(dt) };
    if p.is_null() {
        return "<invalid>".into();
    }
    // SAFETY: static NUL-terminated string owned by the core.
    let c: &'static CStr = unsafe { CStr::from_ptr(p) };
    c.to_string_lossy()
}

/// The name of a data type, owned.
fn datatype_name(dt: u32) -> String {
    datatype_str(dt).into_owned()
}

/// Bytes per element of a fixed-size data type; 0 for BYTES and invalid types.
fn element_size(dt: u32) -> usize {
    match dt {
        ffi::TYPE_BOOL | ffi::TYPE_UINT8 | ffi::TYPE_INT8 => 1,
        ffi::TYPE_UINT16 | ffi::TYPE_INT16 | ffi::TYPE_FP16 | ffi::TYPE_BF16 => 2,
        ffi::TYPE_UINT32 | ffi::TYPE_INT32 | ffi::TYPE_FP32 => 4,
        ffi::TYPE_UINT64 | ffi::TYPE_INT64 | ffi::TYPE_FP64 => 8,
        _ => 0,
    }
}
