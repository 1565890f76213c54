//! Reading `TRITONSERVER_Parameter` objects given as custom metric labels.
//!
//! MERGE NOTE: `TRITONSERVER_Parameter` is implemented on another branch
//! (`src/engine/parameters.rs` + `src/capi/server/parameter.rs`). Until then it is a private
//! placeholder here, an alias of the engine's request parameter ([`Param`]). When merging,
//! delete the alias below and rewrite [`parameter_view`] over the real type; nothing else in
//! the metrics code touches the parameter's representation.

use crate::capi::boundary::current_fn;
use crate::engine::infer::{Param, ParamValue};
use crate::engine::types::ParameterType;
use crate::engine::{Error, Result};

/// A parameter (placeholder until the parameter API lands; see the module docs).
pub type TRITONSERVER_Parameter = Param;

/// Name, type and (for STRING parameters) value of a parameter.
pub(crate) fn parameter_view(
    p: &TRITONSERVER_Parameter,
) -> Result<(&str, ParameterType, Option<&str>)> {
    let value = match &p.value {
        ParamValue::String(s) => Some(s.to_str().map_err(|_| {
            Error::invalid_arg(format!(
                "{}: parameter '{}' is not valid UTF-8",
                current_fn(),
                p.key()
            ))
        })?),
        _ => None,
    };
    Ok((p.key(), p.value.kind(), value))
}
