//! Errors with Triton's error codes.

use std::fmt;

/// Error codes, with the numeric values of `TRITONSERVER_Error_Code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Code {
    Unknown = 0,
    Internal = 1,
    NotFound = 2,
    InvalidArg = 3,
    Unavailable = 4,
    Unsupported = 5,
    AlreadyExists = 6,
    Cancelled = 7,
}

impl Code {
    /// Every code, in numeric order.
    ///
    /// cbindgen:ignore
    pub const ALL: [Code; 8] = [
        Code::Unknown,
        Code::Internal,
        Code::NotFound,
        Code::InvalidArg,
        Code::Unavailable,
        Code::Unsupported,
        Code::AlreadyExists,
        Code::Cancelled,
    ];

    /// The code with the given numeric value, if there is one.
    pub fn from_u32(v: u32) -> Option<Code> {
        Code::ALL.get(v as usize).copied()
    }

    /// The human-readable name upstream prints for the code ("Invalid argument", ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unknown => "Unknown",
            Code::Internal => "Internal",
            Code::NotFound => "Not found",
            Code::InvalidArg => "Invalid argument",
            Code::Unavailable => "Unavailable",
            Code::Unsupported => "Unsupported",
            Code::AlreadyExists => "Already exists",
            Code::Cancelled => "Cancelled",
        }
    }
}

/// An error: a [`Code`] and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: Code,
    message: String,
}

/// Result with the engine's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
    pub fn unknown(m: impl Into<String>) -> Self {
        Self::new(Code::Unknown, m)
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(Code::Internal, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(Code::NotFound, m)
    }
    pub fn invalid_arg(m: impl Into<String>) -> Self {
        Self::new(Code::InvalidArg, m)
    }
    pub fn unavailable(m: impl Into<String>) -> Self {
        Self::new(Code::Unavailable, m)
    }
    pub fn unsupported(m: impl Into<String>) -> Self {
        Self::new(Code::Unsupported, m)
    }
    pub fn already_exists(m: impl Into<String>) -> Self {
        Self::new(Code::AlreadyExists, m)
    }
    pub fn cancelled(m: impl Into<String>) -> Self {
        Self::new(Code::Cancelled, m)
    }
    pub fn code(&self) -> Code {
        self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    /// "<code string>: <message>", the form upstream uses in logs and reasons.
    pub fn as_status_string(&self) -> String {
        format!("{}: {}", self.code.as_str(), self.message)
    }
    /// The same error with `prefix` put in front of the message.
    pub fn with_prefix(self, prefix: &str) -> Self {
        Error {
            code: self.code,
            message: format!("{prefix}{}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<triton_model_config::ConfigError> for Error {
    fn from(e: triton_model_config::ConfigError) -> Self {
        use triton_model_config::ConfigErrorCode as C;
        let code = match e.code {
            C::InvalidArg => Code::InvalidArg,
            C::Internal => Code::Internal,
            C::NotFound => Code::NotFound,
            C::Unsupported => Code::Unsupported,
        };
        Error::new(code, e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_numbers() {
        for (i, c) in Code::ALL.iter().enumerate() {
            assert_eq!(*c as u32, i as u32);
            assert_eq!(Code::from_u32(i as u32), Some(*c));
        }
        assert_eq!(Code::from_u32(8), None);
        assert_eq!(Code::InvalidArg.as_str(), "Invalid argument");
    }

    #[test]
    fn status_string_has_code_prefix() {
        let e = Error::not_found("no such model");
        assert_eq!(e.as_status_string(), "Not found: no such model");
        assert_eq!(e.with_prefix("x: ").message(), "x: no such model");
    }
}
