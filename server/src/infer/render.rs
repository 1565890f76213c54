//! Rendering: the response of a non-decoupled model into the HTTP body, JSON tensors or the
//! binary tensor data extension, and the classification extension's top-k strings.

use std::ffi::{c_char, c_void, CStr};
use std::ptr;

use serde_json::{json, Map, Value};

use super::submit::Response;
use super::{bad, datatype_name, datatype_str, element_size, Parsed};
use crate::core::{check, CoreError};
use crate::ffi::{self, TRITONSERVER_InferenceResponse};

/// The HTTP body of a successful response.
pub struct Rendered {
    pub body: Vec<u8>,
    /// `Some(json length)` when binary data follows the JSON.
    pub header_len: Option<usize>,
}

fn bytes_elements(data: &[u8]) -> Result<Vec<&[u8]>, CoreError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if i + 4 > data.len() {
            return Err(CoreError::internal("malformed BYTES output"));
        }
        let n = u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
        i += 4;
        if i + n > data.len() {
            return Err(CoreError::internal("malformed BYTES output"));
        }
        out.push(&data[i..i + n]);
        i += n;
    }
    Ok(out)
}

fn to_f64(dt: u32, c: &[u8]) -> Option<f64> {
    Some(match dt {
        ffi::TYPE_BOOL => c[0] as f64,
        ffi::TYPE_UINT8 => c[0] as f64,
        ffi::TYPE_INT8 => c[0] as i8 as f64,
        ffi::TYPE_UINT16 => u16::from_le_bytes(c.try_into().ok()?) as f64,
        ffi::TYPE_INT16 => i16::from_le_bytes(c.try_into().ok()?) as f64,
        ffi::TYPE_UINT32 => u32::from_le_bytes(c.try_into().ok()?) as f64,
        ffi::TYPE_INT32 => i32::from_le_bytes(c.try_into().ok()?) as f64,
        ffi::TYPE_UINT64 => u64::from_le_bytes(c.try_into().ok()?) as f64,
        ffi::TYPE_INT64 => i64::from_le_bytes(c.try_into().ok()?) as f64,
        ffi::TYPE_FP32 => f32::from_le_bytes(c.try_into().ok()?) as f64,
        ffi::TYPE_FP64 => f64::from_le_bytes(c.try_into().ok()?),
        _ => return None,
    })
}

/// Top-k classification of one output (upstream's classification extension): a BYTES tensor of
/// "value:index[:label]" strings, [k] or [batch, k].
fn classify(
    resp: *mut TRITONSERVER_InferenceResponse,
    index: u32,
    dt: u32,
    shape: &[i64],
    data: &[u8],
    k: u64,
) -> Result<(Vec<i64>, Vec<u8>), CoreError> {
    let size = element_size(dt);
    if size == 0 || dt == ffi::TYPE_FP16 || dt == ffi::TYPE_BF16 {
        return Err(bad(format!(
            "class result not available for output due to unsupported type '{}'",
            datatype_name(dt)
        )));
    }
    let batched = shape.len() > 1;
    let batch = if batched { shape[0].max(0) as usize } else { 1 };
    let count = data.len() / size;
    let per = count.checked_div(batch).unwrap_or(0);
    let k = (k as usize).min(per);
    let mut out = Vec::new();
    for b in 0..batch {
        let mut vals: Vec<(usize, f64)> = (0..per)
            .map(|i| {
                let o = (b * per + i) * size;
                (i, to_f64(dt, &data[o..o + size]).unwrap_or(f64::NAN))
            })
            .collect();
        vals.sort_by(|a, c| c.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
        for (i, v) in vals.into_iter().take(k) {
            let mut label: *const c_char = ptr::null();
            // SAFETY: live response, local out-param; the label lives as long as the response.
            check(unsafe {
                ffi::TRITONSERVER_InferenceResponseOutputClassificationLabel(
                    resp, index, i, &mut label,
                )
            })?;
            let s = if label.is_null() {
                format!("{v:.6}:{i}")
            } else {
                // SAFETY: NUL-terminated label owned by the response.
                let label = unsafe { CStr::from_ptr(label) };
                format!("{v:.6}:{i}:{}", label.to_string_lossy())
            };
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    let shape = if batched {
        vec![batch as i64, k as i64]
    } else {
        vec![k as i64]
    };
    Ok((shape, out))
}

/// One output of a live response, borrowed from it.
struct OutputView<'a> {
    name: std::borrow::Cow<'a, str>,
    dt: u32,
    shape: &'a [i64],
    data: &'a [u8],
}

/// Output `i` of `resp`.
///
/// # Safety
/// `resp` is a live response that outlives the returned view, and `i` is below its output count.
unsafe fn response_output<'a>(
    resp: *mut TRITONSERVER_InferenceResponse,
    i: u32,
) -> Result<OutputView<'a>, CoreError> {
    let mut on: *const c_char = ptr::null();
    let mut dt = 0u32;
    let mut shape_p: *const i64 = ptr::null();
    let mut dims = 0u64;
    let mut base: *const c_void = ptr::null();
    let mut size = 0usize;
    let mut mt = 0u32;
    let mut mtid = 0i64;
    let mut up: *mut c_void = ptr::null_mut();
    // SAFETY: the caller guarantees a live response and a valid index; out-params are local.
    check(unsafe {
        ffi::TRITONSERVER_InferenceResponseOutput(
            resp,
            i,
            &mut on,
            &mut dt,
            &mut shape_p,
            &mut dims,
            &mut base,
            &mut size,
            &mut mt,
            &mut mtid,
            &mut up,
        )
    })?;
    // SAFETY: on success the core's name, shape and buffer live as long as the response.
    let (name, shape, data) = unsafe {
        let name = if on.is_null() {
            std::borrow::Cow::Borrowed("")
        } else {
            CStr::from_ptr(on).to_string_lossy()
        };
        let shape: &[i64] = if shape_p.is_null() || dims == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(shape_p, dims as usize)
        };
        let data: &[u8] = if base.is_null() || size == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(base as *const u8, size)
        };
        (name, shape, data)
    };
    Ok(OutputView {
        name,
        dt,
        shape,
        data,
    })
}

