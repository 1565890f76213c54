//! The process-wide registry of metric families, with the semantics of the Prometheus client
//! upstream uses: one family per name (registering a name again with the same kind shares the
//! family, with another kind is an error), one series per label set (shared and reference
//! counted), and the core's own families registered first.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::engine::error::{Error, Result};
use crate::engine::sync::lock;

/// The kind of a custom metric (`TRITONSERVER_MetricKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter = 0,
    Gauge = 1,
    Histogram = 2,
}

impl MetricKind {
    pub fn from_u32(v: u32) -> Option<MetricKind> {
        match v {
            0 => Some(MetricKind::Counter),
            1 => Some(MetricKind::Gauge),
            2 => Some(MetricKind::Histogram),
            _ => None,
        }
    }
}

/// The type of a registered family: a metric kind, or a summary (only the core's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyType {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl FamilyType {
    /// The word in the `# TYPE` line.
    pub fn name(self) -> &'static str {
        match self {
            FamilyType::Counter => "counter",
            FamilyType::Gauge => "gauge",
            FamilyType::Histogram => "histogram",
            FamilyType::Summary => "summary",
        }
    }
}

impl From<MetricKind> for FamilyType {
    fn from(k: MetricKind) -> FamilyType {
        match k {
            MetricKind::Counter => FamilyType::Counter,
            MetricKind::Gauge => FamilyType::Gauge,
            MetricKind::Histogram => FamilyType::Histogram,
        }
    }
}

/// Label name → value, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// The value of one series.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    Histogram {
        /// Upper bounds as given, without the implicit +Inf bucket.
        bounds: Vec<f64>,
        /// Observations per bucket (not cumulative); one more than `bounds` (+Inf).
        counts: Vec<u64>,
        sum: f64,
    },
}

#[derive(Debug)]
struct Series {
    value: Value,
    refs: usize,
}

/// A registered family and its custom series.
#[derive(Debug)]
pub struct FamilyData {
    pub name: String,
    pub help: String,
    pub ty: FamilyType,
    series: BTreeMap<Labels, Series>,
}

impl FamilyData {
    /// The custom series, sorted by labels.
    pub fn samples(&self) -> Vec<(Labels, Value)> {
        self.series
            .iter()
            .map(|(l, s)| (l.clone(), s.value.clone()))
            .collect()
    }
}

