//! `tritonrs.h`: triton-core's own extensions to the Triton C API. They are not part of
//! upstream Triton; their `TRITONRS_` prefix cannot collide with upstream's `TRITONSERVER_`,
//! `TRITONBACKEND_`, `TRITONREPOAGENT_` or `TRITONCACHE_` names. A frontend that may run on
//! another core looks them up with `dlsym` and does without them when they are missing.
//!
//! Methods: `ApiVersion`, `ServerOptionsSetReadinessTimeout`, `ServerOptionsSetReadinessReuse`,
//! `ServerOptionsSetReadinessMonitor`, `ServerOptionsSetInstanceRestart`,
//! `ServerOptionsSetDefaultRequestTimeout`, `ServerOptionsSetInstanceSpin`,
//! `ServerReadinessReport`.
//!
//! The same settings reach a server created by an unmodified upstream frontend through
//! environment variables read when the options are created (`TRITON_CORE_READINESS_TIMEOUT_MS`
//! and the others listed in the README); calls here override them.

use std::ffi::c_uint;
use std::time::Duration;

use crate::capi::boundary::ffi_try;
use crate::capi::handle::{into_raw, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::server::message::TRITONSERVER_Message;
use crate::capi::server::options::{with_options, TRITONSERVER_ServerOptions};
use crate::capi::server::server::{server_ref, TRITONSERVER_Server};
use crate::engine::message::Message;

/// `TRITONRS_API_VERSION_MAJOR`: the major version of the extension API.
pub const TRITONRS_API_VERSION_MAJOR: u32 = 1;
/// `TRITONRS_API_VERSION_MINOR`: the minor version of the extension API.
pub const TRITONRS_API_VERSION_MINOR: u32 = 0;

/// The version of the extension API this library implements (either pointer may be NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONRS_ApiVersion(
    major: *mut u32,
    minor: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONRS_ApiVersion's caller passes `major` and `minor` each NULL or writable, as
    // tritonrs.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONRS_ApiVersion", || {
        if let Some(m) = c.opt_out(major) {
            m.write(TRITONRS_API_VERSION_MAJOR);
        }
        if let Some(m) = c.opt_out(minor) {
            m.write(TRITONRS_API_VERSION_MINOR);
        }
        Ok(())
    })
}

/// How long one call of a backend's `TRITONBACKEND_ModelInstanceReady` may take (ms, default
/// 2000, at least 1). A readiness check whose hook does not answer in time reports the instance
/// NOT READY ("readiness check of instance X did not answer within N ms") and never blocks its
/// caller longer than this; at most one hook call per instance is in flight.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONRS_ServerOptionsSetReadinessTimeout(
    options: *mut TRITONSERVER_ServerOptions,
    timeout_ms: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONRS_ServerOptionsSetReadinessTimeout's caller passes a live server options
    // object, as tritonrs.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONRS_ServerOptionsSetReadinessTimeout",
        options,
        |o| {
            o.readiness.hook_timeout = Duration::from_millis(timeout_ms.max(1));
            Ok(())
        },
    )
}

/// How long the answer of a completed readiness check is reused by later checks (µs, default
/// 1000; 0: every check asks the backend). Probes arriving together share one hook call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONRS_ServerOptionsSetReadinessReuse(
    options: *mut TRITONSERVER_ServerOptions,
    reuse_us: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONRS_ServerOptionsSetReadinessReuse's caller passes a live server options object,
    // as tritonrs.h requires.
    let c = unsafe { Contract::assume() };
    with_options(c, "TRITONRS_ServerOptionsSetReadinessReuse", options, |o| {
        o.readiness.reuse = Duration::from_micros(reuse_us);
        Ok(())
    })
}

