//! `TRITONSERVER_Error`: error objects.
//!
//! Methods: `ErrorNew`, `ErrorDelete`, `ErrorCode`, `ErrorCodeString`, `ErrorMessage`.
//! The caller owns an error returned by any API function and deletes it with
//! `TRITONSERVER_ErrorDelete`; the message string lives until then.

use std::ffi::{c_char, CStr, CString};

use crate::capi::boundary::{ffi_or, ffi_or_else};
use crate::capi::handle::{into_raw, Contract};
use crate::capi::types::TRITONSERVER_Error_Code;
use crate::engine::{Code, Error};

/// An error object: a code and a NUL-terminated message.
pub struct TRITONSERVER_Error {
    code: Code,
    message: CString,
}

impl TRITONSERVER_Error {
    /// Hand an engine error to C as a new error object.
    pub fn into_raw(e: Error) -> *mut TRITONSERVER_Error {
        into_raw(Box::new(TRITONSERVER_Error::from(e)))
    }
    pub fn code(&self) -> Code {
        self.code
    }
    pub fn message(&self) -> &str {
        self.message.to_str().unwrap_or_default()
    }
    /// The engine error this object carries.
    pub fn to_error(&self) -> Error {
        Error::new(self.code, self.message.to_string_lossy().into_owned())
    }
}

impl From<Error> for TRITONSERVER_Error {
    fn from(e: Error) -> Self {
        TRITONSERVER_Error {
            code: e.code(),
            message: crate::engine::sync::c_string(e.message()),
        }
    }
}

const NULL_ERROR: &CStr = c"<NULL error object>";

/// Create an error object with a code and a message (copied). An out-of-range code becomes
/// `TRITONSERVER_ERROR_UNKNOWN`; a NULL message an empty one.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ErrorNew(
    code: TRITONSERVER_Error_Code,
    msg: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ErrorNew's caller passes `msg` NULL or NUL-terminated, as tritonserver.h
    // requires.
    let c = unsafe { Contract::assume() };
    // A panic must not come back as NULL, which the caller would read as success.
    let internal = |msg: String| TRITONSERVER_Error::into_raw(Error::internal(msg));
    ffi_or_else("TRITONSERVER_ErrorNew", internal, || {
        // Bytes that are not UTF-8 are replaced; the readable part of the message stays.
        let message = if msg.is_null() {
            String::new()
        } else {
            c.arg_cstr_lossy(msg, "msg").unwrap_or_default()
        };
        let code = Code::from_u32(code.0).unwrap_or(Code::Unknown);
        TRITONSERVER_Error::into_raw(Error::new(code, message))
    })
}

/// Delete an error object. NULL is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ErrorDelete(error: *mut TRITONSERVER_Error) {
    // SAFETY: TRITONSERVER_ErrorDelete's caller passes an error object it owns and gives up, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    // Backends call this with NULL (success) all the time: nothing to do, and no error object
    // to build for it.
    if error.is_null() {
        return;
    }
    ffi_or("TRITONSERVER_ErrorDelete", (), || {
        drop(c.take_box(error, "error"));
    })
}

/// The code of an error (`TRITONSERVER_ERROR_UNKNOWN` for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ErrorCode(
    error: *mut TRITONSERVER_Error,
) -> TRITONSERVER_Error_Code {
    // SAFETY: TRITONSERVER_ErrorCode's caller passes a live error object, as tritonserver.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_or(
        "TRITONSERVER_ErrorCode",
        TRITONSERVER_Error_Code(Code::Unknown as u32),
        || {
            c.arg_ref(error, "error")
                .map(|e| TRITONSERVER_Error_Code(e.code as u32))
                .unwrap_or(TRITONSERVER_Error_Code(Code::Unknown as u32))
        },
    )
}

/// The name of an error's code ("Invalid argument", ...). Static storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ErrorCodeString(
    error: *mut TRITONSERVER_Error,
) -> *const c_char {
    // SAFETY: TRITONSERVER_ErrorCodeString's caller passes a live error object, as tritonserver.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_or(
        "TRITONSERVER_ErrorCodeString",
        NULL_ERROR.as_ptr(),
        || match c.arg_ref(error, "error") {
            Ok(e) => code_c_str(e.code).as_ptr(),
            Err(_) => NULL_ERROR.as_ptr(),
        },
    )
}

/// The message of an error, valid until the error is deleted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ErrorMessage(
    error: *mut TRITONSERVER_Error,
) -> *const c_char {
    // SAFETY: TRITONSERVER_ErrorMessage's caller passes a live error object, as tritonserver.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_or(
        "TRITONSERVER_ErrorMessage",
        NULL_ERROR.as_ptr(),
        || match c.arg_ref(error, "error") {
            Ok(e) => e.message.as_ptr(),
            Err(_) => NULL_ERROR.as_ptr(),
        },
    )
}

fn code_c_str(code: Code) -> &'static CStr {
    match code {
        Code::Unknown => c"Unknown",
        Code::Internal => c"Internal",
        Code::NotFound => c"Not found",
        Code::InvalidArg => c"Invalid argument",
        Code::Unavailable => c"Unavailable",
        Code::Unsupported => c"Unsupported",
        Code::AlreadyExists => c"Already exists",
        Code::Cancelled => c"Cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_strings_match_engine() {
        for c in Code::ALL {
            assert_eq!(code_c_str(c).to_str().unwrap(), c.as_str());
        }
    }
}