/// The core's own families: name, type, help text, in upstream's registration order.
pub const BUILTIN_FAMILIES: &[(&str, FamilyType, &str)] = &[
    ("nv_inference_request_success", FamilyType::Counter, "Number of successful inference requests, all batch sizes"),
    ("nv_inference_request_failure", FamilyType::Counter, "Number of failed inference requests, all batch sizes"),
    ("nv_inference_count", FamilyType::Counter, "Number of inferences performed (does not include cached requests)"),
    ("nv_inference_exec_count", FamilyType::Counter, "Number of model executions performed (does not include cached requests)"),
    ("nv_inference_request_duration_us", FamilyType::Counter, "Cumulative inference request duration in microseconds (includes cached requests)"),
    ("nv_inference_queue_duration_us", FamilyType::Counter, "Cumulative inference queuing duration in microseconds (includes cached requests)"),
    ("nv_inference_compute_input_duration_us", FamilyType::Counter, "Cumulative compute input duration in microseconds (does not include cached requests)"),
    ("nv_inference_compute_infer_duration_us", FamilyType::Counter, "Cumulative compute inference duration in microseconds (does not include cached requests)"),
    ("nv_inference_compute_output_duration_us", FamilyType::Counter, "Cumulative inference compute output duration in microseconds (does not include cached requests)"),
    ("nv_inference_pending_request_count", FamilyType::Gauge, "Instantaneous number of pending requests awaiting execution per-model."),
    ("nv_pinned_memory_pool_total_bytes", FamilyType::Gauge, "Pinned memory pool total memory size, in bytes"),
    ("nv_pinned_memory_pool_used_bytes", FamilyType::Gauge, "Pinned memory pool used memory size, in bytes"),
    ("nv_cache_num_hits_per_model", FamilyType::Counter, "Number of cache hits per model"),
    ("nv_cache_hit_duration_per_model", FamilyType::Counter, "Total cache hit duration per model, in microseconds"),
    ("nv_cache_num_misses_per_model", FamilyType::Counter, "Number of cache misses per model"),
    ("nv_cache_miss_duration_per_model", FamilyType::Counter, "Total cache miss (insert+lookup) duration per model, in microseconds"),
    ("nv_inference_request_summary_us", FamilyType::Summary, "Summary of inference request duration in microseconds (includes cached requests)"),
    ("nv_inference_queue_summary_us", FamilyType::Summary, "Summary of inference queuing duration in microseconds (includes cached requests)"),
    ("nv_inference_compute_input_summary_us", FamilyType::Summary, "Cumulative compute input duration in microseconds (does not include cached requests)"),
    ("nv_inference_compute_infer_summary_us", FamilyType::Summary, "Cumulative compute inference duration in microseconds (does not include cached requests)"),
    ("nv_inference_compute_output_summary_us", FamilyType::Summary, "Cumulative inference compute output duration in microseconds (does not include cached requests)"),
    ("nv_cache_hit_summary_per_model", FamilyType::Summary, "Summary of cache hit counts/durations per model, in microseconds."),
    ("nv_cache_miss_summary_per_model", FamilyType::Summary, "Summary of cache miss counts/durations per model, in microseconds."),
    ("nv_gpu_utilization", FamilyType::Gauge, "GPU utilization rate [0.0 - 1.0)"),
    ("nv_gpu_memory_total_bytes", FamilyType::Gauge, "GPU total memory, in bytes"),
    ("nv_gpu_memory_used_bytes", FamilyType::Gauge, "GPU used memory, in bytes"),
    ("nv_gpu_power_usage", FamilyType::Gauge, "GPU power usage in watts"),
    ("nv_gpu_power_limit", FamilyType::Gauge, "GPU power management limit in watts"),
    ("nv_energy_consumption", FamilyType::Counter, "GPU energy consumption in joules since the Triton Server started"),
    ("nv_cpu_utilization", FamilyType::Gauge, "CPU utilization rate [0.0 - 1.0]"),
    ("nv_cpu_memory_total_bytes", FamilyType::Gauge, "CPU total memory (RAM), in bytes"),
    ("nv_cpu_memory_used_bytes", FamilyType::Gauge, "CPU used memory (RAM), in bytes"),
    // triton-core extensions: runtime readiness of model instances.
    ("nv_instance_ready", FamilyType::Gauge, "Whether the model instance passed its last readiness check (1) or not (0)"),
    ("nv_instance_ready_transitions", FamilyType::Counter, "Number of times the model instance went from ready to not ready or back"),
    ("nv_instance_ready_check_histogram_us", FamilyType::Histogram, "Duration of the backend's readiness check of the model instance, in microseconds"),
    ("nv_instance_ready_check_timeouts", FamilyType::Counter, "Number of readiness checks of the model instance that did not answer within the readiness timeout"),
    ("nv_instance_restarts", FamilyType::Counter, "Number of times the model instance was restarted after failing its readiness checks"),
    ("nv_instance_restart_failures", FamilyType::Counter, "Number of failed restart attempts of the model instance"),
];

/// Every family, in registration order.
#[derive(Default)]
struct Registry {
    families: Vec<Arc<Mutex<FamilyData>>>,
}

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(|| {
        let families = BUILTIN_FAMILIES
            .iter()
            .map(|(name, ty, help)| {
                Arc::new(Mutex::new(FamilyData {
                    name: (*name).to_owned(),
                    help: (*help).to_owned(),
                    ty: *ty,
                    series: BTreeMap::new(),
                }))
            })
            .collect();
        Mutex::new(Registry { families })
    })
}

/// A snapshot of one family.
#[derive(Debug, Clone)]
pub struct CollectedFamily {
    pub name: String,
    pub help: String,
    pub ty: FamilyType,
    /// The custom series, sorted by labels.
    pub samples: Vec<(Labels, Value)>,
}