/// Check every instance in the background every `interval_ms` (0, the default: off), so that
/// readiness state, its metrics and instance restarts do not depend on someone asking.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONRS_ServerOptionsSetReadinessMonitor(
    options: *mut TRITONSERVER_ServerOptions,
    interval_ms: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONRS_ServerOptionsSetReadinessMonitor's caller passes a live server options
    // object, as tritonrs.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONRS_ServerOptionsSetReadinessMonitor",
        options,
        |o| {
            o.readiness.monitor_interval =
                (interval_ms > 0).then(|| Duration::from_millis(interval_ms));
            Ok(())
        },
    )
}

/// Restart instances that fail `after_failures` readiness checks in a row (off by default):
/// finalize and initialize them again, waiting `backoff_base_ms` (doubled per failed attempt,
/// at most `backoff_cap_ms`) between attempts, and give up after `max_attempts` failed ones.
/// A model overrides this with its configuration parameter `triton_core.instance_restart`
/// ("true"/"false") and `triton_core.instance_restart_after_failures`, `..._max_attempts`,
/// `..._backoff_base_ms`, `..._backoff_cap_ms`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONRS_ServerOptionsSetInstanceRestart(
    options: *mut TRITONSERVER_ServerOptions,
    enable: bool,
    after_failures: c_uint,
    max_attempts: c_uint,
    backoff_base_ms: u64,
    backoff_cap_ms: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONRS_ServerOptionsSetInstanceRestart's caller passes a live server options
    // object, as tritonrs.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONRS_ServerOptionsSetInstanceRestart",
        options,
        |o| {
            let r = &mut o.readiness.restart;
            r.enabled = enable;
            r.after_failures = after_failures.max(1);
            r.max_attempts = max_attempts;
            r.backoff_base = Duration::from_millis(backoff_base_ms);
            r.backoff_cap = Duration::from_millis(backoff_cap_ms.max(backoff_base_ms));
            Ok(())
        },
    )
}

/// The deadline of requests that set none (µs; 0, the default: none). At its deadline a
/// request gets a final UNAVAILABLE "Request timeout expired" response even while the backend
/// still holds it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONRS_ServerOptionsSetDefaultRequestTimeout(
    options: *mut TRITONSERVER_ServerOptions,
    timeout_us: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONRS_ServerOptionsSetDefaultRequestTimeout's caller passes a live server options
    // object, as tritonrs.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONRS_ServerOptionsSetDefaultRequestTimeout",
        options,
        |o| {
            o.default_request_timeout_us = timeout_us;
            Ok(())
        },
    )
}

/// How long (µs) an idle model-instance thread keeps looking at its queue before it sleeps,
/// while the machine has a CPU to spare (default 0: it sleeps at once, as upstream). Saves the
/// wake-up of a sleeping thread per request at light load, at the price of CPU time.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONRS_ServerOptionsSetInstanceSpin(
    options: *mut TRITONSERVER_ServerOptions,
    spin_us: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONRS_ServerOptionsSetInstanceSpin's caller passes a live server options object,
    // as tritonrs.h requires.
    let c = unsafe { Contract::assume() };
    with_options(c, "TRITONRS_ServerOptionsSetInstanceSpin", options, |o| {
        o.scheduler.spin = Duration::from_micros(spin_us);
        Ok(())
    })
}

/// Why the server is not ready, as JSON `{"ready": bool, "not_ready": [{"model", "version",
/// "state", "instance", "reason", "since", "last_check_us", "transitions", "check_timeouts",
/// "restarts", "restart_failures"}]}`: every model version and instance that keeps strict
/// readiness false, with the backend's own message for instances failing
/// `TRITONBACKEND_ModelInstanceReady`. One call gives the verdict and its reasons. Bounded by
/// the readiness timeout. The caller owns the message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONRS_ServerReadinessReport(
    server: *mut TRITONSERVER_Server,
    report: *mut *mut TRITONSERVER_Message,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONRS_ServerReadinessReport's caller passes a live server and writable `report`,
    // as tritonrs.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONRS_ServerReadinessReport", || {
        let s = server_ref(c, server)?;
        let out = c.out_ptr(report, "report")?;
        let json = s.readiness_report()?;
        out.write(into_raw(Box::new(Message::from_value(&json))));
        Ok(())
    })
}
