//! The server: lifecycle state, liveness, readiness, metadata, and model control.

mod ensemble;
mod infer;
mod lifecycle;
mod metadata;
mod options;
mod plugins;
pub mod poll;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

pub use options::Options;
pub use plugins::Plugins;

use super::backend::{BackendManager, LibraryLoader};
use super::cache::ResponseCache;
use super::error::{Error, Result};
use super::model::{Model, ModelState, REASON_UNLOADED};
use super::repoagent::AgentManager;
use super::repository::{ConfigOptions, ModelId, Repository};
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

/// Why a strict readiness check failed: the first model version found not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    pub model: String,
    /// The model's namespace (its repository with model namespacing on, else empty).
    pub namespace: String,
    pub version: Option<i64>,
    /// The instance whose backend readiness check failed, if that is the reason.
    pub instance: Option<String>,
    pub reason: String,
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
    rate_limiter: crate::engine::ratelimit::RateLimiter,
    /// Background unloads, finished by a few threads rather than one each.
    unloads: UnloadPool,
}

/// A job finishing one model's unload.
type UnloadJob = Box<dyn FnOnce() + Send>;

/// Runs background unloads on at most [`UnloadPool::THREADS`] threads, started on demand and
/// gone when the queue is empty. Stopping a server with many models so costs a few threads,
/// not one per model.
#[derive(Default)]
struct UnloadPool {
    queue: std::sync::Mutex<(std::collections::VecDeque<UnloadJob>, usize)>,
}

impl UnloadPool {
    const THREADS: usize = 4;

