//! Custom metrics: `TRITONSERVER_MetricFamily`, `TRITONSERVER_MetricArgs`, `TRITONSERVER_Metric`.
//!
//! Methods: `MetricFamilyNew`, `MetricFamilyDelete`, `GetMetricFamilyKind`, `MetricArgsNew`,
//! `MetricArgsSetHistogram`, `MetricArgsDelete`, `MetricNew`, `MetricNewWithArgs`,
//! `MetricDelete`, `MetricValue`, `MetricIncrement`, `MetricSet`, `MetricObserve`,
//! `GetMetricKind`.
//!
//! 1. `MetricFamilyNew` registers (or joins) a family by name in the process-wide registry.
//! 2. `MetricNew` / `MetricNewWithArgs` add a series with labels (STRING parameters).
//! 3. Update it with `MetricIncrement` / `MetricSet` / `MetricObserve`; it appears in every
//!    server's `MetricsFormatted` text.
//! 4. `MetricDelete` each metric, then `MetricFamilyDelete`.
//!
//! Family handles are shared (`Arc`): a metric keeps its family alive.

use std::ffi::c_char;
use std::sync::Arc;

use crate::capi::boundary::ffi_try;
use crate::capi::handle::{into_raw, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::server::metric_labels::{parameter_view, TRITONSERVER_Parameter};
use crate::capi::types::TRITONSERVER_MetricKind;
use crate::engine::metrics::{Labels, Metric, MetricArgs, MetricFamily, MetricKind};
use crate::engine::types::ParameterType;
use crate::engine::Error;

/// A metric family.
pub type TRITONSERVER_MetricFamily = MetricFamily;
/// Arguments of a new metric.
pub type TRITONSERVER_MetricArgs = MetricArgs;
/// A metric.
pub type TRITONSERVER_Metric = Metric;

/// Register a family (`kind`, `name`, help text `description`). A name already registered
/// with the same kind is shared; with another kind it is an error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MetricFamilyNew(
    family: *mut *mut TRITONSERVER_MetricFamily,
    kind: TRITONSERVER_MetricKind,
    name: *const c_char,
    description: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MetricFamilyNew's caller passes a NUL-terminated `name`, a
    // NUL-terminated `description` and writable `family`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MetricFamilyNew", || {
        let out = c.out_ptr(family, "family")?;
        let name = c.arg_cstr(name, "name")?;
        let description = c.arg_cstr(description, "description")?;
        let kind = MetricKind::from_u32(kind.0).ok_or_else(|| {
            Error::invalid_arg("Unsupported kind passed to MetricFamily constructor.")
        })?;
        let f = MetricFamily::new(kind, name, description)?;
        out.write(Arc::into_raw(f).cast_mut());
        Ok(())
    })
}

/// Delete a family handle; its metrics must have been deleted first.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MetricFamilyDelete(
    family: *mut TRITONSERVER_MetricFamily,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MetricFamilyDelete's caller passes a live metric family and gives up its
    // reference to it, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MetricFamilyDelete", || {
        c.arg_ref(family, "family")?.check_deletable()?;
        drop(c.take_arc(family.cast_const(), "family")?);
        Ok(())
    })
}

/// The kind of a family.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_GetMetricFamilyKind(
    family: *mut TRITONSERVER_MetricFamily,
    kind: *mut TRITONSERVER_MetricKind,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_GetMetricFamilyKind's caller passes a live metric family and writable
    // `kind`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_GetMetricFamilyKind", || {
        let f = c.arg_ref(family, "family")?;
        c.out_ptr(kind, "kind")?.write(f.kind().into());
        Ok(())
    })
}

/// Create empty metric arguments; the caller owns them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MetricArgsNew(
    args: *mut *mut TRITONSERVER_MetricArgs,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MetricArgsNew's caller passes writable `args`, as tritonserver.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MetricArgsNew", || {
        c.out_ptr(args, "args")?.write(into_raw(Box::default()));
        Ok(())
    })
}

/// Make the arguments describe a histogram with these bucket upper bounds (ascending).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MetricArgsSetHistogram(
    args: *mut TRITONSERVER_MetricArgs,
    buckets: *const f64,
    buckets_count: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MetricArgsSetHistogram's caller passes a live metric arguments object
    // and `buckets_count` elements at `buckets`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MetricArgsSetHistogram", || {
        let a = c.arg_mut(args, "args")?;
        let count = usize::try_from(buckets_count)
            .map_err(|_| Error::invalid_arg("buckets_count is too large"))?;
        a.histogram_buckets = Some(c.arg_slice(buckets, count, "buckets")?.to_vec());
        Ok(())
    })
}

/// Delete metric arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MetricArgsDelete(
    args: *mut TRITONSERVER_MetricArgs,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MetricArgsDelete's caller passes a metric arguments object it owns and
    // gives up, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MetricArgsDelete", || {
        drop(c.take_box(args, "args")?);
        Ok(())
    })
}

