//! `POST /v2/models/{m}[/versions/{v}]/infer`: the KServe v2 JSON body, the binary tensor data
//! extension (`Inference-Header-Content-Length`), request/response parameters, requested
//! outputs with `binary_data` and `classification`, submitted through
//! `TRITONSERVER_ServerInferAsync`.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ops::Range;
use std::ptr;
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use crate::core::{check, cstring, Core, CoreError};
use crate::ffi::{self, TRITONSERVER_InferenceRequest, TRITONSERVER_InferenceResponse};

/// Where an input's bytes are.
enum Data {
    Body(Range<usize>),
    Owned(Vec<u8>),
}

struct Input {
    name: CString,
    datatype: u32,
    shape: Vec<i64>,
    data: Data,
}

struct RequestedOutput {
    binary: Option<bool>,
    classification: u64,
}

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

fn datatype_from_str(s: &str) -> u32 {
    match cstring(s, "datatype") {
        // SAFETY: NUL-terminated string; the function only reads it.
        Ok(c) => unsafe { ffi::TRITONSERVER_StringToDataType(c.as_ptr()) },
        Err(_) => ffi::TYPE_INVALID,
    }
}

pub fn datatype_name(dt: u32) -> String {
    // SAFETY: returns a static string for any value.
    let p = unsafe { ffi::TRITONSERVER_DataTypeString(dt) };
    if p.is_null() {
        return "<invalid>".into();
    }
    // SAFETY: static NUL-terminated string.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn element_size(dt: u32) -> usize {
    match dt {
        ffi::TYPE_BOOL | ffi::TYPE_UINT8 | ffi::TYPE_INT8 => 1,
        ffi::TYPE_UINT16 | ffi::TYPE_INT16 | ffi::TYPE_FP16 | ffi::TYPE_BF16 => 2,
        ffi::TYPE_UINT32 | ffi::TYPE_INT32 | ffi::TYPE_FP32 => 4,
        ffi::TYPE_UINT64 | ffi::TYPE_INT64 | ffi::TYPE_FP64 => 8,
        _ => 0,
    }
}

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

// ---- fast path: the common request shape parsed straight into a `Parsed` ----
//
// `{"id"?: string, "inputs": [{"name", "datatype", "shape", "data", other keys ignored}]}` and no
// binary data: the tensor values are converted to bytes as they are read, without a
// `serde_json::Value` tree. Anything else (parameters, outputs, binary data, escaped keys,
// repeated keys, a key order with `data` before `datatype`/`shape`, any error) returns `None`
// and `parse` takes the general path, which gives every answer (and error message) as before.

mod fast {
    use std::fmt;

    use serde::de::{
        self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
    };

    use super::{cstring, datatype_from_str, element_size, ffi, Data, Input, Parsed};

