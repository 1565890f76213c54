//! Unloading and stopping: versions are marked UNLOADING and retired; each ends UNAVAILABLE ("unloaded") once
//! finalized in the background, or at the exit timeout while a backend still holds one of its
//! requests (it is then finalized when released). Unloading a model unloads the ensembles that
//! use it; with `dependents`, also the composing models nothing else needs.

use super::ServerState;
use crate::engine::error::Error;
use std::sync::Arc;
use std::time::Instant;

use super::ensemble::ensemble_step_ids;
use super::Server;
use crate::engine::error::Result;
use crate::engine::model::{Model, ModelState, REASON_UNLOADED};
use crate::engine::repository::{validate_model_name, Kept, ModelEntry, ModelId, OpGuard};

/// One unload in progress: it holds the model's operation lock until its versions are all
/// finalized or the exit timeout passes.
pub(super) struct UnloadTicket {
    op: std::sync::Mutex<Option<OpGuard>>,
    remaining: std::sync::atomic::AtomicUsize,
}

impl UnloadTicket {
    pub(super) fn one_done(&self) {
        if self
            .remaining
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            self.release();
        }
    }
    pub(super) fn is_done(&self) -> bool {
        self.remaining.load(std::sync::atomic::Ordering::Acquire) == 0
    }
    pub(super) fn release(&self) {
        let op = crate::engine::sync::lock(&self.op).take();
        drop(op);
    }
}

/// Whether a tracked model still counts as loaded (or loading, or failed): anything but
/// "unloaded".
pub(super) fn is_live(e: &ModelEntry) -> bool {
    if e.versions.is_empty() {
        return !e.unloaded;
    }
    e.versions
        .values()
        .any(|s| !(s.state == ModelState::Unavailable && s.reason == REASON_UNLOADED))
}

/// Whether the lifecycle still tracks a model for by-name lookups (upstream keeps it in its
/// dependency graph): loaded, loading or failed, and not being or been unloaded (except an
/// ensemble unloaded because of a composing model).
pub(super) fn in_graph(e: &ModelEntry) -> bool {
    if e.kept.is_some() {
        return true;
    }
    if e.versions.is_empty() {
        return !e.unloaded;
    }
    e.versions.values().any(|s| {
        s.state != ModelState::Unloading
            && !(s.state == ModelState::Unavailable && s.reason == REASON_UNLOADED)
    })
}

impl Server {
    /// `TRITONSERVER_ServerUnloadModel`: start unloading every version of a model, and of the
    /// ensembles that use it. Unloading an unknown model does nothing.
    pub fn unload_model(&self, name: &str) -> Result<()> {
        self.check_explicit_allowed()?;
        self.unload_with_dependents(name, false)
    }

    /// `TRITONSERVER_ServerUnloadModelAndDependents`: as [`Server::unload_model`], and also the
    /// composing models of an ensemble that were loaded only because of it.
    pub fn unload_model_and_dependents(&self, name: &str) -> Result<()> {
        self.check_explicit_allowed()?;
        self.unload_with_dependents(name, true)
    }

    /// Unload a model and the ensembles that use it; with `dependents`, also the composing
    /// models of an ensemble that nothing else needs and that were not loaded by request. With
    /// namespacing, every model of that name the lifecycle tracks is unloaded, as upstream.
    pub(super) fn unload_with_dependents(&self, name: &str, dependents: bool) -> Result<()> {
        validate_model_name(name)?;
        if !self.namespacing() {
            return self.unload_id_with_dependents(&ModelId::plain(name), dependents);
        }
        let table = self.repo.snapshot();
        for (id, _) in table.named(name).filter(|(_, e)| in_graph(e)) {
            self.unload_id_with_dependents(id, dependents)?;
        }
        Ok(())
    }

    pub(super) fn unload_id_with_dependents(&self, id: &ModelId, dependents: bool) -> Result<()> {
        let before = self.repo.snapshot();
        let composing: Vec<ModelId> = before
            .models
            .get(id)
            .and_then(|e| e.source.as_ref())
            .map(|s| ensemble_step_ids(&s.config))
            .unwrap_or_default();
        self.unload_model_inner(id)?;
        // Ensembles using the model can no longer run: unload them too.
        for (other, entry) in &before.models {
            let steps = entry
                .source
                .as_ref()
                .map(|s| ensemble_step_ids(&s.config))
                .unwrap_or_default();
            if other != id && steps.contains(id) && is_live(entry) {
                self.unload_id_with_dependents(other, false)?;
                let kept = Kept {
                    uses: steps,
                    explicit: entry.explicit,
                };
                self.repo.update(other, |e| e.kept = Some(kept));
            }
        }
        if dependents {
            for c in composing {
                let now = self.repo.snapshot();
                let still_used = now.models.iter().any(|(other, e)| {
                    other != id
                        && is_live(e)
                        && e.source
                            .as_ref()
                            .is_some_and(|s| ensemble_step_ids(&s.config).contains(&c))
                });
                let explicit = now.models.get(&c).is_none_or(|e| e.explicit);
                if !still_used && !explicit {
                    self.unload_id_with_dependents(&c, true)?;
                }
            }
        }
        Ok(())
    }

