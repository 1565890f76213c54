//! The server: lifecycle state, liveness, readiness, metadata, and model control.

mod ensemble;
mod infer;
mod lifecycle;
mod metadata;
mod options;
mod plugins;
pub mod poll;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

pub use options::Options;
pub use plugins::Plugins;

use super::backend::{BackendManager, LibraryLoader};
use super::cache::ResponseCache;
use super::error::{Error, Result};
use super::model::{
    check_instances, CellReport, Instance, Model, ModelContext, ModelState, ReadinessSettings,
    REASON_UNLOADED,
};
use super::ratelimit::RateLimiter;
use super::repoagent::AgentManager;
use super::repository::{ConfigOptions, ModelId, ModelTable, Repository};
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

/// Why a strict readiness check failed: the first model version found not ready.
#[derive(Debug, Clone, PartialEq)]
pub struct NotReady {
    pub model: String,
    /// The model's namespace (its repository with model namespacing on, else empty).
    pub namespace: String,
    pub version: Option<i64>,
    /// The instance whose backend readiness check failed, if that is the reason.
    pub instance: Option<String>,
    pub reason: String,
    /// What the instance's readiness state shows (since when, hook latency, restarts).
    pub detail: Option<CellReport>,
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
                    detail: None,
                }])
            }
        }
        if !self.options.strict_readiness {
            return Ok(Vec::new());
        }
        let table = self.repo.snapshot();
        let items = serving_instances(&table);
        let answers = check_instances(&items, &self.readiness);
        let mut answers = items.iter().zip(answers);
        let mut out = Vec::new();
        for (id, entry) in &table.models {
            let name = &id.name;
            let namespace = &id.namespace;
            let item = |version: Option<i64>, instance: Option<String>, reason: String| NotReady {
                model: name.clone(),
                namespace: namespace.clone(),
                version,
                instance,
                reason,
                detail: None,
            };
            if entry.versions.is_empty() {
                if !entry.unloaded {
                    out.push(item(None, None, entry.reason.clone()));
                }
                if first_only && !out.is_empty() {
                    return Ok(out);
                }
                continue;
            }
            for (v, slot) in &entry.versions {
                let before = out.len();
                match (slot.state, &slot.model) {
                    (ModelState::Ready, Some(m)) if m.is_retired() => out.push(item(
                        Some(*v),
                        None,
                        crate::engine::model::REASON_UNLOADING.into(),
                    )),
                    (ModelState::Ready, Some(m)) if m.backend().is_some() => {
                        for _ in m.instances() {
                            let Some(((_, inst), answer)) = answers.next() else {
                                break;
                            };
                            if let Some(e) = answer {
                                let mut n = item(
                                    Some(*v),
                                    Some(inst.name().to_owned()),
                                    e.message().into(),
                                );
                                n.detail = Some(inst.ready_cell().report());
                                out.push(n);
                                if first_only {
                                    break;
                                }
                            }
                        }
                    }
                    (ModelState::Ready, Some(_)) => {}
                    (ModelState::Ready, None) => {
                        out.push(item(Some(*v), None, "model is not available".into()))
                    }
                    (ModelState::Unavailable, _) if slot.reason == REASON_UNLOADED => {}
                    (other, _) => out.push(item(
                        Some(*v),
                        None,
                        if slot.reason.is_empty() {
                            format!("version is {}", other.name())
                        } else {
                            slot.reason.clone()
                        },
                    )),
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

    /// Check every serving instance in the background every `interval` (the readiness
    /// monitor), so that readiness state, its metrics and instance restarts do not depend on
    /// someone asking. Ends once the server stops or is gone.
    fn schedule_monitor(weak: Weak<Server>, interval: Duration) {
        crate::engine::workers::at(Instant::now() + interval, "readiness monitor", move || {
            let Some(s) = weak.upgrade() else { return };
            match s.state() {
                ServerState::Exiting | ServerState::FailedToInitialize => return,
                ServerState::Ready => {
                    let table = s.repo.snapshot();
                    let items = serving_instances(&table);
                    let _ = check_instances(&items, &s.readiness);
                }
                _ => {}
            }
            drop(s);
            Server::schedule_monitor(weak, interval);
        });
    }

    /// The readiness report as JSON: `{"ready": bool, "not_ready": [{"model", "version",
    /// "state", "instance", "reason"}]}` (what `TRITONRS_ServerReadinessReport` returns).
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
                if let Some(d) = &n.detail {
                    if let Some(t) = d.since {
                        o["since"] = crate::engine::log::rfc3339(t).into();
                    }
                    if let Some(us) = d.last_latency_us {
                        o["last_check_us"] = us.round().into();
                    }
                    o["transitions"] = d.transitions.into();
                    o["check_timeouts"] = d.timeouts.into();
                    o["restarts"] = d.restarts.into();
                    o["restart_failures"] = d.restart_failures.into();
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
        let deadline = Instant::now() + self.exit_timeout();
        // Calls that started before the stop finish first: a load racing the stop publishes
        // its model before the list of models to unload is taken.
        if !self.calls.wait_earlier(deadline) {
            crate::log_warn!(
                "{} API call(s) still in flight when stopping; unloading anyway",
                self.calls.in_flight()
            );
        }
        let ids: Vec<ModelId> = self.repo.snapshot().models.keys().cloned().collect();
        for id in ids {
            if let Err(e) = self.unload_model_until(&id, Some(deadline)) {
                crate::log_error!("failed to unload model '{id}': {}", e.message());
            }
        }
        let now = Instant::now();
        let done = self
            .retiring
            .wait_idle(deadline.saturating_duration_since(now));
        if !done {
            self.log_stragglers();
        }
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

    /// Wait until every API call that started before now has ended, or the exit timeout
    /// passes (deleting a server: its memory must outlive them).
    pub fn wait_for_calls(&self) -> bool {
        self.calls
            .wait_earlier(Instant::now() + self.exit_timeout())
    }

    /// Log the model versions still not finalized at the exit timeout, with their uses.
    fn log_stragglers(&self) {
        for (id, e) in &self.repo.snapshot().models {
            for (v, slot) in &e.versions {
                if let Some(m) = slot.model.as_ref().filter(|m| !m.is_finalized()) {
                    crate::log_error!(
                        "model '{id}' version {v} was not finalized within the exit timeout: \
                         {} use(s) still held (requests with the backend, or response factories \
                         it holds); it is finalized when they are released",
                        m.uses()
                    );
                }
            }
        }
    }

    /// What a new version of model `id` gets from this server.
    pub(super) fn model_context(&self, id: &ModelId) -> ModelContext {
        let weak = self.weak_self.clone();
        let id = id.clone();
        let server: Weak<dyn std::any::Any + Send + Sync> = self.weak_self.clone();
        ModelContext {
            rate_limiter: self.rate_limiter.clone(),
            host_policies: self.host_policies.clone(),
            retiring: self.retiring.clone(),
            server,
            on_fault: Arc::new(move |model: &Model, reason: &str| {
                if let Some(s) = weak.upgrade() {
                    s.version_faulted(&id, model, reason);
                }
            }),
            readiness: self.readiness.clone(),
        }
    }

    /// A version failed at runtime: UNAVAILABLE with the reason (it keeps its model, so an
    /// unload still retires and finalizes it).
    fn version_faulted(&self, id: &ModelId, model: &Model, reason: &str) {
        self.repo.update(id, |e| {
            if let Some(slot) = e.versions.get_mut(&model.version()) {
                let same = slot
                    .model
                    .as_ref()
                    .is_some_and(|m| std::ptr::eq(Arc::as_ptr(m), model));
                if same && slot.state == ModelState::Ready {
                    slot.state = ModelState::Unavailable;
                    slot.reason = reason.to_owned();
                }
            }
        });
    }

    fn control_mode(&self) -> ModelControlMode {
        self.options.control_mode
    }
}

/// Every instance of every READY version served by a backend, to be checked together (one
/// batch of hook calls, bounded by the readiness hook timeout).
fn serving_instances(table: &ModelTable) -> Vec<(&Arc<Model>, &Arc<Instance>)> {
    let mut items = Vec::new();
    for entry in table.models.values() {
        for slot in entry.versions.values() {
            if let (ModelState::Ready, Some(m)) = (slot.state, &slot.model) {
                if m.backend().is_some() && !m.is_retired() {
                    items.extend(m.instances().iter().map(|i| (m, i)));
                }
            }
        }
    }
    items
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
