//! Checked conversions between C pointers and Rust references. All the `unsafe` of the API
//! functions is here; each helper states the C contract it relies on.
//!
//! A NULL pointer is never dereferenced: it becomes a `TRITONSERVER_ERROR_INVALID_ARG` error
//! that names the exported function and the parameter.

use std::ffi::{c_char, CStr};

use super::boundary::current_fn;
use crate::engine::{Error, Result};

/// The error for a NULL argument.
pub fn null_arg(what: &str) -> Error {
    Error::invalid_arg(format!("{}: '{what}' must not be NULL", current_fn()))
}

/// A shared reference to the object behind a handle.
pub fn arg_ref<'a, T>(p: *const T, what: &str) -> Result<&'a T> {
    // SAFETY: a non-NULL handle passed to the API points to a live object of its type, created by
    // this library and not yet deleted (the upstream header's contract for every handle).
    unsafe { p.as_ref() }.ok_or_else(|| null_arg(what))
}

/// An exclusive reference to the object behind a handle the caller owns.
pub fn arg_mut<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T> {
    // SAFETY: as for `arg_ref`; for caller-owned objects the header requires that no other call
    // uses the same object concurrently.
    unsafe { p.as_mut() }.ok_or_else(|| null_arg(what))
}

/// An out-parameter: a non-NULL location the caller provides for one value.
pub struct Out<T> {
    ptr: *mut T,
}

impl<T> Out<T> {
    /// Store the result (without reading or dropping what the location held before).
    pub fn write(self, value: T) {
        // SAFETY: `ptr` is non-NULL (checked in `out_ptr`) and the caller guarantees it points to
        // writable storage for a `T`, possibly uninitialized, so it is written without a drop.
        unsafe { self.ptr.write(value) }
    }
}

/// Check an out-parameter; write it with [`Out::write`] once the call has succeeded.
pub fn out_ptr<T>(p: *mut T, what: &str) -> Result<Out<T>> {
    if p.is_null() {
        Err(null_arg(what))
    } else {
        Ok(Out { ptr: p })
    }
}

/// An optional out-parameter: NULL means the caller does not want the value.
pub fn opt_out<T>(p: *mut T) -> Option<Out<T>> {
    (!p.is_null()).then_some(Out { ptr: p })
}

/// A NUL-terminated UTF-8 string argument.
pub fn arg_cstr<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(null_arg(what));
    }
    // SAFETY: a non-NULL string argument points to a NUL-terminated string that stays valid for
    // the duration of the call.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|_| Error::invalid_arg(format!("{}: '{what}' is not valid UTF-8", current_fn())))
}

/// The bytes of a (pointer, length) argument; a zero length may come with any pointer.
pub fn arg_bytes<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null_arg(what));
    }
    // SAFETY: the caller passes `len` readable bytes at `p`, valid for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// An array argument of `len` elements.
pub fn arg_slice<'a, T>(p: *const T, len: usize, what: &str) -> Result<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null_arg(what));
    }
    // SAFETY: the caller passes `len` initialized elements at `p`, valid for the call.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Take back ownership of an object handed out with [`into_raw`].
pub fn take_box<T>(p: *mut T, what: &str) -> Result<Box<T>> {
    if p.is_null() {
        return Err(null_arg(what));
    }
    // SAFETY: the caller gives back ownership of an object this library created with
    // `Box::into_raw` (the header's delete contract); it is not used again afterwards.
    Ok(unsafe { Box::from_raw(p) })
}

/// Hand ownership of an object to the caller.
pub fn into_raw<T>(b: Box<T>) -> *mut T {
    Box::into_raw(b)
}

/// Take back ownership of an `Arc` handed out with `Arc::into_raw`.
pub fn take_arc<T>(p: *const T, what: &str) -> Result<std::sync::Arc<T>> {
    if p.is_null() {
        return Err(null_arg(what));
    }
    // SAFETY: `p` came from `Arc::into_raw` in this library and the caller gives up its
    // reference, which is dropped exactly once here.
    Ok(unsafe { std::sync::Arc::from_raw(p) })
}