/// A snapshot of every family in exposition order: counters, gauges, histograms, summaries,
/// each in registration order.
pub fn collect() -> Vec<CollectedFamily> {
    let families: Vec<_> = lock(registry()).families.clone();
    let mut out = Vec::with_capacity(families.len());
    for ty in [
        FamilyType::Counter,
        FamilyType::Gauge,
        FamilyType::Histogram,
        FamilyType::Summary,
    ] {
        for f in &families {
            let f = lock(f);
            if f.ty == ty {
                out.push(CollectedFamily {
                    name: f.name.clone(),
                    help: f.help.clone(),
                    ty: f.ty,
                    samples: f.samples(),
                });
            }
        }
    }
    out
}

fn valid_name(name: &str, extra: impl Fn(char) -> bool) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        None => return false,
        Some(c) if c.is_ascii_digit() => return false,
        _ => {}
    }
    !name.starts_with("__")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || extra(c))
}

/// A metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`, not starting with "__".
pub fn valid_metric_name(name: &str) -> bool {
    valid_name(name, |c| c == ':')
}

/// A label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with "__".
pub fn valid_label_name(name: &str) -> bool {
    valid_name(name, |_| false)
}

/// A metric family handle (`TRITONSERVER_MetricFamily`). Several handles may share one
/// registered family (same name and kind).
#[derive(Debug)]
pub struct MetricFamily {
    data: Arc<Mutex<FamilyData>>,
    kind: MetricKind,
    /// Metrics created from this handle and not yet deleted.
    children: AtomicUsize,
}

impl MetricFamily {
    /// Register (or join) the family `name`.
    pub fn new(kind: MetricKind, name: &str, help: &str) -> Result<Arc<MetricFamily>> {
        let mut reg = lock(registry());
        let ty = FamilyType::from(kind);
        let mut same = None;
        for f in &reg.families {
            let d = lock(f);
            if d.name == name {
                if d.ty != ty {
                    return Err(Error::invalid_arg(
                        "Family name already exists with different type",
                    ));
                }
                same = Some(f.clone());
            }
        }
        let data = match same {
            Some(d) => d,
            None => {
                if !valid_metric_name(name) {
                    return Err(Error::invalid_arg("Invalid metric name"));
                }
                let d = Arc::new(Mutex::new(FamilyData {
                    name: name.to_owned(),
                    help: help.to_owned(),
                    ty,
                    series: BTreeMap::new(),
                }));
                reg.families.push(d.clone());
                d
            }
        };
        Ok(Arc::new(MetricFamily {
            data,
            kind,
            children: AtomicUsize::new(0),
        }))
    }

    pub fn kind(&self) -> MetricKind {
        self.kind
    }

    /// Metrics of this handle not yet deleted.
    pub fn metric_count(&self) -> usize {
        self.children.load(Ordering::Acquire)
    }

    /// Check that a family handle can go: it must have no metrics left.
    pub fn check_deletable(&self) -> Result<()> {
        if self.metric_count() > 0 {
            return Err(Error::internal(
                "Must call MetricDelete on all dependent metrics before calling MetricFamilyDelete.",
            ));
        }
        Ok(())
    }
}

/// Arguments of a new metric (`TRITONSERVER_MetricArgs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricArgs {
    /// Set by `MetricArgsSetHistogram`: the bucket upper bounds.
    pub histogram_buckets: Option<Vec<f64>>,
}

/// One metric (`TRITONSERVER_Metric`): a series of a family, shared with other metrics that
/// have the same labels.
#[derive(Debug)]
pub struct Metric {
    family: Arc<MetricFamily>,
    labels: Labels,
}

