//! Per-model-version inference statistics, in upstream's JSON shape.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::response::BufferAttributes;
use crate::engine::sync::lock;

/// Nanoseconds on the monotonic clock, the clock backends report statistics with.
pub use crate::engine::sync::monotonic_ns;

/// A count and a total duration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatDuration {
    pub count: u64,
    pub ns: u64,
}

impl StatDuration {
    fn add(&mut self, ns: u64) {
        self.count += 1;
        self.ns += ns;
    }
    fn json(self) -> serde_json::Value {
        serde_json::json!({ "count": self.count, "ns": self.ns })
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct BatchStat {
    compute_input: StatDuration,
    compute_infer: StatDuration,
    compute_output: StatDuration,
}

#[derive(Debug, Default)]
struct Inner {
    last_inference_ms: u64,
    inference_count: u64,
    execution_count: u64,
    success: StatDuration,
    fail: StatDuration,
    queue: StatDuration,
    compute_input: StatDuration,
    compute_infer: StatDuration,
    compute_output: StatDuration,
    batch: BTreeMap<u64, BatchStat>,
    response_success: StatDuration,
    response_fail: StatDuration,
    response_compute_output: StatDuration,
    memory: Vec<BufferAttributes>,
    /// Failures by [`FailureReason`], for the failure metric's `reason` label.
    fail_reasons: [u64; 4],
    /// Successful requests' durations in whole microseconds, summed per request as upstream's
    /// metrics do: request, queue, compute input, compute infer, compute output.
    success_us: [u64; 5],
    /// Response cache hits and misses (lookup + insert time), see `engine::cache`.
    cache_hit: StatDuration,
    cache_miss: StatDuration,
}

/// Why a request failed: the `reason` label of `nv_inference_request_failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    Rejected = 0,
    Canceled = 1,
    Backend = 2,
    Other = 3,
}

impl FailureReason {
    /// cbindgen:ignore
    pub const ALL: [FailureReason; 4] = [
        FailureReason::Rejected,
        FailureReason::Canceled,
        FailureReason::Backend,
        FailureReason::Other,
    ];
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            FailureReason::Rejected => "REJECTED",
            FailureReason::Canceled => "CANCELED",
            FailureReason::Backend => "BACKEND",
            FailureReason::Other => "OTHER",
        }
    }
}

/// What the Prometheus metrics of one version report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricCounts {
    pub success: u64,
    /// Failures indexed by `FailureReason as usize`.
    pub failure: [u64; 4],
    pub inference_count: u64,
    pub execution_count: u64,
    pub request_us: u64,
    pub queue_us: u64,
    pub compute_input_us: u64,
    pub compute_infer_us: u64,
    pub compute_output_us: u64,
}

/// Statistics of one model version.
#[derive(Debug, Default)]
pub struct ModelStats {
    inner: Mutex<Inner>,
}