    fn submit(&self, server: &Arc<Server>, job: UnloadJob) {
        let mut q = crate::engine::backend::lock(&self.queue);
        q.0.push_back(job);
        if q.1 >= Self::THREADS {
            return;
        }
        q.1 += 1;
        drop(q);
        let s = server.clone();
        let spawned = std::thread::Builder::new()
            .name("triton-unload".into())
            .spawn(move || loop {
                let job = {
                    let mut q = crate::engine::backend::lock(&s.unloads.queue);
                    match q.0.pop_front() {
                        Some(j) => j,
                        None => {
                            q.1 -= 1;
                            return;
                        }
                    }
                };
                job();
            });
        if let Err(e) = spawned {
            crate::log_error!("failed to start an unload thread ({e}); unloading inline");
            let mut q = crate::engine::backend::lock(&self.queue);
            q.1 -= 1;
            let jobs: Vec<UnloadJob> = q.0.drain(..).collect();
            drop(q);
            for j in jobs {
                j();
            }
        }
    }
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
            rate_limiter: crate::engine::ratelimit::RateLimiter::new(
                rate_limit,
                &rate_limit_resources,
            ),
            unloads: UnloadPool::default(),
        });
        let result = server.load_startup_models();
        server.log_options_table();
        server.set_state(ServerState::Ready);
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
    pub fn rate_limiter(&self) -> &crate::engine::ratelimit::RateLimiter {
        &self.rate_limiter
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

    /// Readiness. With strict readiness: the server is READY and every tracked model version is
    /// READY and passes its backend's runtime readiness check, ignoring versions that were
    /// unloaded. Otherwise the server state alone. Takes no lock.
    pub fn is_ready(&self) -> Result<bool> {
        Ok(self.readiness()?.is_ok())
    }

    /// Readiness with the reason: `Ok(Err(..))` names the first version found not ready.
    pub fn readiness(&self) -> Result<std::result::Result<(), NotReady>> {
        Ok(match self.not_ready(true)?.into_iter().next() {
            Some(first) => Err(first),
            None => Ok(()),
        })
    }

    /// Every model version (and, for READY versions, every instance) that keeps the server
    /// from being ready; empty when it is ready. With `first_only` the walk stops at the first
    /// problem (what a health probe needs).
    pub fn not_ready(&self, first_only: bool) -> Result<Vec<NotReady>> {
        match self.state() {
            ServerState::Exiting => return Err(Error::unavailable("Server exiting")),
            ServerState::Ready => {}
            _ => {
                return Ok(vec![NotReady {
                    model: String::new(),
                    namespace: String::new(),
                    version: None,
                    instance: None,
                    reason: "server is not ready".into(),
                }])
            }
        }
        if !self.options.strict_readiness {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let table = self.repo.snapshot();
        for (id, entry) in &table.models {
            let name = &id.name;
            let namespace = &id.namespace;
            if entry.versions.is_empty() {
                if !entry.unloaded {
                    out.push(NotReady {
                        model: name.clone(),
                        namespace: namespace.clone(),
                        version: None,
                        instance: None,
                        reason: entry.reason.clone(),
                    });
                }
                if first_only && !out.is_empty() {
                    return Ok(out);
                }
                continue;
            }
            for (v, slot) in &entry.versions {
                let before = out.len();
                match slot.state {
                    ModelState::Ready => match &slot.model {
                        Some(m) => {
                            for (instance, e) in m.instances_not_ready(first_only) {
                                out.push(NotReady {
                                    model: name.clone(),
                                    namespace: namespace.clone(),
                                    version: Some(*v),
                                    instance,
                                    reason: e.message().to_owned(),
                                });
                            }
                        }
                        None => out.push(NotReady {
                            model: name.clone(),
                            namespace: namespace.clone(),
                            version: Some(*v),
                            instance: None,
                            reason: "model is not available".into(),
                        }),
                    },
                    ModelState::Unavailable if slot.reason == REASON_UNLOADED => {}
                    other => out.push(NotReady {
                        model: name.clone(),
                        namespace: namespace.clone(),
                        version: Some(*v),
                        instance: None,
                        reason: if slot.reason.is_empty() {
                            format!("version is {}", other.name())
                        } else {
                            slot.reason.clone()
                        },
                    }),
                }
                for n in &out[before..] {
                    crate::log_verbose!(1, "Model '{id}' version {v} is not ready: {}", n.reason);
                }
                if first_only && !out.is_empty() {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// The readiness report as JSON: `{"ready": bool, "not_ready": [{"model", "version",
    /// "state", "instance", "reason"}]}` (what `TRITONSERVER_ServerReadinessReport` returns).
    pub fn readiness_report(&self) -> Result<serde_json::Value> {
        let items = self.not_ready(false)?;
        let table = self.repo.snapshot();
        let list: Vec<serde_json::Value> = items
            .iter()
            .map(|n| {
                let id = ModelId::new(n.namespace.clone(), n.model.clone());
                let mut o = serde_json::json!({ "model": id.to_string(), "reason": n.reason });
                if let Some(v) = n.version {
                    o["version"] = v.to_string().into();
                    if let Some(slot) = table.models.get(&id).and_then(|e| e.versions.get(&v)) {
                        o["state"] = slot.state.name().into();
                    }
                } else if !n.model.is_empty() {
                    o["state"] = ModelState::Unavailable.name().into();
                }
                if let Some(i) = &n.instance {
                    o["instance"] = i.clone().into();
                }
                o
            })
            .collect();
        Ok(serde_json::json!({ "ready": list.is_empty(), "not_ready": list }))
    }

    /// Model readiness: the version (-1: the highest READY one) is READY and its instances pass
    /// the backend's readiness check. An unknown (or, with namespacing, ambiguous) model or
    /// version is not ready (no error).
    pub fn model_is_ready(&self, name: &str, version: i64) -> Result<bool> {
        if self.state() != ServerState::Ready {
            return Err(Error::unavailable("Server not ready"));
        }
        let table = self.repo.snapshot();
        let Ok(id) = self.resolve(&table, name) else {
            return Ok(false);
        };
        let Some(entry) = table.models.get(&id) else {
            return Ok(false);
        };
        let Some((v, slot)) = entry.pick(version) else {
            return Ok(false);
        };
        if slot.state != ModelState::Ready {
            return Ok(false);
        }
        let Some(model) = &slot.model else {
            return Ok(false);
        };
        match model.check_ready() {
            Ok(()) => Ok(true),
            Err(e) => {
                crate::log_verbose!(
                    1,
                    "Model '{name}' version {v} is not ready: {}",
                    e.message()
                );
                Ok(false)
            }
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
                    "reason": lifecycle::DUPLICATE_REASON,
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

    /// Stop the server: refuse new work, unload every model, wait for that up to the exit
    /// timeout. Stopping twice is harmless.
    pub fn stop(&self) -> Result<()> {
        self.stop_with(false)
    }

    fn stop_with(&self, force: bool) -> Result<()> {
        let state = self.state();
        if state != ServerState::Ready && !force {
            return Ok(());
        }
        self.set_state(ServerState::Exiting);
        let ids: Vec<ModelId> = self.repo.snapshot().models.keys().cloned().collect();
        // Unload every model in parallel; all of them share one deadline.
        for id in ids {
            if let Err(e) = self.unload_model_inner(&id, true) {
                crate::log_error!("failed to unload model '{id}': {}", e.message());
            }
        }
        let done = self.repo.pending.wait_idle(self.exit_timeout());
        self.backends.clear();
        self.agents.clear();
        if done {
            Ok(())
        } else {
            Err(Error::internal(
                "Exit timeout expired. Exiting immediately.",
            ))
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