impl Metric {
    /// A metric of `family` with `labels`; histograms need `args` with buckets, counters and
    /// gauges must have none.
    pub fn new(
        family: &Arc<MetricFamily>,
        labels: Labels,
        args: Option<&MetricArgs>,
    ) -> Result<Metric> {
        let initial = match (family.kind, args) {
            (MetricKind::Counter, Some(_)) => {
                return Err(Error::invalid_arg(
                    "Unexpected args found in counter Metric constructor.",
                ))
            }
            (MetricKind::Gauge, Some(_)) => {
                return Err(Error::invalid_arg(
                    "Unexpected args found in gauge Metric constructor.",
                ))
            }
            (MetricKind::Counter | MetricKind::Gauge, None) => Value::Scalar(0.0),
            (MetricKind::Histogram, None) => {
                return Err(Error::invalid_arg(
                    "Bucket boundaries not found in Metric args.",
                ))
            }
            (MetricKind::Histogram, Some(a)) => {
                let Some(bounds) = &a.histogram_buckets else {
                    return Err(Error::invalid_arg("Metric args not set to histogram kind."));
                };
                Value::Histogram {
                    bounds: bounds.clone(),
                    counts: vec![0; bounds.len() + 1],
                    sum: 0.0,
                }
            }
        };
        let mut d = lock(&family.data);
        match d.series.get_mut(&labels) {
            Some(s) => s.refs += 1,
            None => {
                if !labels.keys().all(|k| valid_label_name(k)) {
                    return Err(Error::invalid_arg("Invalid label name"));
                }
                d.series.insert(
                    labels.clone(),
                    Series {
                        value: initial,
                        refs: 1,
                    },
                );
            }
        }
        drop(d);
        family.children.fetch_add(1, Ordering::AcqRel);
        Ok(Metric {
            family: family.clone(),
            labels,
        })
    }

    pub fn kind(&self) -> MetricKind {
        self.family.kind
    }

    fn with_value<R>(&self, f: impl FnOnce(&mut Value) -> R) -> R {
        let mut d = lock(&self.family.data);
        let s = d
            .series
            .get_mut(&self.labels)
            .expect("a live metric's series is registered");
        f(&mut s.value)
    }

    /// The current value of a counter or gauge.
    pub fn value(&self) -> Result<f64> {
        if self.kind() == MetricKind::Histogram {
            return Err(Error::unsupported(
                "TRITONSERVER_METRIC_KIND_HISTOGRAM does not support Value",
            ));
        }
        Ok(self.with_value(|v| match v {
            Value::Scalar(x) => *x,
            Value::Histogram { sum, .. } => *sum,
        }))
    }

    /// Add to a counter (non-negative only) or gauge (either sign).
    pub fn increment(&self, delta: f64) -> Result<()> {
        match self.kind() {
            MetricKind::Counter if delta < 0.0 => Err(Error::invalid_arg(
                "TRITONSERVER_METRIC_KIND_COUNTER can only be incremented monotonically by non-negative values.",
            )),
            MetricKind::Histogram => Err(Error::unsupported(
                "TRITONSERVER_METRIC_KIND_HISTOGRAM does not support Increment",
            )),
            _ => {
                self.with_value(|v| {
                    if let Value::Scalar(x) = v {
                        *x += delta;
                    }
                });
                Ok(())
            }
        }
    }

    /// Set a gauge.
    pub fn set(&self, value: f64) -> Result<()> {
        match self.kind() {
            MetricKind::Counter => Err(Error::unsupported(
                "TRITONSERVER_METRIC_KIND_COUNTER does not support Set",
            )),
            MetricKind::Histogram => Err(Error::unsupported(
                "TRITONSERVER_METRIC_KIND_HISTOGRAM does not support Set",
            )),
            MetricKind::Gauge => {
                self.with_value(|v| *v = Value::Scalar(value));
                Ok(())
            }
        }
    }

    /// Record an observation in a histogram: it counts in the first bucket whose bound is not
    /// below it, or in +Inf.
    pub fn observe(&self, value: f64) -> Result<()> {
        match self.kind() {
            MetricKind::Counter => Err(Error::unsupported(
                "TRITONSERVER_METRIC_KIND_COUNTER does not support Observe",
            )),
            MetricKind::Gauge => Err(Error::unsupported(
                "TRITONSERVER_METRIC_KIND_GAUGE does not support Observe",
            )),
            MetricKind::Histogram => {
                self.with_value(|v| {
                    if let Value::Histogram {
                        bounds,
                        counts,
                        sum,
                    } = v
                    {
                        let i = bounds
                            .iter()
                            .position(|b| *b >= value)
                            .unwrap_or(bounds.len());
                        counts[i] += 1;
                        *sum += value;
                    }
                });
                Ok(())
            }
        }
    }
}

