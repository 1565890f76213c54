//! Checked conversions between C pointers and Rust references.
//!
//! The pointer helpers are methods of [`Contract`], a token that only an `unsafe` block can
//! create: every exported function starts with one, whose `SAFETY` comment states what the
//! header promises about that function's arguments. Safe code without a token cannot turn a
//! pointer into a reference. Code that gets pointers from elsewhere (a backend's return value)
//! makes its own token, or calls an `unsafe fn`, and says why those pointers are valid.
//!
//! A NULL pointer is never dereferenced: it becomes a `TRITONSERVER_ERROR_INVALID_ARG` error
//! that names the exported function and the parameter.

use std::ffi::{c_char, CStr};
use std::marker::PhantomData;

use super::boundary::current_fn;
use crate::engine::{Error, Result};

/// The error for a NULL argument.
pub fn null_arg(what: &str) -> Error {
    Error::invalid_arg(format!("{}: '{what}' must not be NULL", current_fn()))
}

/// Proof that the pointers given to its methods satisfy the C contract of the call in
/// progress: made only by [`Contract::assume`]. It is neither `Send` nor `Sync`: it stays on
/// the thread of the call that made it.
#[derive(Debug, Clone, Copy)]
pub struct Contract(PhantomData<*const ()>);

impl Contract {
    /// The token of an exported function's body.
    ///
    /// # Safety
    ///
    /// The caller of the exported function upholds the header's contract for its arguments:
    /// handles are NULL or objects of their type created by this library and not deleted (and
    /// not used by another call at the same time where the header says so), strings are NUL
    /// terminated, buffers and arrays hold the stated number of bytes or elements, and
    /// out-parameters are NULL or writable; all of them for the duration of the call. Code
    /// outside an exported function may make a token only for pointers that meet the same
    /// conditions, and says why in its `SAFETY` comment.
    pub unsafe fn assume() -> Contract {
        Contract(PhantomData)
    }

    /// A shared reference to the object behind a handle.
    pub fn arg_ref<'a, T>(self, p: *const T, what: &str) -> Result<&'a T> {
        // SAFETY: a non-NULL handle passed to the API points to a live object of its type,
        // created by this library and not yet deleted (the token's contract).
        unsafe { p.as_ref() }.ok_or_else(|| null_arg(what))
    }

    /// An exclusive reference to the object behind a handle the caller owns.
    pub fn arg_mut<'a, T>(self, p: *mut T, what: &str) -> Result<&'a mut T> {
        // SAFETY: as for `arg_ref`; for caller-owned objects the header requires that no other
        // call uses the same object concurrently.
        unsafe { p.as_mut() }.ok_or_else(|| null_arg(what))
    }

    /// Check an out-parameter; write it with [`Out::write`] once the call has succeeded.
    pub fn out_ptr<T>(self, p: *mut T, what: &str) -> Result<Out<T>> {
        if p.is_null() {
            Err(null_arg(what))
        } else {
            Ok(Out { ptr: p })
        }
    }

    /// An optional out-parameter: NULL means the caller does not want the value.
    pub fn opt_out<T>(self, p: *mut T) -> Option<Out<T>> {
        (!p.is_null()).then_some(Out { ptr: p })
    }

    /// A NUL-terminated UTF-8 string argument.
    pub fn arg_cstr<'a>(self, p: *const c_char, what: &str) -> Result<&'a str> {
        if p.is_null() {
            return Err(null_arg(what));
        }
        // SAFETY: a non-NULL string argument points to a NUL-terminated string that stays valid
        // for the duration of the call (the token's contract).
        let c = unsafe { CStr::from_ptr(p) };
        c.to_str().map_err(|_| {
            Error::invalid_arg(format!("{}: '{what}' is not valid UTF-8", current_fn()))
        })
    }

    /// A NUL-terminated string argument as text, with bytes that are not UTF-8 replaced (for
    /// messages, whose readable part is worth keeping).
    pub fn arg_cstr_lossy(self, p: *const c_char, what: &str) -> Result<String> {
        if p.is_null() {
            return Err(null_arg(what));
        }
        // SAFETY: as for `arg_cstr`.
        let c = unsafe { CStr::from_ptr(p) };
        Ok(c.to_string_lossy().into_owned())
    }

