//! A model version's life with its backend: initialization (model, then each instance, then
//! warmup), retirement, and finalization once retired and unused (see [`super::life`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::instance::{settings_for_group, Instance};
use super::{warmup, Model};
use crate::engine::error::Result;
use crate::engine::sequence::Sequences;
use crate::engine::sync::lock;
use crate::engine::workers;

impl Model {
    /// Run the backend's initialization of this model, check the (possibly completed)
    /// configuration, then initialize each configured instance and run its warmup. On an error
    /// everything initialized so far is finalized again, in reverse order.
    pub(crate) fn initialize(self: &Arc<Self>, config_provided: bool) -> Result<()> {
        let Some(backend) = &self.backend else {
            self.check_config(config_provided)?;
            let _ = self.instances.set(Vec::new());
            return Ok(());
        };
        let lib = backend.library().clone();
        lib.model_initialize(self)?;
        self.initialized.store(true, Ordering::Release);
        let mut instances: Vec<Arc<Instance>> = Vec::new();
        let result = self.initialize_instances(config_provided, &mut instances);
        if let Err(e) = result {
            for done in instances.iter().rev() {
                done.finalize(lib.as_ref());
            }
            self.finalize_model();
            return Err(e);
        }
        Ok(())
    }

    fn initialize_instances(
        self: &Arc<Self>,
        config_provided: bool,
        instances: &mut Vec<Arc<Instance>>,
    ) -> Result<()> {
        self.check_config(config_provided)?;
        let Some(backend) = &self.backend else {
            return Ok(());
        };
        let lib = backend.library();
        let config = self.config();
        for group in &config.instance_group {
            for mut settings in settings_for_group(group)? {
                if let Some(p) = self.ctx.host_policies.get(&settings.host_policy) {
                    settings.host_policy_settings = p.clone();
                }
                for c in 0..group.count.max(0) {
                    let inst = Instance::new(
                        &format!("{}_{}", group.name, c),
                        &settings,
                        group,
                        Arc::downgrade(self),
                    );
                    self.ctx.rate_limiter.register(inst.needs())?;
                    inst.initialize(lib.as_ref())?;
                    instances.push(inst.clone());
                    warmup::run(self, &inst)?;
                }
            }
        }
        let sequences = Sequences::from_config(&config, &self.model_dir())?;
        let scheduler = crate::engine::scheduler::Scheduler::start(self, instances, sequences);
        let _ = self.instances.set(instances.clone());
        let _ = self.scheduler.set(scheduler);
        Ok(())
    }

    /// Retire the version: it takes no new requests and its readiness answers "unloading"
    /// without asking the backend. Requests already accepted still run; once the last use is
    /// gone the version is finalized on a background thread. Retiring twice does nothing.
    pub(crate) fn retire(self: &Arc<Self>) {
        {
            let mut r = lock(&self.retirement);
            if r.retired {
                return;
            }
            r.retired = true;
        }
        self.ctx.retiring.begin();
        if let Some(s) = self.scheduler.get() {
            s.stop_accepting();
        }
        if self.life.retire() {
            self.finalize_in_background();
        }
    }

    /// Run `f` once the version is finalized (at once, on this thread, if it already is).
    pub(crate) fn when_finalized(&self, f: impl FnOnce() + Send + 'static) {
        let mut r = lock(&self.retirement);
        if r.finalized {
            drop(r);
            f();
        } else {
            r.then.push(Box::new(f));
        }
    }

    /// Whether the version has been finalized.
    pub fn is_finalized(&self) -> bool {
        lock(&self.retirement).finalized
    }

    /// Start the finalization on a background thread (the thread dropping the last use may be
    /// a backend's own, which the finalization could wait for).
    pub(crate) fn finalize_in_background(self: &Arc<Self>) {
        let m = self.clone();
        workers::submit("finalizing a model version", move || {
            m.finalize_now();
            // Counted done only once this reference is gone too, so that a stop that waited
            // for it finds the model (and its hold on the backend) released.
            let retiring = m.ctx.retiring.clone();
            drop(m);
            retiring.end();
        });
    }

    /// Release a version that was never published (a load that failed after creating it):
    /// nothing can use it, so it is finalized on this thread.
    pub(crate) fn discard(self: &Arc<Self>) {
        {
            let mut r = lock(&self.retirement);
            if r.retired {
                return;
            }
            r.retired = true;
        }
        self.ctx.retiring.begin();
        if self.life.retire() {
            self.finalize_now();
            self.ctx.retiring.end();
        } else {
            crate::log_error!(
                "model '{}' version {}: {} use(s) of a version that was never published; it is \
                 finalized when they are released",
                self.name(),
                self.version,
                self.life.uses()
            );
        }
    }

    /// Stop the instance threads, finalize every instance (in reverse order of creation) and
    /// the model, then run what waits for it. Runs once, for a retired version without uses;
    /// the caller then ends its count in the server's retiring versions.
    fn finalize_now(&self) {
        debug_assert!(self.life.is_retired() && self.life.uses() == 0);
        if let Some(s) = self.scheduler.get() {
            s.shutdown();
        }
        if let Some(backend) = &self.backend {
            let lib = backend.library();
            for inst in self.instances().iter().rev() {
                inst.finalize(lib.as_ref());
            }
        }
        self.finalize_model();
        let then = {
            let mut r = lock(&self.retirement);
            r.finalized = true;
            std::mem::take(&mut r.then)
        };
        for f in then {
            workers::guarded("after finalizing a model version", f);
        }
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
}
