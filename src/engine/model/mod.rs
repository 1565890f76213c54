//! Loaded models (`TRITONBACKEND_Model`), their instances (`TRITONBACKEND_ModelInstance`), and
//! the lifecycle states the repository reports for them.

mod config_update;
mod instance;
mod warmup;

pub use config_update::apply_backend_update;

use std::collections::HashMap;
use std::ffi::{c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

pub use instance::Instance;
use triton_model_config as mc;
use triton_model_config::pb;

use super::backend::{c_string, Backend};
use super::error::{Error, Result};
use super::infer::{InferenceRequest, ModelStats};
use super::scheduler::Scheduler;
use super::server::Server;

/// Lifecycle state of a model version, with upstream's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelState {
    Unknown,
    Ready,
    Unavailable,
    Loading,
    Unloading,
}

impl ModelState {
    pub fn name(self) -> &'static str {
        match self {
            ModelState::Unknown => "UNKNOWN",
            ModelState::Ready => "READY",
            ModelState::Unavailable => "UNAVAILABLE",
            ModelState::Loading => "LOADING",
            ModelState::Unloading => "UNLOADING",
        }
    }
}

/// The reason recorded for a version that was unloaded.
pub const REASON_UNLOADED: &str = "unloaded";

/// One loaded version of a model, as a backend sees it.
pub struct Model {
    name: CString,
    version: i64,
    model_dir: CString,
    config: RwLock<Arc<pb::ModelConfig>>,
    auto_complete: bool,
    /// The backend serving the model; `None` for models the core serves itself (ensembles).
    backend: Option<Arc<Backend>>,
    server: Weak<Server>,
    state: AtomicPtr<c_void>,
    instances: OnceLock<Vec<Arc<Instance>>>,
    initialized: AtomicBool,
    config_set_by_backend: AtomicBool,
    scheduler: OnceLock<Arc<Scheduler>>,
    inflight: AtomicUsize,
    /// Response factories backends hold (see `infer::BackendFactory`).
    factories: AtomicUsize,
    stats: ModelStats,
    /// Classification labels by output name, from each output's `label_filename`.
    labels: OnceLock<HashMap<String, Vec<CString>>>,
    /// Every output name, for requests that name none (built on first use, after the
    /// configuration is final).
    output_names: OnceLock<Arc<[CString]>>,
}

impl Model {
    /// A model object, not yet initialized by its backend.
    pub(crate) fn new(
        name: &str,
        version: i64,
        model_dir: &Path,
        config: pb::ModelConfig,
        auto_complete: bool,
        backend: Option<Arc<Backend>>,
        server: Weak<Server>,
    ) -> Arc<Model> {
        Arc::new(Model {
            name: c_string(name),
            version,
            model_dir: c_string(&model_dir.to_string_lossy()),
            config: RwLock::new(Arc::new(config)),
            auto_complete,
            backend,
            server,
            state: AtomicPtr::new(std::ptr::null_mut()),
            instances: OnceLock::new(),
            initialized: AtomicBool::new(false),
            config_set_by_backend: AtomicBool::new(false),
            scheduler: OnceLock::new(),
            inflight: AtomicUsize::new(0),
            factories: AtomicUsize::new(0),
            stats: ModelStats::default(),
            labels: OnceLock::new(),
            output_names: OnceLock::new(),
        })
    }

    pub fn name(&self) -> &str {
        self.name.to_str().unwrap_or_default()
    }
    pub fn name_c(&self) -> &CStr {
        &self.name
    }
    pub fn version(&self) -> i64 {
        self.version
    }
    /// The model directory (not the version directory).
    pub fn model_dir(&self) -> PathBuf {
        PathBuf::from(self.model_dir.to_string_lossy().into_owned())
    }
    pub fn model_dir_c(&self) -> &CStr {
        &self.model_dir
    }
    /// The configuration in force.
    pub fn config(&self) -> Arc<pb::ModelConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    /// The configuration as upstream's JSON.
    pub fn config_json(&self) -> Result<String> {
        Ok(triton_model_config::to_json(&self.config())?)
    }
    /// Replace the configuration with what a backend completed (`TRITONBACKEND_ModelSetConfig`).
    /// Only the fields upstream takes from a backend are used.
    pub fn set_config_from_backend(&self, json: &str) -> Result<()> {
        let proposed = triton_model_config::from_json(json)?;
        let mut guard = self.config.write().unwrap_or_else(|p| p.into_inner());
        let updated = apply_backend_update(&guard, &proposed)?;
        *guard = Arc::new(updated);
        self.config_set_by_backend.store(true, Ordering::Release);
        Ok(())
    }
    pub fn auto_complete(&self) -> bool {
        self.auto_complete
    }
    /// The backend serving the model (`None` for ensembles).
    pub fn backend(&self) -> Option<&Arc<Backend>> {
        self.backend.as_ref()
    }
    /// The server that owns the model (gone once the server is deleted).
    pub fn server(&self) -> &Weak<Server> {
        &self.server
    }
    pub fn state(&self) -> *mut c_void {
        self.state.load(Ordering::Acquire)
    }
    pub fn set_state(&self, state: *mut c_void) {
        self.state.store(state, Ordering::Release);
    }
    /// The instances serving the model; empty until the model is initialized.
    pub fn instances(&self) -> &[Arc<Instance>] {
        self.instances.get().map(Vec::as_slice).unwrap_or(&[])
    }