impl Drop for Metric {
    fn drop(&mut self) {
        let mut d = lock(&self.family.data);
        if let Some(s) = d.series.get_mut(&self.labels) {
            s.refs -= 1;
            if s.refs == 0 {
                d.series.remove(&self.labels);
            }
        }
        drop(d);
        self.family.children.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Code;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn series_of(name: &str) -> Vec<(Labels, Value)> {
        collect()
            .into_iter()
            .find(|f| f.name == name)
            .map(|f| f.samples)
            .unwrap_or_default()
    }

    #[test]
    fn names() {
        assert!(valid_metric_name("a:b_c9"));
        assert!(!valid_metric_name(""));
        assert!(!valid_metric_name("9a"));
        assert!(!valid_metric_name("__x"));
        assert!(!valid_metric_name("a-b"));
        assert!(valid_label_name("_team"));
        assert!(!valid_label_name("a:b"));
    }

    #[test]
    fn series_are_shared_and_counted() {
        let f = MetricFamily::new(MetricKind::Counter, "unit_test_shared_series", "h").unwrap();
        let a = Metric::new(&f, labels(&[("x", "1")]), None).unwrap();
        let b = Metric::new(&f, labels(&[("x", "1")]), None).unwrap();
        let c = Metric::new(&f, labels(&[("x", "2")]), None).unwrap();
        assert_eq!(f.metric_count(), 3);
        a.increment(2.0).unwrap();
        assert_eq!(b.value().unwrap(), 2.0);
        assert_eq!(series_of("unit_test_shared_series").len(), 2);
        drop(a);
        assert_eq!(series_of("unit_test_shared_series").len(), 2);
        drop(b);
        assert_eq!(
            series_of("unit_test_shared_series"),
            vec![(labels(&[("x", "2")]), Value::Scalar(0.0))]
        );
        assert_eq!(f.check_deletable().unwrap_err().code(), Code::Internal);
        drop(c);
        assert!(series_of("unit_test_shared_series").is_empty());
        f.check_deletable().unwrap();
    }

    #[test]
    fn builtin_names_merge_by_kind() {
        // A custom series in a core family shows up in that family.
        let f = MetricFamily::new(MetricKind::Counter, "nv_energy_consumption", "other").unwrap();
        let m = Metric::new(&f, labels(&[("gpu", "x")]), None).unwrap();
        let fam = collect()
            .into_iter()
            .find(|f| f.name == "nv_energy_consumption")
            .unwrap();
        assert_eq!(
            fam.help,
            "GPU energy consumption in joules since the Triton Server started"
        );
        assert_eq!(fam.samples.len(), 1);
        drop(m);
        let e = MetricFamily::new(MetricKind::Histogram, "nv_inference_queue_summary_us", "")
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArg);
    }

    #[test]
    fn histogram_buckets_and_reuse() {
        let f = MetricFamily::new(MetricKind::Histogram, "unit_test_hist", "").unwrap();
        let args = MetricArgs {
            histogram_buckets: Some(vec![1.0, 2.0]),
        };
        let a = Metric::new(&f, Labels::new(), Some(&args)).unwrap();
        // The same labels reuse the existing buckets.
        let other = MetricArgs {
            histogram_buckets: Some(vec![5.0]),
        };
        let b = Metric::new(&f, Labels::new(), Some(&other)).unwrap();
        a.observe(1.0).unwrap();
        b.observe(3.0).unwrap();
        assert_eq!(
            series_of("unit_test_hist")[0].1,
            Value::Histogram {
                bounds: vec![1.0, 2.0],
                counts: vec![1, 0, 1],
                sum: 4.0
            }
        );
    }
}
