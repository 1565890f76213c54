//! Error type shared by every function of the crate.

use std::fmt;

/// Error category, mirroring the subset of `TRITONSERVER_Error_Code` values
/// that upstream's model-configuration code produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigErrorCode {
    /// `TRITONSERVER_ERROR_INVALID_ARG`
    InvalidArg,
    /// `TRITONSERVER_ERROR_INTERNAL`
    Internal,
    /// `TRITONSERVER_ERROR_NOT_FOUND`
    NotFound,
    /// `TRITONSERVER_ERROR_UNSUPPORTED`
    Unsupported,
}

/// A failure to read, convert, normalize or validate a model configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Category, used by callers to pick the C API error code.
    pub code: ConfigErrorCode,
    /// Human readable message (upstream wording where upstream has one).
    pub message: String,
}

impl ConfigError {
    /// Creates an error with the given code and message.
    pub fn new(code: ConfigErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Shorthand for an [`ConfigErrorCode::InvalidArg`] error.
    pub fn invalid_arg(message: impl Into<String>) -> Self {
        Self::new(ConfigErrorCode::InvalidArg, message)
    }

    /// Shorthand for an [`ConfigErrorCode::Internal`] error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ConfigErrorCode::Internal, message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}