    /// Run the backend's initialization of this model, check the (possibly completed)
    /// configuration, then initialize each configured instance. On an error everything
    /// initialized so far is finalized again, in reverse order.
    pub(crate) fn initialize(self: &Arc<Self>, config_provided: bool) -> Result<()> {
        let Some(backend) = &self.backend else {
            self.check_config(config_provided)?;
            let _ = self.instances.set(Vec::new());
            return Ok(());
        };
        let lib = backend.library().clone();
        lib.model_initialize(self)?;
        self.initialized.store(true, Ordering::Release);
        if let Err(e) = self.check_config(config_provided) {
            self.finalize_model();
            return Err(e);
        }
        let config = self.config();
        let mut instances: Vec<Arc<Instance>> = Vec::new();
        let server = self.server.upgrade();
        for group in &config.instance_group {
            for mut settings in instance::settings_for_group(group)? {
                if let Some(s) = &server {
                    if let Some(p) = s.options().host_policies.get(&settings.host_policy) {
                        settings.host_policy_settings = p.clone();
                    }
                }
                for c in 0..group.count.max(0) {
                    let inst = Instance::new(
                        &format!("{}_{}", group.name, c),
                        &settings,
                        group,
                        Arc::downgrade(self),
                    );
                    let registered = match &server {
                        Some(s) => s.rate_limiter().register(inst.needs()),
                        None => Ok(()),
                    };
                    if let Err(e) = registered.and_then(|()| lib.instance_initialize(&inst)) {
                        for done in instances.iter().rev() {
                            done.finalize();
                        }
                        self.finalize_model();
                        return Err(e);
                    }
                    inst.mark_initialized();
                    instances.push(inst.clone());
                    if let Err(e) = warmup::run(self, &inst) {
                        for done in instances.iter().rev() {
                            done.finalize();
                        }
                        self.finalize_model();
                        return Err(e);
                    }
                }
            }
        }
        let sequences =
            match crate::engine::sequence::Sequences::from_config(&config, &self.model_dir()) {
                Ok(s) => s,
                Err(e) => {
                    for done in instances.iter().rev() {
                        done.finalize();
                    }
                    self.finalize_model();
                    return Err(e);
                }
            };
        let scheduler = Scheduler::start(self, &instances, sequences);
        let _ = self.instances.set(instances);
        let _ = self.scheduler.set(scheduler);
        Ok(())
    }

    /// Statistics of this version.
    pub fn stats(&self) -> &ModelStats {
        &self.stats
    }

    /// Requests waiting in the queue for execution (the pending-request gauge).
    pub fn queued(&self) -> usize {
        self.scheduler.get().map_or(0, |s| s.queued())
    }

