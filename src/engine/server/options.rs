//! Server options (`TRITONSERVER_ServerOptions`), with upstream's defaults.

use std::collections::BTreeMap;

use crate::engine::backend::BackendCmdlineConfig;
use crate::engine::log;
pub use crate::engine::scheduler::SchedulerSettings;
use crate::engine::types::ModelControlMode;

/// Everything a server is created with.
#[derive(Debug, Clone)]
pub struct Options {
    pub server_id: String,
    pub repository_paths: Vec<String>,
    pub control_mode: ModelControlMode,
    pub startup_models: Vec<String>,
    pub strict_model_config: bool,
    pub model_config_name: String,
    pub exit_on_error: bool,
    pub strict_readiness: bool,
    pub exit_timeout_secs: u32,
    /// Extension: the deadline of a request that sets none (µs; 0 = none). A request past its
    /// deadline gets a final error response even while the backend still holds it.
    pub default_request_timeout_us: u64,
    /// Extension: readiness hook deadline, answer reuse, background monitor, instance restarts.
    pub readiness: crate::engine::model::ReadinessSettings,
    pub backend_dir: String,
    pub repoagent_dir: String,
    pub backend_config: BackendCmdlineConfig,
    pub log: log::Settings,
    pub model_load_thread_count: u32,
    pub model_load_retry_count: u32,
    pub model_namespacing: bool,
    /// Pinned host memory pool size (reported; CPU memory serves pinned requests here).
    pub pinned_memory_pool_byte_size: u64,
    /// CUDA memory pool size per GPU (reported; no GPU support in this build).
    pub cuda_memory_pool_byte_size: BTreeMap<i32, u64>,
    /// Rate limiting by execution count (`--rate-limit=execution_count`).
    pub rate_limit_exec_count: bool,
    /// Rate limiter resources: (name, count, device; -1 = every device).
    pub rate_limit_resources: Vec<(String, u64, i32)>,
    pub min_compute_capability: f64,
    /// Host policies: policy name → setting → value.
    pub host_policies: BTreeMap<String, BTreeMap<String, String>>,
    /// Response cache configurations by cache name (`ServerOptionsSetCacheConfig`); at most one
    /// is allowed when the server is created.
    pub cache_configs: BTreeMap<String, String>,
    /// Where cache implementations are found (`ServerOptionsSetCacheDirectory`).
    pub cache_dir: String,
    /// What the metrics collect (`ServerOptionsSetMetrics`, `...CpuMetrics`, ...).
    pub metrics: MetricsOptions,
    /// How instance threads wait and run (extension settings).
    pub scheduler: SchedulerSettings,
    /// Accepted and recorded, without effect in this build (no GPUs, no buffer manager).
    pub buffer_manager_thread_count: u32,
    pub cuda_virtual_address_size: BTreeMap<i32, u64>,
    pub enable_peer_access: bool,
}

/// Metrics settings of the server options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsOptions {
    /// `ServerOptionsSetMetrics` (default on).
    pub enabled: bool,
    /// `ServerOptionsSetGpuMetrics` (default on; no GPUs here).
    pub gpu: bool,
    /// `ServerOptionsSetCpuMetrics` (default on; needs `enabled`).
    pub cpu: bool,
    /// `ServerOptionsSetMetricsInterval` in ms (default 2000).
    pub interval_ms: u64,
    /// `ServerOptionsSetMetricsConfig`: (group, setting) -> value; `("", "counter_latencies")`
    /// turns the `*_duration_us` counters off with "false".
    pub config: BTreeMap<(String, String), String>,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions {
            enabled: true,
            gpu: true,
            cpu: true,
            interval_ms: 2000,
            config: BTreeMap::new(),
        }
    }
}

impl MetricsOptions {
    /// Whether the `*_duration_us` counters are reported (metrics config `counter_latencies`).
    pub fn counter_latencies(&self) -> bool {
        self.config
            .get(&(String::new(), "counter_latencies".to_owned()))
            .is_none_or(|v| v != "false")
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            server_id: "triton".into(),
            repository_paths: Vec::new(),
            control_mode: ModelControlMode::Poll,
            startup_models: Vec::new(),
            strict_model_config: true,
            model_config_name: String::new(),
            exit_on_error: true,
            strict_readiness: true,
            exit_timeout_secs: 30,
            default_request_timeout_us: 0,
            readiness: Default::default(),
            backend_dir: "/opt/tritonserver/backends".into(),
            repoagent_dir: "/opt/tritonserver/repoagents".into(),
            backend_config: BackendCmdlineConfig::default(),
            log: log::Settings::default(),
            model_load_thread_count: 4,
            model_load_retry_count: 0,
            model_namespacing: false,
            pinned_memory_pool_byte_size: 256 * 1024 * 1024,
            cuda_memory_pool_byte_size: BTreeMap::new(),
            rate_limit_exec_count: false,
            rate_limit_resources: Vec::new(),
            min_compute_capability: 0.0,
            host_policies: BTreeMap::new(),
            cache_configs: BTreeMap::new(),
            cache_dir: "/opt/tritonserver/caches".into(),
            metrics: MetricsOptions::default(),
            scheduler: SchedulerSettings::default(),
            buffer_manager_thread_count: 0,
            cuda_virtual_address_size: BTreeMap::new(),
            enable_peer_access: true,
        }
    }
}

