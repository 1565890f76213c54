//! The fast path: the common request shape parsed straight into a [`Parsed`] request.
//!
//! `{"id"?: string, "inputs": [{"name", "datatype", "shape", "data", other keys ignored}]}` and no
//! binary data: the tensor values are converted to bytes as they are read, without a
//! `serde_json::Value` tree. Anything else (parameters, outputs, binary data, escaped keys,
//! repeated keys, a key order with `data` before `datatype`/`shape`, any error) returns `None`
//! and `parse` takes the general path, which gives every answer (and error message) as before.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{datatype_from_str, element_size, Data, Input, Parsed};
use crate::core::cstring;
use crate::ffi;

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
        let (Some(name), Some(datatype), Some(shape), Some(data)) = (name, datatype, shape, data)
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
                let v =
                    <$t>::try_from($get().ok_or(E::custom(Bail))?).map_err(|_| E::custom(Bail))?;
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

#[cfg(test)]
mod tests {
    use super::super::parse::parse_general;
    use super::super::{Data, Parsed};
    use super::parse;

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
            let fast = parse(body.as_bytes()).expect(body);
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
            assert!(parse(body.as_bytes()).is_none(), "{body}");
        }
    }
}
