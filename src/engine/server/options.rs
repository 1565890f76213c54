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