    /// Mark every version of a model UNLOADING and retire it; each version ends UNAVAILABLE
    /// ("unloaded") once finalized in the background. Versions that had failed to load count as
    /// unloaded from now on.
    pub(super) fn unload_model_inner(&self, id: &ModelId) -> Result<()> {
        self.unload_model_until(id, None)
    }

    /// [`Server::unload_model_inner`], waiting at most until `deadline` for a load or unload of
    /// the model already running (a stop must not wait forever behind a load stuck in its
    /// backend; that load unloads its model itself once it sees the server exiting).
    ///
    /// The model's operation lock stays held until every version is finalized or the exit
    /// timeout passes, whichever comes first, so a load right after an unload finds the old
    /// version gone. Past the exit timeout the versions still in use are marked UNAVAILABLE
    /// ("unloaded") anyway, freeing the model for a new load; they are finalized when their
    /// last use is released, never under a call in flight.
    pub(super) fn unload_model_until(&self, id: &ModelId, deadline: Option<Instant>) -> Result<()> {
        validate_model_name(&id.name)?;
        let op = match deadline {
            None => self.repo.ops.acquire(&id.key()),
            Some(d) => match self.repo.ops.acquire_until(&id.key(), d) {
                Some(op) => op,
                None => {
                    crate::log_error!(
                        "model '{id}' is still being loaded or unloaded at the exit timeout; \
                         not unloading it"
                    );
                    return Ok(());
                }
            },
        };
        if !self.repo.snapshot().models.contains_key(id) {
            return Ok(());
        }
        let mut retiring: Vec<(i64, Arc<Model>)> = Vec::new();
        let mut agent_lists = Vec::new();
        self.repo.update(id, |e| {
            if e.versions.is_empty() {
                e.unloaded = true;
            }
            for (v, slot) in e.versions.iter_mut() {
                match slot.model.clone() {
                    // Already unloading: an earlier unload finishes it.
                    Some(_) if slot.state == ModelState::Unloading => {}
                    Some(m) => {
                        slot.state = ModelState::Unloading;
                        slot.reason.clear();
                        retiring.push((*v, m));
                        agent_lists.extend(slot.agents.clone());
                    }
                    None => slot.mark_unavailable(REASON_UNLOADED),
                }
            }
            e.source = None;
            e.explicit = false;
            e.overridden = false;
            e.kept = None;
        });
        Self::agents_unload(&agent_lists);
        drop(agent_lists);
        if retiring.is_empty() {
            return Ok(());
        }
        let ticket = Arc::new(UnloadTicket {
            op: std::sync::Mutex::new(Some(op)),
            remaining: std::sync::atomic::AtomicUsize::new(retiring.len()),
        });
        for (v, m) in &retiring {
            let (server, id, ticket, model, v) = (
                self.weak(),
                id.clone(),
                ticket.clone(),
                Arc::downgrade(m),
                *v,
            );
            m.when_finalized(move || {
                if let Some(s) = server.upgrade() {
                    s.version_unloaded(&id, v, &model, false);
                }
                ticket.one_done();
            });
        }
        let watched: Vec<(i64, std::sync::Weak<Model>)> = retiring
            .iter()
            .map(|(v, m)| (*v, Arc::downgrade(m)))
            .collect();
        let (server, owned_id, watch_ticket) = (self.weak(), id.clone(), ticket.clone());
        crate::engine::workers::at(
            Instant::now() + self.exit_timeout(),
            "unload exit timeout",
            move || {
                if watch_ticket.is_done() {
                    return;
                }
                if let Some(s) = server.upgrade() {
                    for (v, m) in &watched {
                        if m.upgrade().is_some_and(|m| !m.is_finalized()) {
                            s.version_unloaded(&owned_id, *v, m, true);
                        }
                    }
                }
                watch_ticket.release();
            },
        );
        for (_, m) in retiring {
            m.retire();
        }
        Ok(())
    }

    /// Version `v` of `id` was finalized (or, `late`, is still in use at the exit timeout): its
    /// slot becomes UNAVAILABLE ("unloaded") if it still holds that model.
    pub(super) fn version_unloaded(
        &self,
        id: &ModelId,
        v: i64,
        model: &std::sync::Weak<Model>,
        late: bool,
    ) {
        let mut changed = false;
        self.repo.update(id, |e| {
            if let Some(slot) = e.versions.get_mut(&v) {
                if slot
                    .model
                    .as_ref()
                    .is_some_and(|cur| std::ptr::eq(Arc::as_ptr(cur), model.as_ptr()))
                {
                    slot.mark_unavailable(REASON_UNLOADED);
                    changed = true;
                }
            }
        });
        if !late {
            crate::log_info!("successfully unloaded '{id}' version {v}");
        } else if changed {
            let uses = model.upgrade().map_or(0, |m| m.uses());
            crate::log_warn!(
                "model '{id}' version {v} still has {uses} use(s) after the exit timeout \
                 (requests with the backend, or response factories it holds); it is marked \
                 unloaded and will be finalized when they are released"
            );
        }
    }
}

impl Server {
    /// Stop the server: refuse new work, unload every model, wait for that up to the exit
    /// timeout. Stopping twice is harmless.
    pub fn stop(&self) -> Result<()> {
        self.stop_with(false)
    }

    pub(super) fn stop_with(&self, force: bool) -> Result<()> {
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
    pub(super) fn log_stragglers(&self) {
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
}
