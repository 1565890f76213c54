//! `TRITONSERVER_Metrics`: the server's metrics as Prometheus text.
//!
//! Methods: `ServerMetrics` (of the server section, kept here with its object),
//! `MetricsFormatted`, `MetricsDelete`.
//!
//! 1. `ServerMetrics` gives the caller a metrics object.
//! 2. Each `MetricsFormatted` call writes the current values: the core's per-model metrics
//!    (when metrics are enabled), CPU metrics (when enabled) and every custom family.
//! 3. `MetricsDelete` frees it.

use std::ffi::{c_char, CString};
use std::sync::Weak;

use crate::capi::boundary::ffi_try;
use crate::capi::handle::{into_raw, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::server::server::{server_ref, TRITONSERVER_Server};
use crate::capi::types::{TRITONSERVER_MetricFormat, METRIC_PROMETHEUS};
use crate::engine::metrics::exposition;
use crate::engine::server::Server;
use crate::engine::Error;

/// A metrics object: the text of the latest `MetricsFormatted` call.
pub struct TRITONSERVER_Metrics {
    server: Weak<Server>,
    text: CString,
}

/// A metrics object of a server; the caller owns it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerMetrics(
    server: *mut TRITONSERVER_Server,
    metrics: *mut *mut TRITONSERVER_Metrics,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerMetrics's caller passes a live server and writable `metrics`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerMetrics", || {
        let s = server_ref(c, server)?;
        let out = c.out_ptr(metrics, "metrics")?;
        out.write(into_raw(Box::new(TRITONSERVER_Metrics {
            server: s.weak(),
            text: CString::default(),
        })));
        Ok(())
    })
}

/// Delete a metrics object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MetricsDelete(
    metrics: *mut TRITONSERVER_Metrics,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MetricsDelete's caller passes a metrics object it owns and gives up, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MetricsDelete", || {
        drop(c.take_box(metrics, "metrics")?);
        Ok(())
    })
}

/// The current metrics in `format` (only `TRITONSERVER_METRIC_PROMETHEUS`). `base` stays
/// valid until the next call on the object or its deletion.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MetricsFormatted(
    metrics: *mut TRITONSERVER_Metrics,
    format: TRITONSERVER_MetricFormat,
    base: *mut *const c_char,
    byte_size: *mut usize,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MetricsFormatted's caller passes a live metrics object and writable
    // `base` and `byte_size`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MetricsFormatted", || {
        let m = c.arg_mut(metrics, "metrics")?;
        let base = c.out_ptr(base, "base")?;
        let byte_size = c.out_ptr(byte_size, "byte_size")?;
        if format != METRIC_PROMETHEUS {
            return Err(Error::invalid_arg(format!(
                "unknown metrics format '{}'",
                format.0
            )));
        }
        let text = match m.server.upgrade() {
            Some(server) => server.metrics_text(),
            // A deleted server has no samples of its own; custom families remain.
            None => exposition(Default::default()),
        };
        m.text = CString::new(text).map_err(|_| Error::internal("metrics text contains NUL"))?;
        base.write(m.text.as_ptr());
        byte_size.write(m.text.as_bytes().len());
        Ok(())
    })
}
