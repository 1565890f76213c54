//! The server: lifecycle state, liveness, readiness, metadata, and model control.

mod ensemble;
mod infer;
mod load;
mod load_model;
mod metadata;
mod metrics;
mod options;
mod plugins;
pub mod poll;
mod readiness;
mod startup;
mod unload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

pub use options::Options;
pub use plugins::Plugins;

use super::backend::{BackendManager, LibraryLoader};
use super::cache::ResponseCache;
use super::error::{Error, Result};
use super::model::{Model, ModelState, ReadinessSettings};
use super::ratelimit::RateLimiter;
use super::repoagent::AgentManager;
use super::repository::{ConfigOptions, Repository};
use super::sync::{CallCounter, CallGuard, PendingOps};
use super::types::ModelControlMode;

/// The version reported in server metadata (the Triton release whose API this mirrors).
pub const TRITON_VERSION: &str = "2.51.0";

/// Extensions reported in server metadata.
pub const EXTENSIONS: [&str; 13] = [
    "classification",
    "sequence",
    "model_repository",
    "model_repository(unload_dependents)",
    "schedule_policy",
    "model_configuration",
    "system_shared_memory",
    "cuda_shared_memory",
    "binary_tensor_data",
    "parameters",
    "statistics",
    "trace",
    "logging",
];

/// Server lifecycle states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ServerState {
    Invalid = 0,
    Initializing = 1,
    Ready = 2,
    Exiting = 3,
    FailedToInitialize = 4,
}

impl ServerState {
    fn from_u8(v: u8) -> ServerState {
        match v {
            1 => ServerState::Initializing,
            2 => ServerState::Ready,
            3 => ServerState::Exiting,
            4 => ServerState::FailedToInitialize,
            _ => ServerState::Invalid,
        }
    }
}

/// A Triton server.
pub struct Server {
    options: Options,
    state: AtomicU8,
    exit_timeout_secs: AtomicU32,
    backends: BackendManager,
    repo: Repository,
    config_options: ConfigOptions,
    weak_self: Weak<Server>,
    /// Repository agents, shared by the models that list them (see `plugins.rs`).
    agents: AgentManager,
    /// The response cache, when one is configured (see `plugins.rs`).
    cache: Option<Arc<ResponseCache>>,
    /// Execution-count rate limiting across every model's instances.
    rate_limiter: Arc<RateLimiter>,
    /// `--host-policy` settings, shared with every model version.
    host_policies: Arc<BTreeMap<String, BTreeMap<String, String>>>,
    /// Model versions retired and not yet finalized: stopping waits for them.
    retiring: Arc<PendingOps>,
    /// API calls in flight (counted by the C API shell): stopping waits for those that started
    /// before it, deleting for all of them.
    calls: CallCounter,
    /// How readiness checks behave, shared with every model version.
    readiness: Arc<ReadinessSettings>,
    /// The last ready verdict and how long it holds (probes in between take two loads).
    ready_summary: readiness::ReadySummary,
}

impl Server {
    /// Create a server and load its models as the control mode says. A model that fails to load
    /// makes this an error when `exit_on_error` is set (the server is stopped first); otherwise the
    /// server is returned and the failure is logged.
    pub fn new(options: Options, loader: Arc<dyn LibraryLoader>) -> Result<Arc<Server>> {
        Self::new_with_plugins(options, loader, Plugins::none())
    }

    /// [`Server::new`] with repository agents and response caches opened through `plugins`.
    /// The configured cache is created first; its failure fails the creation.
    pub fn new_with_plugins(
        options: Options,
        loader: Arc<dyn LibraryLoader>,
        plugins: Plugins,
    ) -> Result<Arc<Server>> {
        super::log::configure(options.log.clone())?;
        if options.repository_paths.is_empty() {
            return Err(Error::invalid_arg("--model-repository must be specified"));
        }
        let mut paths = Vec::new();
        for p in &options.repository_paths {
            let path = PathBuf::from(p);
            if !path.is_dir() {
                return Err(Error::invalid_arg(format!(
                    "failed to stat file {p}: repository path is not a valid directory"
                )));
            }
            paths.push(path);
        }
        if options.repoagent_dir.is_empty() {
            return Err(Error::invalid_arg("--repoagent-directory can not be empty"));
        }
        let backends = BackendManager::new(loader, options.effective_backend_config());
        let cache = plugins::create_cache(&options, &plugins)?;
        let agents = AgentManager::new(plugins.agents.clone(), &options.repoagent_dir);
        let config_options = ConfigOptions {
            config_name: options.model_config_name.clone(),
            strict: options.strict_model_config,
        };
        let host_policies = options.host_policies.clone();
        let readiness = options.readiness.clone();
        let rate_limit = options.rate_limit_exec_count;
        let rate_limit_resources = options.rate_limit_resources.clone();
        let server = Arc::new_cyclic(|weak| Server {
            exit_timeout_secs: AtomicU32::new(options.exit_timeout_secs),
            options,
            state: AtomicU8::new(ServerState::Initializing as u8),
            backends,
            repo: Repository::new(paths),
            config_options,
            weak_self: weak.clone(),
            agents,
            cache,
            rate_limiter: Arc::new(RateLimiter::new(rate_limit, &rate_limit_resources)),
            host_policies: Arc::new(host_policies),
            retiring: Arc::default(),
            calls: CallCounter::default(),
            readiness: Arc::new(readiness),
            ready_summary: Default::default(),
        });
        let result = server.load_startup_models();
        server.log_options_table();
        server.set_state(ServerState::Ready);
        if let Some(interval) = server.readiness.monitor_interval {
            Server::schedule_monitor(server.weak(), interval);
        }
        if let Err(e) = result {
            if server.options.exit_on_error {
                let _ = server.stop_with(true);
                return Err(e);
            }
            crate::log_error!("{}", e.message());
        }
        Ok(server)
    }

