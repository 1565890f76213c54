//! Named parameter values (`TRITONSERVER_Parameter`): load parameters, repository name mappings,
//! and request / response parameters.
//!
//! Strings are kept NUL-terminated so that the C shell can hand out pointers to them for as long
//! as the parameter lives.

use std::ffi::{CStr, CString};

use super::error::{Error, Result};
use super::types::ParameterType;

/// The value of a parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum ParameterValue {
    String(CString),
    Int(i64),
    Bool(bool),
    Double(f64),
    Bytes(Vec<u8>),
}

/// A named value.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    name: CString,
    value: ParameterValue,
}

fn c_string(what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid_arg(format!("{what} must not contain a NUL byte")))
}

impl Parameter {
    /// A parameter from a name and a value.
    pub fn new(name: &str, value: ParameterValue) -> Result<Parameter> {
        Ok(Parameter {
            name: c_string("parameter name", name)?,
            value,
        })
    }
    /// A parameter whose name and string value are already C strings.
    pub fn from_c(name: &CStr, value: ParameterValue) -> Parameter {
        Parameter {
            name: name.to_owned(),
            value,
        }
    }
    pub fn string(name: &str, value: &str) -> Result<Parameter> {
        Self::new(
            name,
            ParameterValue::String(c_string("parameter value", value)?),
        )
    }
    pub fn int(name: &str, value: i64) -> Result<Parameter> {
        Self::new(name, ParameterValue::Int(value))
    }
    pub fn bool(name: &str, value: bool) -> Result<Parameter> {
        Self::new(name, ParameterValue::Bool(value))
    }
    pub fn double(name: &str, value: f64) -> Result<Parameter> {
        Self::new(name, ParameterValue::Double(value))
    }
    pub fn bytes(name: &str, value: &[u8]) -> Result<Parameter> {
        Self::new(name, ParameterValue::Bytes(value.to_vec()))
    }

    /// The name (lossy if it is not UTF-8).
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        self.name.to_string_lossy()
    }
    pub fn name_c(&self) -> &CStr {
        &self.name
    }
    pub fn value(&self) -> &ParameterValue {
        &self.value
    }
    /// The kind of value.
    pub fn kind(&self) -> ParameterType {
        match self.value {
            ParameterValue::String(_) => ParameterType::String,
            ParameterValue::Int(_) => ParameterType::Int,
            ParameterValue::Bool(_) => ParameterType::Bool,
            ParameterValue::Double(_) => ParameterType::Double,
            ParameterValue::Bytes(_) => ParameterType::Bytes,
        }
    }
    /// The string value, if this is a (UTF-8) string parameter.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            ParameterValue::String(s) => s.to_str().ok(),
            _ => None,
        }
    }
    /// The bytes of a BYTES parameter.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.value {
            ParameterValue::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_accessors() {
        let p = Parameter::string("config", "{}").unwrap();
        assert_eq!(p.kind(), ParameterType::String);
        assert_eq!(p.as_str(), Some("{}"));
        assert_eq!(p.name(), "config");
        assert_eq!(Parameter::int("i", -3).unwrap().kind(), ParameterType::Int);
        assert_eq!(
            Parameter::bool("b", true).unwrap().kind(),
            ParameterType::Bool
        );
        assert_eq!(
            Parameter::double("d", 0.5).unwrap().kind(),
            ParameterType::Double
        );
        let b = Parameter::bytes("file:1/x", b"\0abc").unwrap();
        assert_eq!(b.as_bytes(), Some(&b"\0abc"[..]));
        assert_eq!(b.as_str(), None);
        assert!(Parameter::string("a\0b", "x").is_err());
        assert!(Parameter::string("a", "x\0").is_err());
    }
}