    /// Any failure: the general path decides.
    #[derive(Debug)]
    pub struct Bail;
    impl fmt::Display for Bail {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bail")
        }
    }
    impl std::error::Error for Bail {}
    impl de::Error for Bail {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Bail
        }
    }

    pub fn parse(body: &[u8]) -> Option<Parsed> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let parsed = (&mut de).deserialize_map(Root).ok()?;
        de.end().ok()?;
        Some(parsed)
    }

    struct Root;
    impl<'de> Visitor<'de> for Root {
        type Value = Parsed;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an infer request")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Parsed, A::Error> {
            let mut id: Option<Option<String>> = None;
            let mut inputs: Option<Vec<Input>> = None;
            while let Some(k) = m.next_key::<&str>()? {
                match k {
                    "id" if id.is_none() => id = Some(m.next_value::<Option<String>>()?),
                    "inputs" if inputs.is_none() => inputs = Some(m.next_value_seed(Inputs)?),
                    _ => return Err(de::Error::custom(Bail)),
                }
            }
            Ok(Parsed {
                id: id.flatten(),
                params: Vec::new(),
                sequence_id: None,
                flags: 0,
                priority: None,
                timeout_us: None,
                binary_default: false,
                inputs: inputs.ok_or_else(|| de::Error::custom(Bail))?,
                outputs: Vec::new(),
            })
        }
    }

    struct Inputs;
    impl<'de> DeserializeSeed<'de> for Inputs {
        type Value = Vec<Input>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Input>, D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for Inputs {
        type Value = Vec<Input>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("inputs")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Vec<Input>, A::Error> {
            let mut out = Vec::new();
            while let Some(i) = s.next_element_seed(OneInput)? {
                out.push(i);
            }
            Ok(out)
        }
    }

    struct OneInput;
    impl<'de> DeserializeSeed<'de> for OneInput {
        type Value = Input;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Input, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for OneInput {
        type Value = Input;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an input")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Input, A::Error> {
            let bail = || de::Error::custom(Bail);
            let mut name: Option<String> = None;
            let mut datatype: Option<u32> = None;
            let mut shape: Option<Vec<i64>> = None;
            let mut data: Option<Vec<u8>> = None;
            let mut seen_other: Vec<&str> = Vec::new();
            while let Some(k) = m.next_key::<&str>()? {
                match k {
                    "name" if name.is_none() => name = Some(m.next_value::<String>()?),
                    "datatype" if datatype.is_none() => {
                        let s = m.next_value::<&str>()?;
                        let dt = datatype_from_str(s);
                        if dt == ffi::TYPE_INVALID {
                            return Err(bail());
                        }
                        datatype = Some(dt);
                    }
                    "shape" if shape.is_none() => {
                        let s = m.next_value::<Vec<i64>>()?;
                        if s.iter().any(|d| *d < 0) {
                            return Err(bail());
                        }
                        shape = Some(s);
                    }
                    "data" if data.is_none() => {
                        let (Some(dt), Some(shape)) = (datatype, shape.as_ref()) else {
                            return Err(bail());
                        };
                        let expected = shape
                            .iter()
                            .try_fold(1u64, |acc, d| acc.checked_mul(*d as u64))
                            .ok_or_else(bail)?;
                        let mut seed = Elements {
                            dt,
                            count: 0,
                            out: Vec::with_capacity(
                                (expected as usize)
                                    .saturating_mul(element_size(dt).max(1))
                                    .min(1 << 20),
                            ),
                        };
                        m.next_value_seed(&mut seed)?;
                        if seed.count != expected {
                            return Err(bail());
                        }
                        data = Some(seed.out);
                    }
                    "name" | "datatype" | "shape" | "data" | "parameters" => return Err(bail()),
                    other => {
                        if seen_other.contains(&other) {
                            return Err(bail());
                        }
                        seen_other.push(other);
                        m.next_value::<IgnoredAny>()?;
                    }
                }
            }
            let (Some(name), Some(datatype), Some(shape), Some(data)) =
                (name, datatype, shape, data)
            else {
                return Err(bail());
            };
            Ok(Input {
                name: cstring(&name, "input name").map_err(|_| bail())?,
                datatype,
                shape,
                data: Data::Owned(data),
            })
        }
    }

    /// The (possibly nested) `data` array, converted as `json_to_bytes` converts each element.
    struct Elements {
        dt: u32,
        count: u64,
        out: Vec<u8>,
    }

    impl<'de> DeserializeSeed<'de> for &mut Elements {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    /// A JSON number as `serde_json::Value` holds it.
    enum Num {
        Pos(u64),
        Neg(i64),
        Float(f64),
    }

    impl Elements {
        fn number<E: de::Error>(&mut self, n: Num) -> Result<(), E> {
            let as_u64 = || match n {
                Num::Pos(u) => Some(u),
                _ => None,
            };
            let as_i64 = || match n {
                Num::Pos(u) => i64::try_from(u).ok(),
                Num::Neg(i) => Some(i),
                Num::Float(_) => None,
            };
            let as_f64 = match n {
                Num::Pos(u) => u as f64,
                Num::Neg(i) => i as f64,
                Num::Float(f) => f,
            };
            macro_rules! int {
                ($t:ty, $get:ident) => {{
                    let v = <$t>::try_from($get().ok_or(E::custom(Bail))?)
                        .map_err(|_| E::custom(Bail))?;
                    self.out.extend_from_slice(&v.to_le_bytes());
                }};
            }
            match self.dt {
                ffi::TYPE_UINT8 => int!(u8, as_u64),
                ffi::TYPE_UINT16 => int!(u16, as_u64),
                ffi::TYPE_UINT32 => int!(u32, as_u64),
                ffi::TYPE_UINT64 => int!(u64, as_u64),
                ffi::TYPE_INT8 => int!(i8, as_i64),
                ffi::TYPE_INT16 => int!(i16, as_i64),
                ffi::TYPE_INT32 => int!(i32, as_i64),
                ffi::TYPE_INT64 => int!(i64, as_i64),
                ffi::TYPE_FP32 => self.out.extend_from_slice(&(as_f64 as f32).to_le_bytes()),
                ffi::TYPE_FP64 => self.out.extend_from_slice(&as_f64.to_le_bytes()),
                _ => return Err(E::custom(Bail)),
            }
            self.count += 1;
            Ok(())
        }
    }

    impl<'de> Visitor<'de> for &mut Elements {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("tensor data")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
            while s.next_element_seed(&mut *self)?.is_some() {}
            Ok(())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
            self.number(Num::Pos(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
            self.number(if v < 0 {
                Num::Neg(v)
            } else {
                Num::Pos(v as u64)
            })
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
            if !v.is_finite() {
                return Err(E::custom(Bail));
            }
            self.number(Num::Float(v))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
            if self.dt != ffi::TYPE_BOOL {
                return Err(E::custom(Bail));
            }
            self.out.push(v as u8);
            self.count += 1;
            Ok(())
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
            if self.dt != ffi::TYPE_BYTES {
                return Err(E::custom(Bail));
            }
            self.out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            self.out.extend_from_slice(v.as_bytes());
            self.count += 1;
            Ok(())
        }
    }
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
fn parse_general(body: &[u8], header_len: Option<usize>) -> Result<Parsed, CoreError> {
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
        if check(unsafe { ffi::TRITONSERVER_InferenceResponseOutputCount(r.0, &mut oc) }).is_err() {
            continue;
        }
        for i in 0..oc {
            // SAFETY: live response owned by `r`, index below its output count.
            if let Ok(out) = unsafe { response_output(r.0, i) } {
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
    let resp = r.0;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What a parsed request submits: id and, per input, name, datatype, shape and bytes.
    type Summary = (Option<String>, Vec<(String, u32, Vec<i64>, Vec<u8>)>);

    fn summary(p: &Parsed) -> Summary {
        let inputs = p
            .inputs
            .iter()
            .map(|i| {
                let bytes = match &i.data {
                    Data::Owned(v) => v.clone(),
                    Data::Body(_) => panic!("JSON data"),
                };
                (
                    i.name.to_string_lossy().into_owned(),
                    i.datatype,
                    i.shape.clone(),
                    bytes,
                )
            })
            .collect();
        (p.id.clone(), inputs)
    }

    #[test]
    fn fast_path_matches_the_general_parser() {
        let accepted = [
            r#"{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[4],"data":[0.1,1,-0,1e30]}]}"#,
            r#"{"id":"a\"b","inputs":[{"shape":[2,2],"name":"X","datatype":"INT64","x":{"y":[1]},"data":[[-1,2],[9223372036854775807,0]]}]}"#,
            r#"{"id":null,"inputs":[{"name":"U","datatype":"UINT8","shape":[3],"data":[0,255,7]},{"name":"B","datatype":"BOOL","shape":[2],"data":[true,false]}]}"#,
            r#"{"inputs":[{"name":"S","datatype":"BYTES","shape":[2],"data":["h\u00e9","x"]}]}"#,
            r#"{"inputs":[{"name":"D","datatype":"FP64","shape":[2],"data":[18446744073709551616,0.30000000000000004]}]}"#,
            r#" {"inputs":[{"name":"E","datatype":"FP16","shape":[0],"data":[]}]} "#,
        ];
        for body in accepted {
            let fast = fast::parse(body.as_bytes()).expect(body);
            let general = parse_general(body.as_bytes(), None).expect(body);
            assert_eq!(summary(&fast), summary(&general), "{body}");
        }
        let declined = [
            r#"{"inputs":[{"name":"I","datatype":"FP32","shape":[2],"data":[1]}]}"#,
            r#"{"inputs":[{"name":"I","datatype":"UINT8","shape":[1],"data":[256]}]}"#,
            r#"{"inputs":[{"name":"I","datatype":"INT8","shape":[1],"data":[1.0]}]}"#,
            r#"{"inputs":[{"name":"I","datatype":"FP32","shape":[1],"data":[true]}]}"#,
            r#"{"inputs":[{"name":"I","datatype":"FP16","shape":[1],"data":[1]}]}"#,
            r#"{"inputs":[{"name":"I","data":[1],"datatype":"FP32","shape":[1]}]}"#,
            r#"{"inputs":[{"name":"I","datatype":"FP32","shape":[1],"data":[1],"data":[2]}]}"#,
            r#"{"inputs":[{"name":"I","datatype":"FP32","shape":[1],"data":[1]}],"outputs":[]}"#,
            r#"{"inputs":[{"name":"I","datatype":"FP32","shape":[1],"data":[1]}]} x"#,
            r#"{"\u0069nputs":[]}"#,
            r#"{"id":1,"inputs":[]}"#,
            "",
        ];
        for body in declined {
            assert!(fast::parse(body.as_bytes()).is_none(), "{body}");
        }
    }
}