impl Options {
    /// Upstream's defaults with triton-core's extension settings taken from the environment,
    /// for frontends that cannot set them (an unmodified upstream `tritonserver`): what
    /// `TRITONSERVER_ServerOptionsNew` creates. Unset or unparsable variables keep the default.
    ///
    /// | variable | setting |
    /// |---|---|
    /// | `TRITON_CORE_READINESS_TIMEOUT_MS` | readiness hook deadline (ms) |
    /// | `TRITON_CORE_READINESS_REUSE_US` | reuse of a completed check's answer (µs) |
    /// | `TRITON_CORE_READINESS_MONITOR_MS` | background readiness checks (ms; 0 off) |
    /// | `TRITON_CORE_INSTANCE_RESTART` | `1`: restart failing instances |
    /// | `TRITON_CORE_INSTANCE_RESTART_AFTER_FAILURES` | consecutive failed checks |
    /// | `TRITON_CORE_INSTANCE_RESTART_MAX_ATTEMPTS` | attempts before giving up |
    /// | `TRITON_CORE_INSTANCE_RESTART_BACKOFF_BASE_MS`, `..._CAP_MS` | backoff between attempts |
    /// | `TRITON_CORE_REQUEST_TIMEOUT_US` | deadline of requests that set none (µs) |
    /// | `TRITON_CORE_SPIN_US` | idle instance threads poll their queue this long (µs) |
    /// | `TRITON_CORE_SCHED_BATCH` | `0`: instance threads keep the default scheduling policy |
    /// | `TRITON_CORE_CALLER_EXECUTES` | `1`: requests may execute on the caller's thread |
    pub fn from_env() -> Options {
        Options::default().with_env(|k| std::env::var(k).ok())
    }

    /// Apply the extension variables `get` finds (see [`Options::from_env`]).
    pub fn with_env(mut self, get: impl Fn(&str) -> Option<String>) -> Options {
        use std::time::Duration;
        let num = |k: &str| get(k).and_then(|v| v.trim().parse::<u64>().ok());
        let r = &mut self.readiness;
        if let Some(ms) = num("TRITON_CORE_READINESS_TIMEOUT_MS") {
            r.hook_timeout = Duration::from_millis(ms.max(1));
        }
        if let Some(us) = num("TRITON_CORE_READINESS_REUSE_US") {
            r.reuse = Duration::from_micros(us);
        }
        if let Some(ms) = num("TRITON_CORE_READINESS_MONITOR_MS") {
            r.monitor_interval = (ms > 0).then(|| Duration::from_millis(ms));
        }
        if let Some(v) = get("TRITON_CORE_INSTANCE_RESTART") {
            r.restart.enabled = matches!(v.trim(), "1" | "true" | "on");
        }
        let small = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        if let Some(n) = num("TRITON_CORE_INSTANCE_RESTART_AFTER_FAILURES") {
            r.restart.after_failures = small(n).max(1);
        }
        if let Some(n) = num("TRITON_CORE_INSTANCE_RESTART_MAX_ATTEMPTS") {
            r.restart.max_attempts = small(n);
        }
        if let Some(ms) = num("TRITON_CORE_INSTANCE_RESTART_BACKOFF_BASE_MS") {
            r.restart.backoff_base = Duration::from_millis(ms);
        }
        if let Some(ms) = num("TRITON_CORE_INSTANCE_RESTART_BACKOFF_CAP_MS") {
            r.restart.backoff_cap = Duration::from_millis(ms);
        }
        if let Some(us) = num("TRITON_CORE_REQUEST_TIMEOUT_US") {
            self.default_request_timeout_us = us;
        }
        if let Some(us) = num("TRITON_CORE_SPIN_US") {
            self.scheduler.spin = Duration::from_micros(us);
        }
        let switch = |k: &str| match get(k).as_deref().map(str::trim) {
            Some("1") => Some(true),
            Some("0") => Some(false),
            _ => None,
        };
        if let Some(on) = switch("TRITON_CORE_SCHED_BATCH") {
            self.scheduler.batch_policy = on;
        }
        if let Some(on) = switch("TRITON_CORE_CALLER_EXECUTES") {
            self.scheduler.caller_executes = on;
        }
        self
    }

    /// The backend configuration every backend sees, with the global keys the server adds.
    pub fn effective_backend_config(&self) -> BackendCmdlineConfig {
        let mut c = self.backend_config.clone();
        c.add(
            "",
            "auto-complete-config",
            if self.strict_model_config {
                "false"
            } else {
                "true"
            },
        );
        c.add(
            "",
            "min-compute-capability",
            &format!("{:.6}", self.min_compute_capability),
        );
        c.add("", "backend-directory", &self.backend_dir);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn extension_settings_come_from_the_environment() {
        let env = |k: &str| {
            match k {
                "TRITON_CORE_READINESS_TIMEOUT_MS" => Some("750"),
                "TRITON_CORE_READINESS_MONITOR_MS" => Some("200"),
                "TRITON_CORE_INSTANCE_RESTART" => Some("1"),
                "TRITON_CORE_INSTANCE_RESTART_MAX_ATTEMPTS" => Some("7"),
                "TRITON_CORE_REQUEST_TIMEOUT_US" => Some("5000"),
                "TRITON_CORE_READINESS_REUSE_US" => Some("not a number"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let o = Options::default().with_env(env);
        assert_eq!(o.readiness.hook_timeout, Duration::from_millis(750));
        assert_eq!(
            o.readiness.monitor_interval,
            Some(Duration::from_millis(200))
        );
        assert!(o.readiness.restart.enabled);
        assert_eq!(o.readiness.restart.max_attempts, 7);
        assert_eq!(o.default_request_timeout_us, 5000);
        assert_eq!(o.readiness.reuse, Options::default().readiness.reuse);
    }
}
