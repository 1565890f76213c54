//! triton-core's extensions to the C API (functions upstream's core does not have): looked up
//! once at startup with `dlsym`, so the binary still starts on a core without them, and called
//! from here only. Their names appear nowhere else in the server: renaming an extension is a
//! change to its name below.

use std::ffi::{c_void, CStr};
use std::ptr;

use crate::core::{check, CoreError};
use crate::ffi::{self, TRITONSERVER_Message, TRITONSERVER_Server};

/// The readiness report (`tritonrs.h`): `{"ready": bool, "not_ready": [{"model", "version",
/// "state", "instance", "reason", "since", "last_check_us", "restarts", ...}]}`, the verdict of
/// strict readiness and every reason for it, from one walk over the models.
const READINESS_REPORT: &CStr = c"TRITONRS_ServerReadinessReport";

type ReadinessReportFn = unsafe extern "C" fn(
    server: *mut TRITONSERVER_Server,
    report: *mut *mut TRITONSERVER_Message,
) -> ffi::Err;

type SetU64Fn = unsafe extern "C" fn(*mut ffi::TRITONSERVER_ServerOptions, u64) -> ffi::Err;
type SetRestartFn = unsafe extern "C" fn(
    *mut ffi::TRITONSERVER_ServerOptions,
    bool,
    std::ffi::c_uint,
    std::ffi::c_uint,
    u64,
    u64,
) -> ffi::Err;

const SET_READINESS_TIMEOUT: &CStr = c"TRITONRS_ServerOptionsSetReadinessTimeout";
const SET_READINESS_MONITOR: &CStr = c"TRITONRS_ServerOptionsSetReadinessMonitor";
const SET_INSTANCE_RESTART: &CStr = c"TRITONRS_ServerOptionsSetInstanceRestart";
const SET_DEFAULT_REQUEST_TIMEOUT: &CStr = c"TRITONRS_ServerOptionsSetDefaultRequestTimeout";
const SET_INSTANCE_SPIN: &CStr = c"TRITONRS_ServerOptionsSetInstanceSpin";

/// The extensions the loaded core exports.
#[derive(Clone, Copy, Default)]
pub struct Extensions {
    readiness_report: Option<ReadinessReportFn>,
    set_readiness_timeout: Option<SetU64Fn>,
    set_readiness_monitor: Option<SetU64Fn>,
    set_instance_restart: Option<SetRestartFn>,
    set_default_request_timeout: Option<SetU64Fn>,
    set_instance_spin: Option<SetU64Fn>,
}

/// The extension options a server is created with (from the command line); `None` / off: not
/// asked for, so a core without the extensions is fine.
#[derive(Debug, Clone, Default)]
pub struct ExtensionOptions {
    pub readiness_timeout_ms: Option<u64>,
    pub readiness_monitor_ms: Option<u64>,
    /// (after failures, max attempts, backoff base ms, backoff cap ms) when restarts are on.
    pub instance_restart: Option<(u32, u32, u64, u64)>,
    pub default_request_timeout_us: Option<u64>,
    pub instance_spin_us: Option<u64>,
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
            // `ReadinessReportFn` (include/triton/core/tritonrs.h).
            unsafe { std::mem::transmute::<*mut c_void, ReadinessReportFn>(p) }
        });
        let setter = |name: &CStr| {
            let p = lookup(name);
            // SAFETY: each name is a triton-core option setter taking (options, uint64_t)
            // (include/triton/core/tritonrs.h).
            (!p.is_null()).then(|| unsafe { std::mem::transmute::<*mut c_void, SetU64Fn>(p) })
        };
        let p = lookup(SET_INSTANCE_RESTART);
        let set_instance_restart = (!p.is_null()).then(|| {
            // SAFETY: triton-core's TRITONRS_ServerOptionsSetInstanceRestart, whose signature is
            // `SetRestartFn` (include/triton/core/tritonrs.h).
            unsafe { std::mem::transmute::<*mut c_void, SetRestartFn>(p) }
        });
        Extensions {
            readiness_report,
            set_readiness_timeout: setter(SET_READINESS_TIMEOUT),
            set_readiness_monitor: setter(SET_READINESS_MONITOR),
            set_instance_restart,
            set_default_request_timeout: setter(SET_DEFAULT_REQUEST_TIMEOUT),
            set_instance_spin: setter(SET_INSTANCE_SPIN),
        }
    }

    /// Set the extension options asked for on `opts`; an option asked for on a core without
    /// the extension is an error naming it.
    ///
    /// # Safety
    /// `opts` is a live options handle.
    pub unsafe fn apply_options(
        &self,
        opts: *mut ffi::TRITONSERVER_ServerOptions,
        x: &ExtensionOptions,
    ) -> Result<(), CoreError> {
        let missing = |name: &CStr| {
            CoreError::invalid_arg(format!(
                "this libtritonserver.so lacks triton-core's extension {}",
                name.to_string_lossy()
            ))
        };
        let u64_options = [
            (
                x.readiness_timeout_ms,
                self.set_readiness_timeout,
                SET_READINESS_TIMEOUT,
            ),
            (
                x.readiness_monitor_ms,
                self.set_readiness_monitor,
                SET_READINESS_MONITOR,
            ),
            (
                x.default_request_timeout_us,
                self.set_default_request_timeout,
                SET_DEFAULT_REQUEST_TIMEOUT,
            ),
        ];
        // A performance hint, not a behaviour the user asked for: skipped on a core without it.
        if let (Some(v), Some(f)) = (x.instance_spin_us, self.set_instance_spin) {
            // SAFETY: f is the setter resolved above; the caller passes live options.
            check(unsafe { f(opts, v) })?;
        }
        for (value, f, name) in u64_options {
            if let Some(v) = value {
                let f = f.ok_or_else(|| missing(name))?;
                // SAFETY: f is the setter resolved above; the caller passes live options.
                check(unsafe { f(opts, v) })?;
            }
        }
        if let Some((after, max, base, cap)) = x.instance_restart {
            let f = self
                .set_instance_restart
                .ok_or_else(|| missing(SET_INSTANCE_RESTART))?;
            // SAFETY: f is the setter resolved above; the caller passes live options.
            check(unsafe { f(opts, true, after, max, base, cap) })?;
        }
        Ok(())
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
