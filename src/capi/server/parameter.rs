//! `TRITONSERVER_Parameter`: named values for load parameters and repository name mappings.
//!
//! Methods: `ParameterNew`, `ParameterBytesNew`, `ParameterDelete`.
//! The caller owns a parameter and deletes it; functions taking parameters only borrow them.

use std::ffi::{c_char, c_void};

use crate::capi::boundary::ffi_or;
use crate::capi::handle::{into_raw, Contract};
use crate::capi::types::TRITONSERVER_ParameterType;
use crate::engine::parameters::{Parameter, ParameterValue};
use crate::engine::types::ParameterType;
use crate::engine::Result;

/// A named parameter value.
pub type TRITONSERVER_Parameter = Parameter;

fn new_parameter(
    c: Contract,
    name: *const c_char,
    kind: TRITONSERVER_ParameterType,
    value: *const c_void,
) -> Result<Option<Parameter>> {
    let name = c.arg_cstr(name, "name")?;
    let value = match kind.get() {
        Ok(ParameterType::String) => {
            return Parameter::string(name, c.arg_cstr(value.cast(), "value")?).map(Some)
        }
        Ok(ParameterType::Int) => ParameterValue::Int(*c.arg_ref(value.cast::<i64>(), "value")?),
        Ok(ParameterType::Double) => {
            ParameterValue::Double(*c.arg_ref(value.cast::<f64>(), "value")?)
        }
        Ok(ParameterType::Bool) => {
            ParameterValue::Bool(*c.arg_ref(value.cast::<u8>(), "value")? != 0)
        }
        // BYTES needs a size: only ParameterBytesNew makes them.
        Ok(ParameterType::Bytes) | Err(_) => return Ok(None),
    };
    Parameter::new(name, value).map(Some)
}

/// Create a parameter: STRING copies the C string at `value`, INT reads an `int64_t`, BOOL a
/// `bool`, DOUBLE a `double`. Returns NULL for BYTES (use `ParameterBytesNew`), an unknown type,
/// or a NULL / invalid argument. The caller owns the parameter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ParameterNew(
    name: *const c_char,
    type_: TRITONSERVER_ParameterType,
    value: *const c_void,
) -> *mut TRITONSERVER_Parameter {
    // SAFETY: TRITONSERVER_ParameterNew's caller passes a NUL-terminated `name` and a `value` that
    // points to a value of `type_` (a NUL-terminated string for STRING), as tritonserver.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_or(
        "TRITONSERVER_ParameterNew",
        std::ptr::null_mut(),
        || match new_parameter(c, name, type_, value) {
            Ok(Some(p)) => into_raw(Box::new(p)),
            _ => std::ptr::null_mut(),
        },
    )
}

/// Create a BYTES parameter holding a copy of the `size` bytes at `byte_ptr`. Returns NULL for a
/// NULL name (or a NULL `byte_ptr` with a non-zero size). The caller owns the parameter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ParameterBytesNew(
    name: *const c_char,
    byte_ptr: *const c_void,
    size: u64,
) -> *mut TRITONSERVER_Parameter {
    // SAFETY: TRITONSERVER_ParameterBytesNew's caller passes a NUL-terminated `name` and `size`
    // readable bytes at `byte_ptr`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_or(
        "TRITONSERVER_ParameterBytesNew",
        std::ptr::null_mut(),
        || {
            let make = || -> Result<Parameter> {
                let name = c.arg_cstr(name, "name")?;
                let len = usize::try_from(size)
                    .map_err(|_| crate::engine::Error::invalid_arg("byte size too large"))?;
                let bytes = c.arg_bytes(byte_ptr.cast(), len, "byte_ptr")?;
                Parameter::bytes(name, bytes)
            };
            make().map_or(std::ptr::null_mut(), |p| into_raw(Box::new(p)))
        },
    )
}

/// Delete a parameter. NULL is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ParameterDelete(parameter: *mut TRITONSERVER_Parameter) {
    // SAFETY: TRITONSERVER_ParameterDelete's caller passes a parameter it owns and gives up, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_or("TRITONSERVER_ParameterDelete", (), || {
        if !parameter.is_null() {
            drop(c.take_box(parameter, "parameter"));
        }
    })
}
