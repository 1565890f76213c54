//! Serialized JSON messages (`TRITONSERVER_Message`).

use std::ffi::CString;

use super::error::{Error, Result};

/// A JSON document kept in serialized form, NUL-terminated so that it can be handed out as a
/// C string as well as a (pointer, length) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    json: CString,
}

impl Message {
    /// A message from JSON text, which must be a valid JSON document.
    pub fn from_json_text(text: &str) -> Result<Message> {
        serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| Error::invalid_arg(format!("failed to parse the JSON message: {e}")))?;
        Self::from_trusted(text.to_owned())
    }

    /// A message from a JSON value.
    pub fn from_value(value: &serde_json::Value) -> Message {
        // A serialized serde_json::Value never contains a raw NUL (it is escaped as \u0000).
        Self::from_trusted(value.to_string()).expect("serialized JSON has no NUL byte")
    }

    fn from_trusted(text: String) -> Result<Message> {
        let json = CString::new(text)
            .map_err(|_| Error::invalid_arg("JSON message contains a NUL byte"))?;
        Ok(Message { json })
    }

    /// The serialized JSON.
    pub fn as_str(&self) -> &str {
        self.json.to_str().unwrap_or_default()
    }

    /// The serialized JSON as a NUL-terminated string.
    pub fn as_c_str(&self) -> &std::ffi::CStr {
        &self.json
    }

    /// The serialized JSON parsed back into a value.
    pub fn to_value(&self) -> Result<serde_json::Value> {
        serde_json::from_str(self.as_str())
            .map_err(|e| Error::invalid_arg(format!("failed to parse the JSON message: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_invalid_json() {
        assert!(Message::from_json_text("{").is_err());
        assert!(Message::from_json_text("").is_err());
        let m = Message::from_json_text(r#"{"a": [1, 2]}"#).unwrap();
        assert_eq!(m.as_str(), r#"{"a": [1, 2]}"#);
        assert_eq!(m.to_value().unwrap()["a"][1], 2);
    }

    #[test]
    fn values_with_nul_are_escaped() {
        let m = Message::from_value(&serde_json::json!({"k": "a\u{0}b"}));
        assert_eq!(m.as_str(), r#"{"k":"a\u0000b"}"#);
    }
}