    /// The bytes of a (pointer, length) argument; a zero length may come with any pointer.
    pub fn arg_bytes<'a>(self, p: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
        if len == 0 {
            return Ok(&[]);
        }
        if p.is_null() {
            return Err(null_arg(what));
        }
        // SAFETY: the caller passes `len` readable bytes at `p`, valid for the duration of the
        // call (the token's contract).
        Ok(unsafe { std::slice::from_raw_parts(p, len) })
    }

    /// An array argument of `len` elements.
    pub fn arg_slice<'a, T>(self, p: *const T, len: usize, what: &str) -> Result<&'a [T]> {
        if len == 0 {
            return Ok(&[]);
        }
        if p.is_null() {
            return Err(null_arg(what));
        }
        // SAFETY: the caller passes `len` initialized elements at `p`, valid for the call (the
        // token's contract).
        Ok(unsafe { std::slice::from_raw_parts(p, len) })
    }

    /// Take back ownership of an object handed out with [`into_raw`].
    pub fn take_box<T>(self, p: *mut T, what: &str) -> Result<Box<T>> {
        if p.is_null() {
            return Err(null_arg(what));
        }
        // SAFETY: the caller gives back ownership of an object this library created with
        // `Box::into_raw` (the header's delete contract); it is not used again afterwards.
        Ok(unsafe { Box::from_raw(p) })
    }

    /// Take back ownership of an `Arc` handed out with `Arc::into_raw`.
    pub fn take_arc<T>(self, p: *const T, what: &str) -> Result<std::sync::Arc<T>> {
        if p.is_null() {
            return Err(null_arg(what));
        }
        // SAFETY: `p` came from `Arc::into_raw` in this library and the caller gives up its
        // reference, which is dropped exactly once here.
        Ok(unsafe { std::sync::Arc::from_raw(p) })
    }

    /// A new `Arc` for an object handed out with `Arc::into_raw`, leaving the caller's
    /// reference in place.
    pub fn clone_arc<T>(self, p: *const T, what: &str) -> Result<std::sync::Arc<T>> {
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

    /// A copy of the 64-byte CUDA IPC handle at `p` (NULL: none).
    pub fn read_ipc_handle(self, p: *mut std::ffi::c_void) -> Option<[u8; 64]> {
        if p.is_null() {
            return None;
        }
        let mut h = [0u8; 64];
        // SAFETY: a non-NULL CUDA IPC handle points to a cudaIpcMemHandle_t, 64 readable bytes
        // (the token's contract).
        unsafe { std::ptr::copy_nonoverlapping(p.cast::<u8>(), h.as_mut_ptr(), 64) };
        Some(h)
    }

    /// Free memory from [`host_alloc`]; NULL is ignored.
    pub fn host_free(self, p: *mut std::ffi::c_void) {
        // SAFETY: `p` is NULL or was returned by `host_alloc` (malloc) and is freed once, as the
        // memory manager contract requires (the token's contract).
        unsafe { libc::free(p) }
    }
}

/// An out-parameter: a non-NULL location the caller provides for one value (made by
/// [`Contract::out_ptr`] or [`Contract::opt_out`]).
pub struct Out<T> {
    ptr: *mut T,
}

impl<T> Out<T> {
    /// Store the result (without reading or dropping what the location held before).
    pub fn write(self, value: T) {
        // SAFETY: `ptr` is non-NULL (checked when the `Out` was made under a `Contract`) and the
        // caller guarantees it points to writable storage for a `T`, possibly uninitialized, so
        // it is written without a drop.
        unsafe { self.ptr.write(value) }
    }
}

/// Hand ownership of an object to the caller.
pub fn into_raw<T>(b: Box<T>) -> *mut T {
    Box::into_raw(b)
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
    // SAFETY: this function's contract: `err` is an error object the caller owns and gives up.
    let c = unsafe { Contract::assume() };
    Err(c.take_box(err, "error")?.to_error())
}

/// Reads the frontend's input buffers in host memory (for BYTES validation), during the
/// `TRITONSERVER_ServerInferAsync` call that made it.
pub struct CHostMemory(Contract);

impl CHostMemory {
    /// For the request given to the `TRITONSERVER_ServerInferAsync` call of this token.
    pub fn new(c: Contract) -> CHostMemory {
        CHostMemory(c)
    }
}

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
        // AppendInputData contract); the check runs inside the ServerInferAsync call whose
        // token `self.0` is, before that.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A token for pointers to this test's locals (or NULL).
    fn token() -> Contract {
        // SAFETY: the tests below pass only NULL or pointers to live locals of the right type
        // and size.
        unsafe { Contract::assume() }
    }

    #[test]
    fn null_arguments_are_invalid_arg() {
        let c = token();
        let e = c.arg_ref::<u32>(std::ptr::null(), "x").unwrap_err();
        assert_eq!(e.code(), crate::engine::Code::InvalidArg);
        assert!(e.message().contains("'x'"));
        assert!(c.arg_cstr(std::ptr::null(), "s").is_err());
        assert!(c.out_ptr::<u32>(std::ptr::null_mut(), "o").is_err());
        assert!(c.take_box::<u32>(std::ptr::null_mut(), "b").is_err());
        assert!(c.arg_bytes(std::ptr::null(), 0, "b").unwrap().is_empty());
        assert!(c.arg_bytes(std::ptr::null(), 1, "b").is_err());
    }

    #[test]
    fn strings_must_be_utf8() {
        let c = token();
        let bad = [0xffu8, 0];
        assert!(c.arg_cstr(bad.as_ptr().cast(), "s").is_err());
        let good = c"ok";
        assert_eq!(c.arg_cstr(good.as_ptr(), "s").unwrap(), "ok");
    }

    #[test]
    fn out_params_write() {
        let mut v = 0u64;
        token().out_ptr(&mut v as *mut u64, "v").unwrap().write(9);
        assert_eq!(v, 9);
    }
}