fn response_stats(s: &Inner) -> serde_json::Value {
    if s.response_success.count == 0 && s.response_fail.count == 0 {
        return serde_json::json!({});
    }
    serde_json::json!({
        "0": {
            "compute_infer": StatDuration::default().json(),
            "compute_output": s.response_compute_output.json(),
            "success": s.response_success.json(),
            "fail": s.response_fail.json(),
            "empty_response": StatDuration::default().json(),
            "cancel": StatDuration::default().json(),
        }
    })
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl ModelStats {
    /// A request finished (`TRITONBACKEND_ModelInstanceReportStatistics`).
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the C function's timestamps"
    )]
    pub fn report_request(
        &self,
        success: bool,
        request_start_ns: u64,
        queue_start_ns: u64,
        exec_start_ns: u64,
        compute_start_ns: u64,
        compute_end_ns: u64,
        exec_end_ns: u64,
    ) {
        let mut s = lock(&self.inner);
        s.last_inference_ms = wall_ms();
        let total = exec_end_ns.saturating_sub(request_start_ns);
        if success {
            let parts = [
                total,
                exec_start_ns.saturating_sub(queue_start_ns),
                compute_start_ns.saturating_sub(exec_start_ns),
                compute_end_ns.saturating_sub(compute_start_ns),
                exec_end_ns.saturating_sub(compute_end_ns),
            ];
            s.success.add(parts[0]);
            s.queue.add(parts[1]);
            s.compute_input.add(parts[2]);
            s.compute_infer.add(parts[3]);
            s.compute_output.add(parts[4]);
            for (us, ns) in s.success_us.iter_mut().zip(parts) {
                *us += ns / 1000;
            }
        } else {
            s.fail.add(total);
            s.fail_reasons[FailureReason::Backend as usize] += 1;
        }
    }

    /// A request failed before reaching the backend.
    pub fn report_failure(&self, request_start_ns: u64) {
        self.report_failure_with(request_start_ns, FailureReason::Backend);
    }

    /// A request failed in the core for `reason` (e.g. it timed out in the queue).
    pub fn report_failure_with(&self, request_start_ns: u64, reason: FailureReason) {
        let mut s = lock(&self.inner);
        s.fail.add(monotonic_ns().saturating_sub(request_start_ns));
        s.fail_reasons[reason as usize] += 1;
    }

    /// The values of the Prometheus metrics.
    pub fn metric_counts(&self) -> MetricCounts {
        let s = lock(&self.inner);
        MetricCounts {
            success: s.success.count,
            failure: s.fail_reasons,
            inference_count: s.inference_count,
            execution_count: s.execution_count,
            request_us: s.success_us[0],
            queue_us: s.success_us[1],
            compute_input_us: s.success_us[2],
            compute_infer_us: s.success_us[3],
            compute_output_us: s.success_us[4],
        }
    }

    /// One execution of a batch (`TRITONBACKEND_ModelInstanceReportBatchStatistics`).
    pub fn report_batch(
        &self,
        batch_size: u64,
        exec_start_ns: u64,
        compute_start_ns: u64,
        compute_end_ns: u64,
        exec_end_ns: u64,
    ) {
        let mut s = lock(&self.inner);
        s.execution_count += 1;
        s.inference_count += batch_size;
        let b = s.batch.entry(batch_size).or_default();
        b.compute_input
            .add(compute_start_ns.saturating_sub(exec_start_ns));
        b.compute_infer
            .add(compute_end_ns.saturating_sub(compute_start_ns));
        b.compute_output
            .add(exec_end_ns.saturating_sub(compute_end_ns));
    }

    /// One response of a decoupled model (`TRITONBACKEND_ModelInstanceReportResponseStatistics`).
    pub fn report_response(
        &self,
        success: bool,
        response_start_ns: u64,
        compute_output_start_ns: u64,
        response_end_ns: u64,
    ) {
        let mut s = lock(&self.inner);
        let total = response_end_ns.saturating_sub(response_start_ns);
        if success {
            s.response_success.add(total);
            s.response_compute_output
                .add(response_end_ns.saturating_sub(compute_output_start_ns));
        } else {
            s.response_fail.add(total);
        }
    }

    /// Memory held by the model or an instance (replaces what was reported before).
    pub fn report_memory(&self, usage: &[BufferAttributes]) {
        lock(&self.inner).memory = usage.to_vec();
    }

    /// The `model_stats` entry of one version.
    pub fn to_json(&self, name: &str, version: i64) -> serde_json::Value {
        let s = lock(&self.inner);
        let batch: Vec<serde_json::Value> = s
            .batch
            .iter()
            .map(|(size, b)| {
                serde_json::json!({
                    "batch_size": size,
                    "compute_input": b.compute_input.json(),
                    "compute_infer": b.compute_infer.json(),
                    "compute_output": b.compute_output.json(),
                })
            })
            .collect();
        serde_json::json!({
            "name": name,
            "version": version.to_string(),
            "last_inference": s.last_inference_ms,
            "inference_count": s.inference_count,
            "execution_count": s.execution_count,
            "inference_stats": {
                "success": s.success.json(),
                "fail": s.fail.json(),
                "queue": s.queue.json(),
                "compute_input": s.compute_input.json(),
                "compute_infer": s.compute_infer.json(),
                "compute_output": s.compute_output.json(),
                "cache_hit": s.cache_hit.json(),
                "cache_miss": s.cache_miss.json(),
            },
            "response_stats": response_stats(&s),
            "batch_stats": batch,
            "memory_usage": s.memory.iter().map(|m| serde_json::json!({
                "type": m.memory_type.name(),
                "id": m.memory_type_id,
                "byte_size": m.byte_size,
            })).collect::<Vec<_>>(),
        })
    }

    /// A request answered from the response cache: a success that never reached the backend
    /// (no inference or execution counted), as upstream's `UpdateSuccessCacheHit`.
    pub fn report_cache_hit(&self, request_start_ns: u64, lookup_ns: u64) {
        let mut s = lock(&self.inner);
        s.last_inference_ms = wall_ms();
        let total = monotonic_ns().saturating_sub(request_start_ns);
        s.success.add(total);
        s.success_us[0] += total / 1000;
        s.queue.count += 1;
        s.cache_hit.add(lookup_ns);
    }

    /// A response computed after a cache miss was inserted: lookup plus insert time, also
    /// added to the request duration, as upstream's `UpdateSuccessCacheMiss`.
    pub fn report_cache_miss(&self, miss_ns: u64) {
        let mut s = lock(&self.inner);
        s.success.ns += miss_ns;
        s.success_us[0] += miss_ns / 1000;
        s.cache_miss.add(miss_ns);
    }

    /// (success count, failure count, inference count, execution count).
    pub fn counts(&self) -> (u64, u64, u64, u64) {
        let s = lock(&self.inner);
        (
            s.success.count,
            s.fail.count,
            s.inference_count,
            s.execution_count,
        )
    }
}