    /// Requests accepted and not yet released.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Acquire)
    }

    /// Queue a validated request for execution. On an error the caller keeps the request.
    pub fn enqueue(
        &self,
        request: Box<InferenceRequest>,
    ) -> std::result::Result<(), (Error, Box<InferenceRequest>)> {
        let Some(scheduler) = self.scheduler.get() else {
            return Err((
                Error::unavailable(format!(
                    "model '{}' version {} cannot execute requests",
                    self.name(),
                    self.version
                )),
                request,
            ));
        };
        self.inflight.fetch_add(1, Ordering::AcqRel);
        scheduler.enqueue(request).inspect_err(|_| {
            self.inflight.fetch_sub(1, Ordering::AcqRel);
        })
    }

    pub(crate) fn factory_created(&self) {
        self.factories.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn factory_dropped(&self) {
        let _ = self
            .factories
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// A request was accepted without going through [`Model::enqueue`] (answered from the
    /// response cache); its release balances this.
    pub(crate) fn request_accepted(&self) {
        self.inflight.fetch_add(1, Ordering::AcqRel);
    }

    /// A request of this model was released.
    pub(crate) fn request_released(&self) {
        let _ = self
            .inflight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Run one batch on an instance; requests the backend refused get the error.
    pub(crate) fn execute(&self, instance: &Instance, batch: Vec<Box<InferenceRequest>>) {
        let Some(backend) = &self.backend else {
            for r in batch {
                r.fail(&Error::unsupported(
                    "model has no backend to execute requests",
                ));
            }
            return;
        };
        let server = self.server.upgrade();
        if let Some(s) = &server {
            s.rate_limiter().acquire(instance.needs());
        }
        let result = backend.library().execute(instance, batch);
        if let Some(s) = &server {
            s.rate_limiter().release(instance.needs());
        }
        if let Err((e, requests)) = result {
            for r in requests {
                self.stats
                    .report_failure(r.request_start_ns.load(Ordering::Acquire));
                r.fail(&e);
            }
        }
    }

    /// The scheduler, once the model is ready (tests).
    #[cfg(test)]
    pub(crate) fn scheduler(&self) -> Option<&Arc<crate::engine::scheduler::Scheduler>> {
        self.scheduler.get()
    }

    /// Stop taking requests, let queued and running ones finish, and stop the instance
    /// threads, waiting until `deadline`. False when requests were still in flight then.
    pub(crate) fn drain(&self, deadline: Instant) -> bool {
        let Some(scheduler) = self.scheduler.get() else {
            return true;
        };
        scheduler.stop_accepting();
        let busy = || self.inflight() > 0 || self.factories.load(Ordering::Acquire) > 0;
        while busy() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        let drained = !busy();
        let stopped = scheduler.shutdown(deadline);
        if !drained || !stopped {
            crate::log_error!(
                "model '{}' version {}: {} request(s) and {} response factory(ies) still in use after the exit timeout; finalizing anyway",
                self.name(),
                self.version,
                self.inflight(),
                self.factories.load(Ordering::Acquire)
            );
        }
        drained && stopped
    }

    /// After the backend's model initialization: a configuration must exist (given, or completed
    /// by the backend) and be valid.
    fn check_config(&self, config_provided: bool) -> Result<()> {
        if !config_provided && !self.config_set_by_backend.load(Ordering::Acquire) {
            return Err(Error::not_found(format!(
                "model configuration is not provided for model '{}'",
                self.name()
            )));
        }
        let config = self.config();
        mc::validate_model_config(&config)?;
        mc::validate_io_config(&config)?;
        let mut labels = HashMap::new();
        for out in config
            .output
            .iter()
            .filter(|o| !o.label_filename.is_empty())
        {
            let path = self.model_dir().join(&out.label_filename);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::internal(format!(
                    "failed to read label file '{}': {e}",
                    path.display()
                ))
            })?;
            labels.insert(out.name.clone(), text.lines().map(c_string).collect());
        }
        let _ = self.labels.set(labels);
        Ok(())
    }

    /// The names of all outputs of the model.
    pub fn output_names(&self) -> Arc<[CString]> {
        self.output_names
            .get_or_init(|| {
                self.config()
                    .output
                    .iter()
                    .map(|o| c_string(&o.name))
                    .collect()
            })
            .clone()
    }

    /// The classification label of class `index` of an output, if the model has labels.
    pub fn label(&self, output: &str, index: usize) -> Option<&CStr> {
        self.labels
            .get()?
            .get(output)?
            .get(index)
            .map(CString::as_c_str)
            .filter(|l| !l.is_empty())
    }

    /// Wait for requests in flight (up to the server's exit timeout), stop the instance
    /// threads, then finalize every instance (in reverse order of creation) and the model.
    pub(crate) fn finalize(&self) {
        let timeout = self
            .server
            .upgrade()
            .map(|s| s.exit_timeout())
            .unwrap_or(Duration::from_secs(30));
        self.drain(Instant::now() + timeout);
        for inst in self.instances().iter().rev() {
            inst.finalize();
        }
        self.finalize_model();
    }

    fn finalize_model(&self) {
        let Some(backend) = &self.backend else {
            return;
        };
        if self.initialized.swap(false, Ordering::AcqRel) {
            if let Err(e) = backend.library().model_finalize(self) {
                crate::log_error!(
                    "failed to finalize model '{}' version {}: {}",
                    self.name(),
                    self.version,
                    e.message()
                );
            }
        }
    }

    /// Runtime readiness: `Ok` when every instance reports ready (instances of backends without
    /// a readiness hook always do). The first instance that is not ready gives the error.
    /// Instances whose backend readiness check fails, with the error (all of them, or only the
    /// first with `first_only`).
    pub fn instances_not_ready(&self, first_only: bool) -> Vec<(Option<String>, Error)> {
        let Some(backend) = &self.backend else {
            return Vec::new();
        };
        let lib = backend.library();
        let mut out = Vec::new();
        for inst in self.instances() {
            if let Err(e) = lib.instance_ready(inst) {
                out.push((Some(inst.name().to_owned()), e));
                if first_only {
                    break;
                }
            }
        }
        out
    }

    pub fn check_ready(&self) -> Result<()> {
        let Some(backend) = &self.backend else {
            return Ok(());
        };
        let lib = backend.library();
        for inst in self.instances() {
            lib.instance_ready(inst)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish()
    }
}
