//! `TRITONSERVER_Message`: serialized JSON documents.
//!
//! Methods: `MessageNewFromSerializedJson`, `MessageDelete`, `MessageSerializeToJson`.
//! Messages returned by `TRITONSERVER_Server*` functions and `TRITONBACKEND_ModelConfig` are
//! owned by the caller; `TRITONBACKEND_BackendConfig` and `TRITONBACKEND_ModelInstanceHostPolicy`
//! lend one owned by the core.

use std::ffi::c_char;

use crate::capi::boundary::ffi_try;
use crate::capi::handle::{into_raw, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::engine::message::Message;
use crate::engine::Error;

/// A JSON message.
pub type TRITONSERVER_Message = Message;

/// Create a message from `byte_size` bytes of JSON at `base` (copied). Invalid JSON is an error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MessageNewFromSerializedJson(
    message: *mut *mut TRITONSERVER_Message,
    base: *const c_char,
    byte_size: usize,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MessageNewFromSerializedJson's caller passes `byte_size` readable bytes
    // at `base` and writable `message`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MessageNewFromSerializedJson", || {
        let out = c.out_ptr(message, "message")?;
        let bytes = c.arg_bytes(base.cast(), byte_size, "base")?;
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::invalid_arg("the JSON message is not valid UTF-8"))?;
        out.write(into_raw(Box::new(Message::from_json_text(text)?)));
        Ok(())
    })
}

/// Delete a message the caller owns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MessageDelete(
    message: *mut TRITONSERVER_Message,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MessageDelete's caller passes a message it owns and gives up, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MessageDelete", || {
        drop(c.take_box(message, "message")?);
        Ok(())
    })
}

/// The serialized JSON of a message: `*base` points at `*byte_size` bytes (followed by a NUL)
/// that live as long as the message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MessageSerializeToJson(
    message: *mut TRITONSERVER_Message,
    base: *mut *const c_char,
    byte_size: *mut usize,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MessageSerializeToJson's caller passes a live message and writable
    // `base` and `byte_size`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MessageSerializeToJson", || {
        let m = c.arg_ref(message, "message")?;
        let base = c.out_ptr(base, "base")?;
        let size = c.out_ptr(byte_size, "byte_size")?;
        base.write(m.as_c_str().as_ptr());
        size.write(m.as_c_str().to_bytes().len());
        Ok(())
    })
}
