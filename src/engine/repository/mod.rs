//! The model repository: which models exist on disk, which versions are loaded, and the table of
//! lifecycle states that readiness checks read.
//!
//! The table is an immutable snapshot behind an [`ArcSwap`]: readers (health checks, model
//! lookups) take one atomic load and never a lock. Writers (load, unload) build a new table under
//! a short mutex and swap it in; they never hold that mutex across a backend call.

pub mod config;
mod oplock;
mod scan;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

pub use config::{ConfigOptions, ConfigSource};
pub(crate) use oplock::{OpGuard, OpLocks, PendingOps};
pub use scan::{validate_model_name, version_dirs};

use super::backend::lock;
use super::model::{Model, ModelState};

/// One version of a model as the lifecycle tracks it.
#[derive(Debug, Clone)]
pub struct VersionSlot {
    pub state: ModelState,
    pub reason: String,
    /// The loaded model, while the version is READY (and while it unloads).
    pub model: Option<Arc<Model>>,
}

impl VersionSlot {
    pub fn new(state: ModelState, reason: impl Into<String>, model: Option<Arc<Model>>) -> Self {
        VersionSlot {
            state,
            reason: reason.into(),
            model,
        }
    }
}

/// Everything tracked for one model name.
#[derive(Debug, Clone, Default)]
pub struct ModelEntry {
    pub versions: BTreeMap<i64, VersionSlot>,
    /// Why the model has no versions (a configuration error, an empty version policy), if so.
    pub reason: String,
    /// The model was unloaded while it had no versions; it no longer counts for readiness.
    pub unloaded: bool,
    /// Fingerprint of the configuration and files the loaded versions came from.
    pub source: Option<ConfigSource>,
}

impl ModelEntry {
    /// The version a request for `version` means: the given one, or for -1 the highest READY one.
    pub fn pick(&self, version: i64) -> Option<(i64, &VersionSlot)> {
        if version == -1 {
            self.versions
                .iter()
                .rev()
                .find(|(_, s)| s.state == ModelState::Ready)
                .map(|(v, s)| (*v, s))
        } else {
            self.versions.get(&version).map(|s| (version, s))
        }
    }
}

/// An immutable snapshot of every tracked model.
#[derive(Debug, Clone, Default)]
pub struct ModelTable {
    pub models: BTreeMap<String, Arc<ModelEntry>>,
}

/// The model repository of one server.
pub struct Repository {
    paths: Vec<PathBuf>,
    table: ArcSwap<ModelTable>,
    write: Mutex<()>,
    pub(crate) ops: OpLocks,
    pub(crate) pending: PendingOps,
}

impl Repository {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Repository {
            paths,
            table: ArcSwap::from_pointee(ModelTable::default()),
            write: Mutex::new(()),
            ops: OpLocks::default(),
            pending: PendingOps::default(),
        }
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The current table: one atomic load, no lock.
    pub fn snapshot(&self) -> Arc<ModelTable> {
        self.table.load_full()
    }

    /// Change the entry of one model (created if missing) and publish the new table.
    pub fn update<R>(&self, name: &str, f: impl FnOnce(&mut ModelEntry) -> R) -> R {
        let _w = lock(&self.write);
        let current = self.table.load_full();
        let mut next = (*current).clone();
        let mut entry = next
            .models
            .get(name)
            .map(|e| (**e).clone())
            .unwrap_or_default();
        let r = f(&mut entry);
        next.models.insert(name.to_owned(), Arc::new(entry));
        self.table.store(Arc::new(next));
        r
    }

    /// Set the state of one version, keeping its model unless `model` replaces it.
    pub fn set_version(
        &self,
        name: &str,
        version: i64,
        state: ModelState,
        reason: &str,
        model: Option<Option<Arc<Model>>>,
    ) {
        self.update(name, |e| {
            let slot = e
                .versions
                .entry(version)
                .or_insert_with(|| VersionSlot::new(ModelState::Unknown, "", None));
            slot.state = state;
            slot.reason = reason.to_owned();
            if let Some(m) = model {
                slot.model = m;
            }
        });
    }

    /// The model directories of every repository, by model name. A name found in more than one
    /// repository maps to all its directories.
    pub fn scan(&self) -> BTreeMap<String, Vec<PathBuf>> {
        scan::model_dirs(&self.paths)
    }
}