/// Total bytes of every output of the responses (what rendering has to convert or copy).
pub fn output_bytes(responses: &[Response]) -> usize {
    let mut total = 0usize;
    for r in responses {
        let mut oc = 0u32;
        // SAFETY: live response owned by `r`; local out-params.
        if check(unsafe { ffi::TRITONSERVER_InferenceResponseOutputCount(r.raw(), &mut oc) })
            .is_err()
        {
            continue;
        }
        for i in 0..oc {
            // SAFETY: live response owned by `r`, index below its output count.
            if let Ok(out) = unsafe { response_output(r.raw(), i) } {
                total = total.saturating_add(out.data.len());
            }
        }
    }
    total
}

/// Appends `v` as serde_json writes it (escaping, number formatting): the same bytes as the
/// `serde_json::Value` tree this replaced, without building the tree.
macro_rules! put {
    ($out:expr, $v:expr) => {
        // Writing to a Vec cannot fail; a value without a JSON form (none here) writes nothing.
        drop(serde_json::to_writer(&mut *$out, $v))
    };
}

/// A finite float as a JSON number, anything else as `null` (as `Value::from_f64`).
fn put_f64(out: &mut Vec<u8>, f: f64) {
    if f.is_finite() {
        put!(out, &f);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Appends the JSON `data` array of an output tensor.
fn write_json_data(out: &mut Vec<u8>, name: &str, dt: u32, data: &[u8]) -> Result<(), CoreError> {
    if dt == ffi::TYPE_BYTES {
        out.push(b'[');
        for (i, b) in bytes_elements(data)?.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            put!(out, &*String::from_utf8_lossy(b));
        }
        out.push(b']');
        return Ok(());
    }
    let size = element_size(dt);
    if size == 0 || dt == ffi::TYPE_FP16 || dt == ffi::TYPE_BF16 {
        return Err(bad(format!(
            "sending {} data via JSON is not supported: request output '{name}' with \
             'binary_data': true",
            datatype_name(dt)
        )));
    }
    out.reserve(data.len() / size * 12 + 2);
    out.push(b'[');
    for (i, c) in data.chunks_exact(size).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match dt {
            ffi::TYPE_BOOL => out.extend_from_slice(if c[0] != 0 { b"true" } else { b"false" }),
            ffi::TYPE_UINT8 => put!(out, &c[0]),
            ffi::TYPE_INT8 => put!(out, &(c[0] as i8)),
            ffi::TYPE_UINT16 => put!(out, &u16::from_le_bytes([c[0], c[1]])),
            ffi::TYPE_INT16 => put!(out, &i16::from_le_bytes([c[0], c[1]])),
            ffi::TYPE_UINT32 => put!(out, &u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ffi::TYPE_INT32 => put!(out, &i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ffi::TYPE_UINT64 => put!(out, &u64::from_le_bytes(c.try_into().unwrap_or_default())),
            ffi::TYPE_INT64 => put!(out, &i64::from_le_bytes(c.try_into().unwrap_or_default())),
            _ => put_f64(out, to_f64(dt, c).unwrap_or(f64::NAN)),
        }
    }
    out.push(b']');
    Ok(())
}

/// Renders the (single) response of a non-decoupled model.
///
/// Writes the JSON directly (same bytes, same key order as the `serde_json::Value` object it
/// replaced: `model_name`, `model_version`, `id`, `parameters`, `outputs`).
pub fn render(parsed: &Parsed, responses: Vec<Response>) -> Result<Rendered, CoreError> {
    let n = responses.len();
    let Some(r) = responses.into_iter().next() else {
        return Err(CoreError::internal("the model sent no response"));
    };
    if n > 1 {
        return Err(bad(format!(
            "the model sent {n} responses; /infer serves models with exactly one response per \
             request (decoupled models are not supported over HTTP infer)"
        )));
    }
    let resp = r.raw();
    // SAFETY: live response; returns NULL or an error we own.
    check(unsafe { ffi::TRITONSERVER_InferenceResponseError(resp) })?;
    let mut body: Vec<u8> = Vec::with_capacity(256);
    let mut name_p: *const c_char = ptr::null();
    let mut version = 0i64;
    // SAFETY: (this function) `resp` stays alive (owned by `r`) until the end; every pointer the
    // core hands out (names, shapes, buffers) is valid as long as the response.
    unsafe {
        check(ffi::TRITONSERVER_InferenceResponseModel(
            resp,
            &mut name_p,
            &mut version,
        ))?;
        body.extend_from_slice(b"{\"model_name\":");
        if name_p.is_null() {
            put!(&mut body, "");
        } else {
            put!(&mut body, &*CStr::from_ptr(name_p).to_string_lossy());
        }
        body.extend_from_slice(b",\"model_version\":\"");
        put!(&mut body, &version);
        body.push(b'"');
        let mut id_p: *const c_char = ptr::null();
        if check(ffi::TRITONSERVER_InferenceResponseId(resp, &mut id_p)).is_ok() && !id_p.is_null()
        {
            let id = CStr::from_ptr(id_p).to_string_lossy();
            if !id.is_empty() {
                body.extend_from_slice(b",\"id\":");
                put!(&mut body, &*id);
            }
        }
        let mut pc = 0u32;
        check(ffi::TRITONSERVER_InferenceResponseParameterCount(
            resp, &mut pc,
        ))?;
        if pc > 0 {
            // Rare: kept as a map (a repeated name keeps its first place and its last value).
            let mut params = Map::new();
            for i in 0..pc {
                let mut pn: *const c_char = ptr::null();
                let mut pt = 0u32;
                let mut pv: *const c_void = ptr::null();
                check(ffi::TRITONSERVER_InferenceResponseParameter(
                    resp, i, &mut pn, &mut pt, &mut pv,
                ))?;
                if pn.is_null() || pv.is_null() {
                    continue;
                }
                let v = match pt {
                    ffi::PARAMETER_STRING => Value::String(
                        CStr::from_ptr(pv as *const c_char)
                            .to_string_lossy()
                            .into_owned(),
                    ),
                    ffi::PARAMETER_INT => json!(*(pv as *const i64)),
                    ffi::PARAMETER_BOOL => json!(*(pv as *const bool)),
                    ffi::PARAMETER_DOUBLE => json!(*(pv as *const f64)),
                    _ => continue,
                };
                params.insert(CStr::from_ptr(pn).to_string_lossy().into_owned(), v);
            }
            body.extend_from_slice(b",\"parameters\":");
            put!(&mut body, &params);
        }
        let mut oc = 0u32;
        check(ffi::TRITONSERVER_InferenceResponseOutputCount(
            resp, &mut oc,
        ))?;
        body.extend_from_slice(b",\"outputs\":[");
        let mut binary: Vec<u8> = Vec::new();
        for i in 0..oc {
            let OutputView {
                name,
                mut dt,
                mut shape,
                mut data,
            } = response_output(resp, i)?;
            let ro = parsed
                .outputs
                .iter()
                .find(|(n, _)| n.as_str() == name.as_ref())
                .map(|(_, o)| o);
            let want_binary = ro.and_then(|o| o.binary).unwrap_or(parsed.binary_default);
            let class_count = ro.map_or(0, |o| o.classification);
            let classified;
            if class_count > 0 {
                classified = classify(resp, i, dt, shape, data, class_count)?;
                shape = &classified.0;
                data = &classified.1;
                dt = ffi::TYPE_BYTES;
            }
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(b"{\"name\":");
            put!(&mut body, &*name);
            body.extend_from_slice(b",\"datatype\":");
            put!(&mut body, &*datatype_str(dt));
            body.extend_from_slice(b",\"shape\":");
            put!(&mut body, shape);
            if want_binary {
                body.extend_from_slice(b",\"parameters\":{\"binary_data_size\":");
                put!(&mut body, &data.len());
                body.push(b'}');
                binary.extend_from_slice(data);
            } else {
                body.extend_from_slice(b",\"data\":");
                write_json_data(&mut body, &name, dt, data)?;
            }
            body.push(b'}');
        }
        body.extend_from_slice(b"]}");
        let header_len = if binary.is_empty() && !parsed_wants_binary(parsed) {
            None
        } else {
            let n = body.len();
            body.extend_from_slice(&binary);
            Some(n)
        };
        drop(r);
        Ok(Rendered { body, header_len })
    }
}

fn parsed_wants_binary(parsed: &Parsed) -> bool {
    parsed.binary_default || parsed.outputs.iter().any(|(_, o)| o.binary == Some(true))
}
