//! Readiness: liveness of the server is its state; readiness (strict) is the server state, every
//! tracked model version READY, and every instance of a READY version passing its backend's
//! readiness check, asked through the bounded, single-flight checks of
//! `engine::model::readiness`. Versions that were unloaded do not count. Also the background
//! readiness monitor and the readiness report (`TRITONRS_ServerReadinessReport`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::{Server, ServerState};
use crate::engine::error::{Error, Result};
use crate::engine::model::{
    answers_taken_back, check_instances, CellReport, Instance, Model, ModelState, REASON_UNLOADED,
};
use crate::engine::repository::{ModelId, ModelTable};

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

/// A ready verdict of strict readiness and how long it holds: for table generation `generation`
/// until `until` (monotonic ns), the earliest expiry of the answers it was made from. Readers
/// take two atomic loads; writers (once per reuse window) serialize.
#[derive(Debug, Default)]
pub(super) struct ReadySummary {
    generation: AtomicU64,
    taken_back: AtomicU64,
    until: AtomicU64,
    writing: Mutex<()>,
}

impl ReadySummary {
    fn store(&self, generation: u64, taken_back: u64, until: u64) {
        let _one = crate::engine::sync::lock(&self.writing);
        self.until.store(0, Ordering::SeqCst);
        self.generation.store(generation, Ordering::SeqCst);
        self.taken_back.store(taken_back, Ordering::SeqCst);
        self.until.store(until, Ordering::SeqCst);
    }

    /// Whether the verdict holds for the table of `generation`, with no answer taken back
    /// since (`taken_back`), at `now`.
    pub(super) fn holds(&self, generation: u64, taken_back: u64, now: u64) -> bool {
        self.generation.load(Ordering::SeqCst) == generation
            && self.taken_back.load(Ordering::SeqCst) == taken_back
            && now < self.until.load(Ordering::SeqCst)
    }
}

impl Server {
    /// Whether the server is ready from what is known without asking any backend: every tracked
    /// version READY (or unloaded) and every instance with a reusable ready answer. The common
    /// case of a probe; anything else takes the full walk.
    ///
    /// When it is, the verdict holds until the earliest of those answers expires or the table
    /// changes: it is kept (`ready_summary`) so that probes meanwhile cost two atomic loads.
    pub(super) fn all_ready_fast(
        &self,
        table: &ModelTable,
        generation: u64,
        taken_back: u64,
    ) -> bool {
        let now = crate::engine::sync::monotonic_ns();
        let mut until = u64::MAX;
        let ready = table.models.values().all(|entry| {
            if entry.versions.is_empty() {
                return entry.unloaded;
            }
            entry
                .versions
                .values()
                .all(|slot| match (slot.state, &slot.model) {
                    (ModelState::Ready, Some(m)) => {
                        !m.is_retired()
                            && (m.backend().is_none()
                                || m.instances().iter().all(|i| {
                                    match i.ready_cell().fresh_until(now) {
                                        Some(u) => {
                                            until = until.min(u);
                                            true
                                        }
                                        None => false,
                                    }
                                }))
                    }
                    (ModelState::Unavailable, _) => slot.reason == REASON_UNLOADED,
                    _ => false,
                })
        });
        if ready {
            self.ready_summary.store(generation, taken_back, until);
        }
        ready
    }
}

/// Every instance of every READY version served by a backend, to be checked together (one
/// batch of hook calls, bounded by the readiness hook timeout).
pub(super) fn serving_instances(table: &ModelTable) -> Vec<(&Arc<Model>, &Arc<Instance>)> {
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

impl Server {
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
        let generation = self.repo.generation();
        let taken_back = answers_taken_back();
        let now = crate::engine::sync::monotonic_ns();
        if first_only && self.ready_summary.holds(generation, taken_back, now) {
            return Ok(Vec::new());
        }
        let table = self.repo.snapshot();
        if first_only && self.all_ready_fast(&table, generation, taken_back) {
            return Ok(Vec::new());
        }
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
    pub(super) fn schedule_monitor(weak: Weak<Server>, interval: Duration) {
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
        // Ready (the common probe): the kept verdict answers without a walk.
        if self.not_ready(true)?.is_empty() {
            return Ok(serde_json::json!({ "ready": true, "not_ready": [] }));
        }
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
}
