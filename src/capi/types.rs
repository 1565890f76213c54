//! C-facing value types. Enums arrive from C as plain integers: each is a transparent `u32`
//! here, converted to the engine's enum with a range check, so an out-of-range value is an
//! error rather than undefined behaviour. The C definitions live in `cbindgen/*_prelude.h`.

use crate::engine::types as t;
use crate::engine::{log, Error, Result};

macro_rules! c_enum {
    ($($(#[$m:meta])* $name:ident),* $(,)?) => {$(
        $(#[$m])*
        /// cbindgen:ignore
        #[repr(transparent)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub u32);
    )*};
}

c_enum!(
    /// `TRITONSERVER_DataType`.
    TRITONSERVER_DataType,
    /// `TRITONSERVER_MemoryType`.
    TRITONSERVER_MemoryType,
    /// `TRITONSERVER_ParameterType`.
    TRITONSERVER_ParameterType,
    /// `TRITONSERVER_InstanceGroupKind`.
    TRITONSERVER_InstanceGroupKind,
    /// `TRITONSERVER_LogLevel`.
    TRITONSERVER_LogLevel,
    /// `TRITONSERVER_LogFormat`.
    TRITONSERVER_LogFormat,
    /// `TRITONSERVER_Error_Code`.
    TRITONSERVER_Error_Code,
    /// `TRITONSERVER_ModelControlMode`.
    TRITONSERVER_ModelControlMode,
    /// `TRITONSERVER_RateLimitMode`.
    TRITONSERVER_RateLimitMode,
    /// `TRITONSERVER_MetricFormat`.
    TRITONSERVER_MetricFormat,
    /// `TRITONSERVER_MetricKind`.
    TRITONSERVER_MetricKind,
    /// `TRITONSERVER_InferenceTraceLevel`.
    TRITONSERVER_InferenceTraceLevel,
    /// `TRITONSERVER_InferenceTraceActivity`.
    TRITONSERVER_InferenceTraceActivity,
    /// `TRITONBACKEND_ArtifactType`.
    TRITONBACKEND_ArtifactType,
    /// `TRITONBACKEND_ExecutionPolicy`.
    TRITONBACKEND_ExecutionPolicy,
);

fn out_of_range(what: &str, v: u32) -> Error {
    Error::invalid_arg(format!(
        "{}: invalid {what} value {v}",
        super::boundary::current_fn()
    ))
}

impl TRITONSERVER_DataType {
    pub fn get(self) -> Result<t::DataType> {
        t::DataType::from_u32(self.0).ok_or_else(|| out_of_range("data type", self.0))
    }
}
impl From<t::DataType> for TRITONSERVER_DataType {
    fn from(d: t::DataType) -> Self {
        TRITONSERVER_DataType(d as u32)
    }
}
impl TRITONSERVER_MemoryType {
    pub fn get(self) -> Result<t::MemoryType> {
        t::MemoryType::from_u32(self.0).ok_or_else(|| out_of_range("memory type", self.0))
    }
}
impl TRITONSERVER_ParameterType {
    pub fn get(self) -> Result<t::ParameterType> {
        t::ParameterType::from_u32(self.0).ok_or_else(|| out_of_range("parameter type", self.0))
    }
}
impl TRITONSERVER_InstanceGroupKind {
    pub fn get(self) -> Result<t::InstanceKind> {
        t::InstanceKind::from_u32(self.0).ok_or_else(|| out_of_range("instance group kind", self.0))
    }
}
impl TRITONSERVER_LogLevel {
    pub fn get(self) -> Result<log::Level> {
        log::Level::from_u32(self.0).ok_or_else(|| out_of_range("log level", self.0))
    }
}
impl TRITONSERVER_LogFormat {
    pub fn get(self) -> Result<log::Format> {
        log::Format::from_u32(self.0).ok_or_else(|| out_of_range("log format", self.0))
    }
}
impl TRITONSERVER_ModelControlMode {
    pub fn get(self) -> Result<t::ModelControlMode> {
        t::ModelControlMode::from_u32(self.0)
            .ok_or_else(|| out_of_range("model control mode", self.0))
    }
}
impl TRITONBACKEND_ExecutionPolicy {
    pub fn get(self) -> Result<t::ExecutionPolicy> {
        t::ExecutionPolicy::from_u32(self.0).ok_or_else(|| out_of_range("execution policy", self.0))
    }
}

/// `TRITONBACKEND_ARTIFACT_FILESYSTEM`.
pub(crate) const ARTIFACT_FILESYSTEM: TRITONBACKEND_ArtifactType = TRITONBACKEND_ArtifactType(0);

impl From<crate::engine::metrics::MetricKind> for TRITONSERVER_MetricKind {
    fn from(k: crate::engine::metrics::MetricKind) -> Self {
        TRITONSERVER_MetricKind(k as u32)
    }
}

/// `TRITONSERVER_METRIC_PROMETHEUS`.
pub(crate) const METRIC_PROMETHEUS: TRITONSERVER_MetricFormat = TRITONSERVER_MetricFormat(0);
