//! The core's own metrics of a server (per model version: inference counts and durations,
//! pending requests, instance readiness and restarts; CPU and memory), read from each loaded
//! version's statistics when the exposition is written (`engine::metrics` renders them with
//! the custom families).

use std::collections::HashMap;

use super::Server;
use crate::engine::infer::FailureReason;
use crate::engine::metrics::{cpu_utilization, memory_info, Labels, Samples, Value};
use crate::engine::model::LATENCY_BUCKETS_US;

impl Server {
    /// The Prometheus text of this server's metrics and every custom family.
    pub fn metrics_text(&self) -> String {
        crate::engine::metrics::exposition(server_samples(self, MetricsSettings::of(self)))
    }
}

/// Metric settings read from the server options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSettings {
    /// `ServerOptionsSetMetrics` (default on).
    pub enabled: bool,
    /// `ServerOptionsSetCpuMetrics` (default on; needs `enabled`).
    pub cpu: bool,
    /// Metrics config `counter_latencies` (default on): the `*_duration_us` counters.
    pub counter_latencies: bool,
    /// `ServerOptionsSetMetricsInterval` in ms (default 2000).
    pub interval_ms: u64,
}

impl MetricsSettings {
    /// The settings of a server's options.
    pub fn of(server: &Server) -> MetricsSettings {
        let m = &server.options().metrics;
        MetricsSettings {
            enabled: m.enabled,
            cpu: m.cpu,
            counter_latencies: m.counter_latencies(),
            interval_ms: m.interval_ms,
        }
    }
}

/// The core's samples, by family name, for one server.
fn server_samples(server: &Server, settings: MetricsSettings) -> Samples {
    let mut out: HashMap<&'static str, Vec<(Labels, Value)>> = HashMap::new();
    if !settings.enabled {
        return out;
    }
    let mut push = |name: &'static str, labels: &Labels, v: f64| {
        out.entry(name)
            .or_default()
            .push((labels.clone(), Value::Scalar(v)));
    };
    let mut check_durations: Vec<(Labels, Value)> = Vec::new();
    let table = server.repository().snapshot();
    for (id, entry) in &table.models {
        for (version, slot) in &entry.versions {
            let Some(model) = &slot.model else { continue };
            let mut labels = Labels::new();
            labels.insert("model".into(), id.name.clone());
            labels.insert("version".into(), version.to_string());
            for (k, v) in &model.config().metric_tags {
                labels.insert(format!("_{k}"), v.clone());
            }
            let c = model.stats().metric_counts();
            push("nv_inference_request_success", &labels, c.success as f64);
            for reason in FailureReason::ALL {
                let mut l = labels.clone();
                l.insert("reason".into(), reason.name().into());
                push(
                    "nv_inference_request_failure",
                    &l,
                    c.failure[reason as usize] as f64,
                );
            }
            push("nv_inference_count", &labels, c.inference_count as f64);
            push("nv_inference_exec_count", &labels, c.execution_count as f64);
            if settings.counter_latencies {
                push(
                    "nv_inference_request_duration_us",
                    &labels,
                    c.request_us as f64,
                );
                push("nv_inference_queue_duration_us", &labels, c.queue_us as f64);
                push(
                    "nv_inference_compute_input_duration_us",
                    &labels,
                    c.compute_input_us as f64,
                );
                push(
                    "nv_inference_compute_infer_duration_us",
                    &labels,
                    c.compute_infer_us as f64,
                );
                push(
                    "nv_inference_compute_output_duration_us",
                    &labels,
                    c.compute_output_us as f64,
                );
            }
            push(
                "nv_inference_pending_request_count",
                &labels,
                model.queued() as f64,
            );
            for inst in model.instances() {
                let r = inst.ready_cell().report();
                let mut l = labels.clone();
                l.insert("instance".into(), inst.name().to_owned());
                if let Some(ready) = r.ready {
                    push("nv_instance_ready", &l, f64::from(u8::from(ready)));
                }
                push("nv_instance_ready_transitions", &l, r.transitions as f64);
                push("nv_instance_ready_check_timeouts", &l, r.timeouts as f64);
                push("nv_instance_restarts", &l, r.restarts as f64);
                push(
                    "nv_instance_restart_failures",
                    &l,
                    r.restart_failures as f64,
                );
                check_durations.push((
                    l,
                    Value::Histogram {
                        bounds: LATENCY_BUCKETS_US.to_vec(),
                        counts: r.latency_counts,
                        sum: r.latency_sum_us,
                    },
                ));
            }
        }
    }
    // The core has no pinned memory pool: both gauges read 0, as upstream's do without one.
    push("nv_pinned_memory_pool_total_bytes", &Labels::new(), 0.0);
    push("nv_pinned_memory_pool_used_bytes", &Labels::new(), 0.0);
    if settings.cpu {
        let util = cpu_utilization(settings.interval_ms);
        let (total, used) = memory_info().unwrap_or((0, 0));
        push("nv_cpu_utilization", &Labels::new(), util);
        push("nv_cpu_memory_total_bytes", &Labels::new(), total as f64);
        push("nv_cpu_memory_used_bytes", &Labels::new(), used as f64);
    }
    if !check_durations.is_empty() {
        out.insert("nv_instance_ready_check_histogram_us", check_durations);
    }
    for samples in out.values_mut() {
        samples.sort_by(|a, b| a.0.cmp(&b.0));
    }
    out
}
