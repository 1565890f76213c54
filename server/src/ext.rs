//! triton-core's extensions to the C API (functions upstream's core does not have): looked up
//! once at startup with `dlsym`, so the binary still starts on a core without them, and called
//! from here only. Their names appear nowhere else in the server: renaming an extension is a
//! change to its name below.

use std::ffi::{c_void, CStr};
use std::ptr;

use crate::ffi::{self, TRITONSERVER_Message, TRITONSERVER_Server};

/// The readiness report: `{"ready": bool, "not_ready": [{"model", "version", "state",
/// "instance", "reason"}]}`, the verdict of strict readiness and every reason for it, from one
/// walk over the models.
const READINESS_REPORT: &CStr = c"TRITONSERVER_ServerReadinessReport";

type ReadinessReportFn = unsafe extern "C" fn(
    server: *mut TRITONSERVER_Server,
    report: *mut *mut TRITONSERVER_Message,
) -> ffi::Err;

/// The extensions the loaded core exports.
#[derive(Clone, Copy, Default)]
pub struct Extensions {
    readiness_report: Option<ReadinessReportFn>,
}

/// The address of `name` in the already loaded objects (the core is one of them), or NULL.
fn lookup(name: &CStr) -> *mut c_void {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads the loaded objects'
    // symbol tables.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }
}

impl Extensions {
    pub fn resolve() -> Self {
        let p = lookup(READINESS_REPORT);
        let readiness_report = (!p.is_null()).then(|| {
            // SAFETY: the symbol is triton-core's function of that name, whose signature is
            // `ReadinessReportFn` (include/triton/core/tritonserver.h).
            unsafe { std::mem::transmute::<*mut c_void, ReadinessReportFn>(p) }
        });
        Extensions { readiness_report }
    }

    /// Calls the readiness report: `None` when the core lacks it, else the core's error (or
    /// NULL) and, on success, the report message, owned by the caller.
    ///
    /// # Safety
    /// `server` is a live server handle.
    pub unsafe fn readiness_report(
        &self,
        server: *mut TRITONSERVER_Server,
    ) -> Option<(ffi::Err, *mut TRITONSERVER_Message)> {
        let f = self.readiness_report?;
        let mut m = ptr::null_mut();
        // SAFETY: f is the extension resolved above; the caller passes a live server; the
        // out-param is a local.
        let err = unsafe { f(server, &mut m) };
        Some((err, m))
    }
}