    pub fn options(&self) -> &Options {
        &self.options
    }
    /// Whether a response cache is configured.
    pub fn cache_enabled(&self) -> bool {
        self.cache.is_some()
    }
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.rate_limiter
    }
    /// Count an API call on this server until the guard is dropped (the C API shell does this
    /// for every call given a server): stop and delete wait for calls in flight.
    pub fn enter_call(&self) -> CallGuard<'_> {
        self.calls.enter()
    }
    pub fn state(&self) -> ServerState {
        ServerState::from_u8(self.state.load(Ordering::Acquire))
    }
    fn set_state(&self, s: ServerState) {
        self.state.store(s as u8, Ordering::Release);
    }
    pub fn repository(&self) -> &Repository {
        &self.repo
    }
    pub fn weak(&self) -> Weak<Server> {
        self.weak_self.clone()
    }
    pub fn set_exit_timeout(&self, secs: u32) {
        self.exit_timeout_secs.store(secs, Ordering::Release);
    }
    pub fn exit_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.exit_timeout_secs.load(Ordering::Acquire)))
    }

    /// Liveness: an error once the server is exiting; otherwise live unless it never finished
    /// initializing.
    pub fn is_live(&self) -> Result<bool> {
        match self.state() {
            ServerState::Exiting => Err(Error::unavailable("Server exiting")),
            ServerState::Ready => Ok(true),
            _ => Ok(false),
        }
    }

    /// The loaded model for a name and version (-1: the highest READY version). With model
    /// namespacing the name must be that of one tracked model (upstream's ambiguity error
    /// otherwise), and errors name the model as `<namespace>::<name>`, as upstream.
    pub fn get_model(&self, name: &str, version: i64) -> Result<Arc<Model>> {
        match self.state() {
            ServerState::Ready | ServerState::Exiting => {}
            _ => return Err(Error::unavailable("Server not ready")),
        }
        let table = self.repo.snapshot();
        let id = self.resolve(&table, name)?;
        // Displays as `<namespace>::<name>`; formatted only into an error message.
        let name = &id;
        let entry = table.models.get(&id).ok_or_else(|| {
            Error::not_found(format!("Request for unknown model: '{name}' is not found"))
        })?;
        let picked = entry.pick(version);
        match picked {
            Some((_, slot)) if slot.state == ModelState::Ready => slot
                .model
                .clone()
                .ok_or_else(|| Error::unavailable(format!("Request for unknown model: '{name}' version {version} is not at ready state"))),
            Some(_) => Err(Error::unavailable(format!(
                "Request for unknown model: '{name}' version {version} is not at ready state"
            ))),
            None if version == -1 => Err(Error::not_found(format!(
                "Request for unknown model: '{name}' has no available versions"
            ))),
            None => Err(Error::not_found(format!(
                "Request for unknown model: '{name}' version {version} is not found"
            ))),
        }
    }

    /// Server metadata: `{"name", "version", "extensions"}`.
    pub fn metadata(&self) -> Result<serde_json::Value> {
        self.require_ready()?;
        Ok(serde_json::json!({
            "name": self.options.server_id,
            "version": TRITON_VERSION,
            "extensions": EXTENSIONS,
        }))
    }

    /// The repository index: every model directory, with each tracked version's state.
    pub fn model_index(&self, ready_only: bool) -> Result<serde_json::Value> {
        self.require_ready()?;
        // By (namespace, name): with namespacing, the same name in two repositories is listed
        // twice, ordered by repository path, and no entry says which is which (as upstream).
        let on_disk = self.repo.scan(self.namespacing());
        let table = self.repo.snapshot();
        // Only what is in the repositories now, as upstream.
        let mut out = Vec::new();
        for (id, dirs) in &on_disk {
            let name = &id.name;
            // Listed even in a READY-only index, as upstream does.
            if dirs.len() > 1 {
                out.push(serde_json::json!({
                    "name": name,
                    "state": ModelState::Unavailable.name(),
                    "reason": load_model::DUPLICATE_REASON,
                }));
                continue;
            }
            let entry = table.models.get(id);
            match entry {
                // Tracked with no version (none under its version policy): not listed.
                Some(e) if e.versions.is_empty() => {}
                Some(e) => {
                    for (v, slot) in &e.versions {
                        if ready_only && slot.state != ModelState::Ready {
                            continue;
                        }
                        let mut o = serde_json::json!({
                            "name": name,
                            "version": v.to_string(),
                            "state": slot.state.name(),
                        });
                        if !slot.reason.is_empty() {
                            o["reason"] = slot.reason.clone().into();
                        }
                        out.push(o);
                    }
                }
                None if !ready_only => out.push(serde_json::json!({ "name": name })),
                _ => {}
            }
        }
        Ok(serde_json::Value::Array(out))
    }

    fn require_ready(&self) -> Result<()> {
        if self.state() == ServerState::Ready {
            Ok(())
        } else {
            Err(Error::unavailable("Server not ready"))
        }
    }

    fn control_mode(&self) -> ModelControlMode {
        self.options.control_mode
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("state", &self.state())
            .finish()
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_infer;
#[cfg(test)]
mod tests_namespacing;
#[cfg(test)]
mod tests_plugins;
