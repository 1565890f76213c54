//! The panic and error boundary every exported function goes through.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::capi::server::error::TRITONSERVER_Error;
use crate::engine::{Error, Result};

thread_local! {
    static CURRENT_FN: Cell<&'static str> = const { Cell::new("") };
}

/// The exported function running on this thread, for argument error messages.
pub fn current_fn() -> &'static str {
    CURRENT_FN.with(Cell::get)
}

struct Restore(&'static str);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT_FN.with(|c| c.set(self.0));
    }
}

fn enter(name: &'static str) -> Restore {
    Restore(CURRENT_FN.with(|c| c.replace(name)))
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    format!(
        "internal error in triton-core: {}",
        crate::engine::sync::panic_text(p)
    )
}

/// Run the body of exported function `name`: NULL on success, a new error object on failure or
/// panic.
pub fn ffi_try(name: &'static str, f: impl FnOnce() -> Result<()>) -> *mut TRITONSERVER_Error {
    let _restore = enter(name);
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => std::ptr::null_mut(),
        Ok(Err(e)) => TRITONSERVER_Error::into_raw(e),
        Err(p) => TRITONSERVER_Error::into_raw(Error::internal(format!(
            "{name}: {}",
            panic_message(p.as_ref())
        ))),
    }
}

/// Run the body of exported function `name` that returns a plain value; `default` if it panics.
pub fn ffi_or<T>(name: &'static str, default: T, f: impl FnOnce() -> T) -> T {
    ffi_or_else(name, |_| default, f)
}

/// [`ffi_or`] with a fallback built only when the body panicked (from the panic's message).
pub fn ffi_or_else<T>(
    name: &'static str,
    fallback: impl FnOnce(String) -> T,
    f: impl FnOnce() -> T,
) -> T {
    let _restore = enter(name);
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => fallback(format!("{name}: {}", panic_message(p.as_ref()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capi::handle::Contract;
    use crate::engine::Code;

    #[test]
    fn panics_become_internal_errors() {
        let e = ffi_try("TEST_fn", || panic!("boom"));
        // SAFETY: `e` is the error object ffi_try just returned; this test owns it.
        let c = unsafe { Contract::assume() };
        let e = c.take_box(e, "error").unwrap();
        assert_eq!(e.code(), Code::Internal);
        assert!(e.message().contains("boom") && e.message().contains("TEST_fn"));
        assert!(ffi_try("TEST_fn", || Ok(())).is_null());
        assert_eq!(ffi_or("TEST_fn", 7, || panic!("x")), 7);
    }

    #[test]
    fn current_function_is_restored_after_nesting() {
        ffi_or("outer", (), || {
            assert_eq!(current_fn(), "outer");
            ffi_or("inner", (), || assert_eq!(current_fn(), "inner"));
            assert_eq!(current_fn(), "outer");
        });
        assert_eq!(current_fn(), "");
    }
}
