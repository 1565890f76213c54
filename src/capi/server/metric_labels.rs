//! Reading `TRITONSERVER_Parameter` objects given as custom metric labels.

use crate::capi::boundary::current_fn;
pub use crate::capi::server::parameter::TRITONSERVER_Parameter;
use crate::engine::types::ParameterType;
use crate::engine::{Error, Result};

/// Name, type and (for STRING parameters) value of a parameter.
pub(crate) fn parameter_view(
    p: &TRITONSERVER_Parameter,
) -> Result<(&str, ParameterType, Option<&str>)> {
    let name = p.name_c().to_str().map_err(|_| {
        Error::invalid_arg(format!(
            "{}: parameter name is not valid UTF-8",
            current_fn()
        ))
    })?;
    let value = match p.kind() {
        ParameterType::String => Some(p.as_str().ok_or_else(|| {
            Error::invalid_arg(format!(
                "{}: parameter '{name}' is not valid UTF-8",
                current_fn()
            ))
        })?),
        _ => None,
    };
    Ok((name, p.kind(), value))
}
