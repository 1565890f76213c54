//! Per-model-version inference statistics, in upstream's JSON shape.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::response::BufferAttributes;
use crate::engine::backend::lock;

/// Nanoseconds on the monotonic clock, the clock backends report statistics with.
pub fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| (t.tv_sec() as u64) * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

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
            s.success.add(total);
            s.queue.add(exec_start_ns.saturating_sub(queue_start_ns));
            s.compute_input
                .add(compute_start_ns.saturating_sub(exec_start_ns));
            s.compute_infer
                .add(compute_end_ns.saturating_sub(compute_start_ns));
            s.compute_output
                .add(exec_end_ns.saturating_sub(compute_end_ns));
        } else {
            s.fail.add(total);
        }
    }

    /// A request failed before reaching the backend.
    pub fn report_failure(&self, request_start_ns: u64) {
        let mut s = lock(&self.inner);
        s.fail.add(monotonic_ns().saturating_sub(request_start_ns));
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
        let zero = StatDuration::default();
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
                "cache_hit": zero.json(),
                "cache_miss": zero.json(),
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