/// The label set of `label_count` STRING parameters.
fn labels(
    c: Contract,
    labels: *mut *const TRITONSERVER_Parameter,
    label_count: u64,
) -> crate::engine::Result<Labels> {
    let count =
        usize::try_from(label_count).map_err(|_| Error::invalid_arg("label_count is too large"))?;
    let mut out = Labels::new();
    for p in c.arg_slice(labels.cast_const(), count, "labels")? {
        let (name, kind, value) = parameter_view(c.arg_ref(*p, "labels[i]")?)?;
        match (kind, value) {
            (ParameterType::String, Some(v)) => {
                out.insert(name.to_owned(), v.to_owned());
            }
            _ => {
                return Err(Error::invalid_arg(format!(
                    "Parameter [{name}] must have a type of TRITONSERVER_PARAMETER_STRING to be added as a label."
                )))
            }
        }
    }
    Ok(out)
}

fn new_metric(
    c: Contract,
    metric: *mut *mut TRITONSERVER_Metric,
    family: *mut TRITONSERVER_MetricFamily,
    label_params: *mut *const TRITONSERVER_Parameter,
    label_count: u64,
    args: Option<&MetricArgs>,
) -> crate::engine::Result<()> {
    let out = c.out_ptr(metric, "metric")?;
    let family = c.clone_arc(family.cast_const(), "family")?;
    let labels = labels(c, label_params, label_count)?;
    let m = Metric::new(&family, labels, args)?;
    out.write(into_raw(Box::new(m)));
    Ok(())
}

/// A counter or gauge of `family` with labels (STRING parameters, copied); the caller owns it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MetricNew(
    metric: *mut *mut TRITONSERVER_Metric,
    family: *mut TRITONSERVER_MetricFamily,
    labels: *mut *const TRITONSERVER_Parameter,
    label_count: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MetricNew's caller passes a live metric family, `label_count` live
    // parameters at `labels` and writable `metric`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MetricNew", || {
        new_metric(c, metric, family, labels, label_count, None)
    })
}

/// A metric of `family` with labels and arguments (histograms need bucket arguments; counters
/// and gauges take none). NULL `args` means none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MetricNewWithArgs(
    metric: *mut *mut TRITONSERVER_Metric,
    family: *mut TRITONSERVER_MetricFamily,
    labels: *mut *const TRITONSERVER_Parameter,
    label_count: u64,
    args: *const TRITONSERVER_MetricArgs,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MetricNewWithArgs's caller passes a live metric family, `label_count`
    // live parameters at `labels`, a live metric arguments object or NULL and writable `metric`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MetricNewWithArgs", || {
        let args = if args.is_null() {
            None
        } else {
            Some(c.arg_ref(args, "args")?)
        };
        new_metric(c, metric, family, labels, label_count, args)
    })
}

/// Delete a metric (its series goes away with the last metric sharing its labels).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MetricDelete(
    metric: *mut TRITONSERVER_Metric,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MetricDelete's caller passes a metric it owns and gives up, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MetricDelete", || {
        drop(c.take_box(metric, "metric")?);
        Ok(())
    })
}

/// The value of a counter or gauge (UNSUPPORTED for a histogram).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MetricValue(
    metric: *mut TRITONSERVER_Metric,
    value: *mut f64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MetricValue's caller passes a live metric and writable `value`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MetricValue", || {
        let m = c.arg_ref(metric, "metric")?;
        let out = c.out_ptr(value, "value")?;
        out.write(m.value()?);
        Ok(())
    })
}

/// Add to a counter (non-negative values only) or a gauge.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MetricIncrement(
    metric: *mut TRITONSERVER_Metric,
    value: f64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MetricIncrement's caller passes a live metric, as tritonserver.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MetricIncrement", || {
        c.arg_ref(metric, "metric")?.increment(value)
    })
}

/// Set a gauge (UNSUPPORTED for counters and histograms).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MetricSet(
    metric: *mut TRITONSERVER_Metric,
    value: f64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MetricSet's caller passes a live metric, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MetricSet", || {
        c.arg_ref(metric, "metric")?.set(value)
    })
}

/// Record an observation in a histogram (UNSUPPORTED for counters and gauges).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MetricObserve(
    metric: *mut TRITONSERVER_Metric,
    value: f64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_MetricObserve's caller passes a live metric, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_MetricObserve", || {
        c.arg_ref(metric, "metric")?.observe(value)
    })
}

/// The kind of a metric.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_GetMetricKind(
    metric: *mut TRITONSERVER_Metric,
    kind: *mut TRITONSERVER_MetricKind,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_GetMetricKind's caller passes a live metric and writable `kind`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_GetMetricKind", || {
        let m = c.arg_ref(metric, "metric")?;
        c.out_ptr(kind, "kind")?.write(m.kind().into());
        Ok(())
    })
}
