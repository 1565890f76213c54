//! The general parser: any request body (JSON, or a JSON header followed by binary tensor
//! data) into a [`Parsed`] request, with upstream's error messages. [`parse`] first tries the
//! fast path (fast.rs), which declines anything but the common shape.

use serde_json::Value;

use super::{
    bad, datatype_from_str, datatype_str, element_size, fast, Data, Input, Param, Parsed,
    RequestedOutput,
};
use crate::core::{cstring, CoreError};
use crate::ffi;

/// Flattens nested JSON arrays (row-major).
fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|e| flatten(e, out)),
        other => out.push(other),
    }
}

/// Converts JSON `data` to the tensor's raw bytes (BYTES: 4-byte little-endian length prefixes).
fn json_to_bytes(name: &str, dt: u32, data: &Value, expected: u64) -> Result<Vec<u8>, CoreError> {
    let mut elems = Vec::new();
    flatten(data, &mut elems);
    if elems.len() as u64 != expected {
        return Err(bad(format!(
            "Unable to parse 'data': Shape does not match true shape of 'data' field: input \
             '{name}' has {expected} elements by its shape, 'data' has {}",
            elems.len()
        )));
    }
    let dtn = datatype_str(dt);
    let mismatch = |i: usize, want: &str| {
        bad(format!(
            "Unable to parse 'data': element {i} of input '{name}' is not {want} (datatype {dtn})"
        ))
    };
    let mut out = Vec::with_capacity(elems.len() * element_size(dt).max(1));
    for (i, e) in elems.iter().enumerate() {
        macro_rules! int {
            ($t:ty, $get:ident) => {{
                let v = e.$get().ok_or_else(|| mismatch(i, "an integer"))?;
                let v = <$t>::try_from(v).map_err(|_| {
                    bad(format!(
                        "Unable to parse 'data': element {i} of input '{name}' ({v}) is out of \
                         range for {dtn}"
                    ))
                })?;
                out.extend_from_slice(&v.to_le_bytes());
            }};
        }
        match dt {
            ffi::TYPE_BOOL => out.push(e.as_bool().ok_or_else(|| mismatch(i, "a boolean"))? as u8),
            ffi::TYPE_UINT8 => int!(u8, as_u64),
            ffi::TYPE_UINT16 => int!(u16, as_u64),
            ffi::TYPE_UINT32 => int!(u32, as_u64),
            ffi::TYPE_UINT64 => int!(u64, as_u64),
            ffi::TYPE_INT8 => int!(i8, as_i64),
            ffi::TYPE_INT16 => int!(i16, as_i64),
            ffi::TYPE_INT32 => int!(i32, as_i64),
            ffi::TYPE_INT64 => int!(i64, as_i64),
            ffi::TYPE_FP32 => {
                let v = e.as_f64().ok_or_else(|| mismatch(i, "a number"))?;
                out.extend_from_slice(&(v as f32).to_le_bytes());
            }
            ffi::TYPE_FP64 => {
                let v = e.as_f64().ok_or_else(|| mismatch(i, "a number"))?;
                out.extend_from_slice(&v.to_le_bytes());
            }
            ffi::TYPE_BYTES => {
                let s = e.as_str().ok_or_else(|| mismatch(i, "a string"))?;
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            _ => {
                return Err(bad(format!(
                    "receiving {dtn} data via JSON is not supported. Please use the binary data \
                     format for input '{name}'"
                )))
            }
        }
    }
    Ok(out)
}

fn parse_param(key: &str, v: &Value) -> Result<Param, CoreError> {
    Ok(match v {
        Value::String(s) => Param::Str(s.clone()),
        Value::Bool(b) => Param::Bool(*b),
        Value::Number(n) if n.is_i64() => Param::Int(n.as_i64().unwrap_or_default()),
        Value::Number(n) if n.is_u64() => Param::Int(
            i64::try_from(n.as_u64().unwrap_or_default())
                .map_err(|_| bad(format!("parameter '{key}' is out of range for int64")))?,
        ),
        Value::Number(n) => Param::Double(n.as_f64().unwrap_or_default()),
        _ => {
            return Err(bad(format!(
                "parameter '{key}' has invalid type. It should be either 'int', 'bool', \
                 'double' or 'string'."
            )))
        }
    })
}

/// Parses the body. `header_len`: the `Inference-Header-Content-Length` value, if any.
pub fn parse(body: &[u8], header_len: Option<usize>) -> Result<Parsed, CoreError> {
    if header_len.is_none() {
        if let Some(p) = fast::parse(body) {
            return Ok(p);
        }
    }
    parse_general(body, header_len)
}

/// `parse` for any body (and every error message).
pub(super) fn parse_general(body: &[u8], header_len: Option<usize>) -> Result<Parsed, CoreError> {
    let json_len = match header_len {
        Some(n) if n > body.len() => {
            return Err(bad(format!(
                "Inference-Header-Content-Length {n} exceeds the request body size {}",
                body.len()
            )))
        }
        Some(n) => n,
        None => body.len(),
    };
    let root: Value = serde_json::from_slice(&body[..json_len])
        .map_err(|e| bad(format!("failed to parse the request JSON buffer: {e}")))?;
    let Value::Object(root) = root else {
        return Err(bad("the request JSON must be an object"));
    };
    let mut parsed = Parsed {
        id: None,
        params: Vec::new(),
        sequence_id: None,
        flags: 0,
        priority: None,
        timeout_us: None,
        binary_default: false,
        inputs: Vec::new(),
        outputs: Vec::new(),
    };
    match root.get("id") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => parsed.id = Some(s.clone()),
        Some(_) => return Err(bad("Unable to parse 'id': expected a string")),
    }
    if let Some(p) = root.get("parameters") {
        let p = p
            .as_object()
            .ok_or_else(|| bad("Unable to parse 'parameters': expected an object"))?;
        for (k, v) in p {
            let as_bool = |v: &Value| {
                v.as_bool()
                    .ok_or_else(|| bad(format!("Unable to parse '{k}': expected a boolean")))
            };
            let as_u64 = |v: &Value| {
                v.as_u64().ok_or_else(|| {
                    bad(format!(
                        "Unable to parse '{k}': expected a non-negative integer"
                    ))
                })
            };
            match k.as_str() {
                "sequence_id" => match v {
                    Value::String(_) => parsed.sequence_id = Some(v.clone()),
                    Value::Number(n) if n.is_u64() => parsed.sequence_id = Some(v.clone()),
                    _ => return Err(bad(
                        "Unable to parse 'sequence_id': expected a string or an unsigned integer",
                    )),
                },
                "sequence_start" if as_bool(v)? => parsed.flags |= ffi::REQUEST_FLAG_SEQUENCE_START,
                "sequence_end" if as_bool(v)? => parsed.flags |= ffi::REQUEST_FLAG_SEQUENCE_END,
                "sequence_start" | "sequence_end" => {}
                "priority" => parsed.priority = Some(as_u64(v)?),
                "timeout" => parsed.timeout_us = Some(as_u64(v)?),
                "binary_data_output" => parsed.binary_default = as_bool(v)?,
                _ => parsed.params.push((k.clone(), parse_param(k, v)?)),
            }
        }
    }
    let inputs = root
        .get("inputs")
        .ok_or_else(|| bad("missing 'inputs' in the request"))?
        .as_array()
        .ok_or_else(|| bad("Unable to parse 'inputs': expected an array"))?;
    let mut offset = json_len;
    for inp in inputs {
        let inp = inp
            .as_object()
            .ok_or_else(|| bad("Unable to parse 'inputs': each input must be an object"))?;
        let name = inp
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("Unable to parse 'name': every input needs a string 'name'"))?;
        let dts = inp.get("datatype").and_then(Value::as_str).ok_or_else(|| {
            bad(format!(
                "Unable to parse 'datatype' of input '{name}': expected a string"
            ))
        })?;
        let datatype = datatype_from_str(dts);
        if datatype == ffi::TYPE_INVALID {
            return Err(bad(format!("invalid datatype '{dts}' for input '{name}'")));
        }
        let shape: Vec<i64> = inp
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                bad(format!(
                    "Unable to parse 'shape' of input '{name}': expected an array"
                ))
            })?
            .iter()
            .map(|d| d.as_i64().filter(|d| *d >= 0))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                bad(format!(
                    "Unable to parse 'shape' of input '{name}': expected non-negative integers"
                ))
            })?;
        let elements = shape
            .iter()
            .try_fold(1u64, |acc, d| acc.checked_mul(*d as u64))
            .ok_or_else(|| bad(format!("the shape of input '{name}' is too large")))?;
        let mut binary_size = None;
        if let Some(p) = inp.get("parameters") {
            let p = p.as_object().ok_or_else(|| {
                bad(format!(
                    "Unable to parse 'parameters' of input '{name}': expected an object"
                ))
            })?;
            if p.contains_key("shared_memory_region") {
                return Err(CoreError::new(
                    ffi::ERROR_UNSUPPORTED,
                    format!("input '{name}': shared memory is not supported by this server"),
                ));
            }
            if let Some(b) = p.get("binary_data_size") {
                binary_size = Some(b.as_u64().ok_or_else(|| {
                    bad(format!(
                        "Unable to parse 'binary_data_size' of input '{name}': expected a \
                         non-negative integer"
                    ))
                })? as usize);
            }
        }
        let data = match (binary_size, inp.get("data")) {
            (Some(_), Some(_)) => {
                return Err(bad(format!(
                    "input '{name}' has both 'data' and 'binary_data_size'"
                )))
            }
            (Some(n), None) => {
                if header_len.is_none() {
                    return Err(bad(format!(
                        "input '{name}' has 'binary_data_size' but the request has no \
                         Inference-Header-Content-Length header"
                    )));
                }
                let end = offset
                    .checked_add(n)
                    .filter(|e| *e <= body.len())
                    .ok_or_else(|| {
                        bad(format!(
                            "unexpected size for input '{name}', expecting {n} bytes of binary \
                             data but only {} remain in the request body",
                            body.len() - offset
                        ))
                    })?;
                let r = offset..end;
                offset = end;
                Data::Body(r)
            }
            (None, Some(d)) => Data::Owned(json_to_bytes(name, datatype, d, elements)?),
            (None, None) => {
                return Err(bad(format!(
                    "input '{name}' must specify either 'data' or 'binary_data_size'"
                )))
            }
        };
        parsed.inputs.push(Input {
            name: cstring(name, "input name")?,
            datatype,
            shape,
            data,
        });
    }
    if offset != body.len() {
        return Err(bad(format!(
            "the request body has {} bytes of binary data that no input claims",
            body.len() - offset
        )));
    }
    if let Some(outs) = root.get("outputs") {
        let outs = outs
            .as_array()
            .ok_or_else(|| bad("Unable to parse 'outputs': expected an array"))?;
        for o in outs {
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("Unable to parse 'name': every output needs a string 'name'"))?;
            let mut ro = RequestedOutput {
                binary: None,
                classification: 0,
            };
            if let Some(p) = o.get("parameters") {
                let p = p.as_object().ok_or_else(|| {
                    bad(format!("Unable to parse 'parameters' of output '{name}'"))
                })?;
                if p.contains_key("shared_memory_region") {
                    return Err(CoreError::new(
                        ffi::ERROR_UNSUPPORTED,
                        format!("output '{name}': shared memory is not supported by this server"),
                    ));
                }
                if let Some(b) = p.get("binary_data") {
                    ro.binary = Some(b.as_bool().ok_or_else(|| {
                        bad(format!("Unable to parse 'binary_data' of output '{name}'"))
                    })?);
                }
                if let Some(c) = p.get("classification") {
                    ro.classification = c.as_u64().ok_or_else(|| {
                        bad(format!(
                            "Unable to parse 'classification' of output '{name}': expected a \
                             non-negative integer"
                        ))
                    })?;
                }
            }
            parsed.outputs.push((name.to_string(), ro));
        }
    }
    Ok(parsed)
}
