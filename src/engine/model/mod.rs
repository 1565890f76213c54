//! Loaded models (`TRITONBACKEND_Model`), their instances (`TRITONBACKEND_ModelInstance`), and
//! the lifecycle states the repository reports for them.

mod config_update;
mod gate;
mod instance;
mod life;
mod lifetime;
mod readiness;
mod restart;
mod warmup;

pub use config_update::apply_backend_update;

use std::collections::{BTreeMap, HashMap};
use std::ffi::{c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

pub use gate::{Entered, Finalizing, Initializing};
pub use instance::Instance;
pub use life::ModelUse;
pub(crate) use readiness::{all_fresh, answers_taken_back, check as check_instances};
pub use readiness::{CellReport, ReadinessSettings, LATENCY_BUCKETS_US};
use triton_model_config as mc;
use triton_model_config::pb;

use super::backend::Backend;
use super::error::{Error, Result};
use super::infer::{InferenceRequest, ModelStats};
use super::ratelimit::RateLimiter;
use super::scheduler::{Scheduler, SchedulerSettings};
use super::sync::c_string;
use super::sync::PendingOps;
use life::Life;

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

/// What a model version is given by its server when it is created: the model never reaches up
/// to the server for them.
#[derive(Clone)]
pub struct ModelContext {
    /// The server's rate limiter (instances register their needs and take turns through it).
    pub rate_limiter: Arc<RateLimiter>,
    /// `--host-policy` settings by policy name.
    pub host_policies: Arc<BTreeMap<String, BTreeMap<String, String>>>,
    /// The server's count of retired versions not yet finalized (stop waits for it).
    pub retiring: Arc<PendingOps>,
    /// The server, as an opaque handle for `TRITONBACKEND_ModelServer`.
    pub server: Weak<dyn std::any::Any + Send + Sync>,
    /// Told when the version fails at runtime (a panic in one of its threads): the server
    /// marks it UNAVAILABLE with the reason.
    pub on_fault: FaultSink,
    /// How readiness checks behave.
    pub readiness: Arc<ReadinessSettings>,
    /// How instance threads wait for work and run.
    pub scheduler: SchedulerSettings,
}

/// Where a model version reports a runtime failure (the version and the reason).
pub type FaultSink = Arc<dyn Fn(&Model, &str) + Send + Sync>;

/// One loaded version of a model, as a backend sees it.
///
/// Lifetime: created and initialized by a load, published in the repository table, retired by
/// an unload, a reload or a stop ([`Model::retire`]), and finalized (instances in reverse
/// order, then the model) on a background thread once it is retired **and** its last use is
/// gone ([`life`]): never while a request of it is with the backend, a backend holds one of its
/// response factories, or a call into the backend with one of its instances is running.
pub struct Model {
    name: CString,
    version: i64,
    model_dir: CString,
    config: RwLock<Arc<pb::ModelConfig>>,
    auto_complete: bool,
    /// The backend serving the model; `None` for models the core serves itself (ensembles).
    backend: Option<Arc<Backend>>,
    ctx: ModelContext,
    state: AtomicPtr<c_void>,
    instances: OnceLock<Vec<Arc<Instance>>>,
    /// The backend's ModelInitialize succeeded and its ModelFinalize has not run yet.
    initialized: AtomicBool,
    config_set_by_backend: AtomicBool,
    scheduler: OnceLock<Arc<Scheduler>>,
    life: Life,
    retirement: Mutex<Retirement>,
    /// Why the version stopped working at runtime (a panic in one of its threads), if it did.
    fault: OnceLock<String>,
    stats: ModelStats,
    /// Classification labels by output name, from each output's `label_filename`.
    labels: OnceLock<HashMap<String, Vec<CString>>>,
    /// Every output name, for requests that name none (built on first use, after the
    /// configuration is final).
    output_names: OnceLock<Arc<[CString]>>,
}

/// What happens around a version's finalization.
#[derive(Default)]
struct Retirement {
    /// `retire` ran (the server's retiring count includes this version).
    retired: bool,
    /// The finalization has run.
    finalized: bool,
    /// Run once the version is finalized.
    then: Vec<Box<dyn FnOnce() + Send>>,
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
        ctx: ModelContext,
    ) -> Arc<Model> {
        Arc::new(Model {
            name: c_string(name),
            version,
            model_dir: c_string(&model_dir.to_string_lossy()),
            config: RwLock::new(Arc::new(config)),
            auto_complete,
            backend,
            ctx,
            state: AtomicPtr::new(std::ptr::null_mut()),
            instances: OnceLock::new(),
            initialized: AtomicBool::new(false),
            config_set_by_backend: AtomicBool::new(false),
            scheduler: OnceLock::new(),
            life: Life::default(),
            retirement: Mutex::new(Retirement::default()),
            fault: OnceLock::new(),
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
        crate::engine::sync::read(&self.config).clone()
    }
    /// The configuration as upstream's JSON.
    pub fn config_json(&self) -> Result<String> {
        Ok(triton_model_config::to_json(&self.config())?)
    }
    /// Replace the configuration with what a backend completed (`TRITONBACKEND_ModelSetConfig`).
    /// Only the fields upstream takes from a backend are used.
    pub fn set_config_from_backend(&self, json: &str) -> Result<()> {
        let proposed = triton_model_config::from_json(json)?;
        let mut guard = crate::engine::sync::write(&self.config);
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
    /// The server that owns the model, as an opaque handle (gone once the server is deleted).
    pub fn server_handle(&self) -> &Weak<dyn std::any::Any + Send + Sync> {
        &self.ctx.server
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
    pub(crate) fn life(&self) -> &Life {
        &self.life
    }
    pub(crate) fn readiness_settings(&self) -> &ReadinessSettings {
        &self.ctx.readiness
    }
    pub(crate) fn scheduler_settings(&self) -> &SchedulerSettings {
        &self.ctx.scheduler
    }
    /// Uses held now: requests accepted and not yet released, response factories held by the
    /// backend.
    pub fn uses(&self) -> usize {
        self.life.uses()
    }
    /// Whether the version was retired (unloaded, replaced or stopped).
    pub fn is_retired(&self) -> bool {
        self.life.is_retired()
    }

    /// Statistics of this version.
    pub fn stats(&self) -> &ModelStats {
        &self.stats
    }

    /// Requests waiting in the queue for execution (the pending-request gauge).
    pub fn queued(&self) -> usize {
        self.scheduler.get().map_or(0, |s| s.queued())
    }

    /// Queue a validated, accepted request for execution. On an error the caller keeps the
    /// request.
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
        scheduler.enqueue(request)
    }

    /// Run one batch on an instance; requests the backend refused get the error. A batch for an
    /// instance whose gate is closed never reaches the backend.
    pub(crate) fn execute(
        self: &Arc<Self>,
        instance: &Instance,
        batch: Vec<Box<InferenceRequest>>,
    ) {
        let mut batch = RequestBatch::new(batch);
        #[cfg(test)]
        if self
            .config()
            .parameters
            .contains_key("test.panic_before_execute")
        {
            panic!("injected panic before execute");
        }
        let Some(backend) = &self.backend else {
            batch.fail_all(&Error::unsupported(
                "model has no backend to execute requests",
            ));
            return;
        };
        let Some(pass) = Entered::new(instance) else {
            batch.fail_all(&Error::unavailable(format!(
                "instance '{}' of model '{}' is not available",
                instance.name(),
                self.name()
            )));
            return;
        };
        let limiter = &self.ctx.rate_limiter;
        limiter.acquire(instance.needs());
        let result = backend.library().execute(&pass, batch.take());
        limiter.release(instance.needs());
        drop(pass);
        if let Err((e, requests)) = result {
            for r in requests {
                self.stats
                    .report_failure(r.request_start_ns.load(Ordering::Acquire));
                r.fail(&e);
            }
            self.execute_failed(instance);
        }
    }

    /// The backend refused a whole batch: the instance may have died (a killed stub). Its
    /// reusable readiness answer is dropped, and with restarts on, a check runs now, so that a
    /// dead instance is found (and restarted) without waiting for the next probe.
    fn execute_failed(self: &Arc<Self>, instance: &Instance) {
        instance.ready_cell().expire_answer();
        if !self.restart_policy().enabled {
            return;
        }
        let Some(inst) = self
            .instances()
            .iter()
            .find(|i| std::ptr::eq(Arc::as_ptr(i), instance))
            .cloned()
        else {
            return;
        };
        let m = self.clone();
        crate::engine::workers::submit("readiness check after a failed execution", move || {
            let _ = readiness::check(&[(&m, &inst)], &m.ctx.readiness);
        });
    }

    /// A thread of this version panicked: remember why and tell the server (which marks the
    /// version UNAVAILABLE with the reason).
    pub(crate) fn report_fault(&self, what: &str) {
        let reason = format!("internal error in triton-core: {what}");
        if self.fault.set(reason.clone()).is_ok() {
            crate::log_error!(
                "model '{}' version {} is not available: {reason}",
                self.name(),
                self.version
            );
            (self.ctx.on_fault)(self, &reason);
        }
    }

    /// Why the version stopped working at runtime, if it did.
    pub fn fault(&self) -> Option<&str> {
        self.fault.get().map(String::as_str)
    }

    /// The scheduler, once the model is ready (tests).
    #[cfg(test)]
    pub(crate) fn scheduler(&self) -> Option<&Arc<crate::engine::scheduler::Scheduler>> {
        self.scheduler.get()
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

    /// Instances whose backend readiness check fails, with the error (all of them, or only the
    /// first with `first_only`). A retired version is not ready ("unloading") without asking
    /// the backend. Bounded by the readiness hook timeout (see `readiness.rs`).
    pub fn instances_not_ready(self: &Arc<Self>, first_only: bool) -> Vec<(Option<String>, Error)> {
        if self.backend.is_none() {
            return Vec::new();
        }
        if self.life.is_retired() {
            return vec![(None, Error::unavailable(REASON_UNLOADING))];
        }
        if all_fresh(self.instances()) {
            return Vec::new();
        }
        let items: Vec<(&Arc<Model>, &Arc<Instance>)> =
            self.instances().iter().map(|i| (self, i)).collect();
        let mut out = Vec::new();
        for (inst, e) in self
            .instances()
            .iter()
            .zip(readiness::check(&items, &self.ctx.readiness))
        {
            if let Some(e) = e {
                out.push((Some(inst.name().to_owned()), e));
                if first_only {
                    break;
                }
            }
        }
        out
    }

    /// Runtime readiness: `Ok` when every instance reports ready (instances of backends without
    /// a readiness hook always do); the first instance that is not ready gives the error.
    pub fn check_ready(self: &Arc<Self>) -> Result<()> {
        match self.instances_not_ready(true).into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }
}

/// The readiness reason of a version being unloaded (its backend is not asked any more).
pub const REASON_UNLOADING: &str = "not ready: unloading";

/// Requests the engine holds between taking them from a queue and handing them to a backend.
/// If they are still here when it is dropped (a panic unwinding through the engine), each gets
/// an INTERNAL error response and is released, so no request is ever lost silently.
pub struct RequestBatch(Vec<Box<InferenceRequest>>);

impl RequestBatch {
    pub(crate) fn new(requests: Vec<Box<InferenceRequest>>) -> RequestBatch {
        RequestBatch(requests)
    }
    pub(crate) fn push(&mut self, request: Box<InferenceRequest>) {
        self.0.push(request);
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Hand the requests on (to the backend, which now owns them).
    pub(crate) fn take(&mut self) -> Vec<Box<InferenceRequest>> {
        std::mem::take(&mut self.0)
    }
    /// Answer every request with `error` and release it.
    pub(crate) fn fail_all(&mut self, error: &Error) {
        for r in self.take() {
            r.fail(error);
        }
    }
}

impl Drop for RequestBatch {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            self.fail_all(&Error::internal(
                "internal error in triton-core: the request was dropped before execution",
            ));
        }
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
