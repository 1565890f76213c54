//! Server options (`TRITONSERVER_ServerOptions`), with upstream's defaults.

use std::collections::BTreeMap;

use crate::engine::backend::BackendCmdlineConfig;
use crate::engine::log;
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
    /// Everything else that is accepted and reported but has no effect yet, by option name.
    pub other: BTreeMap<String, String>,
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
            other: BTreeMap::new(),
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