/// A new `Arc` for an object handed out with `Arc::into_raw`, leaving the caller's reference
/// in place.
pub fn clone_arc<T>(p: *const T, what: &str) -> Result<std::sync::Arc<T>> {
    if p.is_null() {
        return Err(null_arg(what));
    }
    // SAFETY: `p` came from `Arc::into_raw` in this library and the caller still holds its
    // reference, so the count is at least one while it is incremented for the new `Arc`.
    unsafe {
        std::sync::Arc::increment_strong_count(p);
        Ok(std::sync::Arc::from_raw(p))
    }
}

/// A `const char*` for a string that lives as long as the object it belongs to.
pub fn c_ptr(s: &CStr) -> *const c_char {
    s.as_ptr()
}

/// Turn an error object returned by foreign code (a backend, agent, cache or frontend
/// callback) into an engine error, deleting the object.
///
/// # Safety
///
/// `err` is NULL or an error object created by this library (`TRITONSERVER_ErrorNew` or an
/// API function's result) that the caller owns and gives up: it is not used again.
pub unsafe fn backend_error(
    err: *mut crate::capi::server::error::TRITONSERVER_Error,
) -> Result<()> {
    if err.is_null() {
        return Ok(());
    }
    Err(take_box(err, "error")?.to_error())
}

/// A copy of the 64-byte CUDA IPC handle at `p` (NULL: none).
pub fn read_ipc_handle(p: *mut std::ffi::c_void) -> Option<[u8; 64]> {
    if p.is_null() {
        return None;
    }
    let mut h = [0u8; 64];
    // SAFETY: a non-NULL CUDA IPC handle points to a cudaIpcMemHandle_t, 64 readable bytes.
    unsafe { std::ptr::copy_nonoverlapping(p.cast::<u8>(), h.as_mut_ptr(), 64) };
    Some(h)
}

/// Reads the frontend's input buffers in host memory (for BYTES validation).
pub struct CHostMemory;

impl crate::engine::infer::HostMemory for CHostMemory {
    fn bytes<'a>(&self, b: &'a crate::engine::infer::DataBuffer) -> Option<&'a [u8]> {
        if let Some(owned) = &b.owned {
            return Some(owned);
        }
        if b.attributes.memory_type == crate::engine::types::MemoryType::Gpu || b.addr.is_null() {
            return (b.byte_size() == 0).then_some(&[][..]);
        }
        // SAFETY: the frontend appended `byte_size` readable bytes of host memory at `addr` and
        // keeps them valid until the request is released (TRITONSERVER_InferenceRequest
        // AppendInputData contract); the check runs inside ServerInferAsync, before that.
        Some(unsafe { std::slice::from_raw_parts(b.addr.ptr::<u8>(), b.byte_size()) })
    }
}

/// Allocate `size` bytes of host memory with `malloc` (at least one byte, so the pointer is
/// unique); `None` when the allocation fails.
pub fn host_alloc(size: usize) -> Option<*mut std::ffi::c_void> {
    // SAFETY: malloc may be called with any size; a NULL result is handled.
    let p = unsafe { libc::malloc(size.max(1)) };
    (!p.is_null()).then_some(p)
}

/// Free memory from [`host_alloc`]; NULL is ignored.
pub fn host_free(p: *mut std::ffi::c_void) {
    // SAFETY: `p` is NULL or was returned by `host_alloc` (malloc) and is freed once, as the
    // memory manager contract requires.
    unsafe { libc::free(p) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_arguments_are_invalid_arg() {
        let e = arg_ref::<u32>(std::ptr::null(), "x").unwrap_err();
        assert_eq!(e.code(), crate::engine::Code::InvalidArg);
        assert!(e.message().contains("'x'"));
        assert!(arg_cstr(std::ptr::null(), "s").is_err());
        assert!(out_ptr::<u32>(std::ptr::null_mut(), "o").is_err());
        assert!(take_box::<u32>(std::ptr::null_mut(), "b").is_err());
        assert!(arg_bytes(std::ptr::null(), 0, "b").unwrap().is_empty());
        assert!(arg_bytes(std::ptr::null(), 1, "b").is_err());
    }

    #[test]
    fn strings_must_be_utf8() {
        let bad = [0xffu8, 0];
        assert!(arg_cstr(bad.as_ptr().cast(), "s").is_err());
        let good = c"ok";
        assert_eq!(arg_cstr(good.as_ptr(), "s").unwrap(), "ok");
    }

    #[test]
    fn out_params_write() {
        let mut v = 0u64;
        out_ptr(&mut v as *mut u64, "v").unwrap().write(9);
        assert_eq!(v, 9);
    }
}
