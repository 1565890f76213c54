//! The model repository: which models exist on disk, which versions are loaded, and the table of
//! lifecycle states that readiness checks read.
//!
//! The table is an immutable snapshot behind an [`ArcSwap`]: readers (health checks, model
//! lookups) take one atomic load and never a lock. Writers (load, unload) build a new table under
//! a short mutex and swap it in; they never hold that mutex across a backend call.

pub mod config;
mod oplock;
pub mod overrides;
mod scan;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use arc_swap::ArcSwap;

pub use config::{ConfigOptions, ConfigSource};
pub(crate) use oplock::{OpGuard, OpLocks};
pub use overrides::OverrideDir;
pub use scan::{validate_model_name, version_dirs};

use super::error::{Error, Result};
use super::model::{Model, ModelState};
use super::sync::lock;

/// One version of a model as the lifecycle tracks it.
#[derive(Debug, Clone)]
pub struct VersionSlot {
    pub state: ModelState,
    pub reason: String,
    /// The loaded model, while the version is READY (and while it unloads).
    pub model: Option<Arc<Model>>,
    /// The private directory of a load with `file:` parameters, kept while the model uses it.
    pub files: Option<Arc<OverrideDir>>,
    /// The repository agents of the load that created the model, kept while the model uses it.
    pub agents: Option<Arc<crate::engine::repoagent::AgentModelList>>,
}

impl VersionSlot {
    pub fn new(state: ModelState, reason: impl Into<String>, model: Option<Arc<Model>>) -> Self {
        VersionSlot {
            state,
            reason: reason.into(),
            model,
            files: None,
            agents: None,
        }
    }

    /// UNAVAILABLE for `reason`, holding no model, files or agents any more.
    pub fn mark_unavailable(&mut self, reason: impl Into<String>) {
        self.state = ModelState::Unavailable;
        self.reason = reason.into();
        self.model = None;
        self.files = None;
        self.agents = None;
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
    /// Loaded by a request naming it (or at startup, or by polling), rather than only as a
    /// composing model of an ensemble.
    pub explicit: bool,
    /// The load used a configuration override or override files: the next load without them
    /// reloads.
    pub overridden: bool,
    /// Unloaded only because a model it uses (as an ensemble) was unloaded: upstream keeps it in
    /// its dependency graph, so with namespacing a by-name lookup still finds it, and it loads
    /// again once every model it uses is loaded again.
    pub kept: Option<Kept>,
}

/// What an ensemble unloaded because of a composing model needs to load again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The models its steps use.
    pub uses: Vec<ModelId>,
    /// It had been loaded by a request naming it (see [`ModelEntry::explicit`]).
    pub explicit: bool,
}

impl ModelEntry {
    /// Version `v` failed to load for `reason`: it becomes UNAVAILABLE (created if missing) and
    /// `message` gains upstream's "version N is at UNAVAILABLE state: ...;" part. A READY
    /// version is a failed reload and keeps serving, untouched.
    pub fn fail_version(&mut self, v: i64, reason: String, message: &mut String) {
        let slot = self
            .versions
            .entry(v)
            .or_insert_with(|| VersionSlot::new(ModelState::Unavailable, "", None));
        if slot.state == ModelState::Ready {
            return;
        }
        message.push_str(&format!("version {v} is at UNAVAILABLE state: {reason};"));
        slot.mark_unavailable(reason);
    }

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

/// What the lifecycle tracks a model by (upstream's `ModelIdentifier`): its namespace and its
/// name. With model namespacing on, the namespace is the path of the repository the model comes
/// from, so the same name in two repositories is two models; otherwise it is empty. Ordered by
/// namespace, then name, as upstream's index lists models.
#[derive(Debug, Clone, Default)]
pub struct ModelId {
    pub namespace: String,
    pub name: String,
}

/// Byte order of two strings without asking `memcmp` about an empty one: an empty `String`
/// points at a dangling address, and glibc's AVX-512 `memcmp` given length 0 there costs about
/// 100 ns (a masked load over an unmapped page), which made every model lookup with namespacing
/// off (empty namespaces) pay it once per key comparison.
fn cmp_text(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_empty() || b.is_empty() {
        a.len().cmp(&b.len())
    } else {
        a.cmp(b)
    }
}

impl Ord for ModelId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        cmp_text(&self.namespace, &other.namespace).then_with(|| cmp_text(&self.name, &other.name))
    }
}

impl PartialOrd for ModelId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ModelId {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for ModelId {}

/// Hashes the two strings `eq` compares, so equal identifiers hash alike.
impl std::hash::Hash for ModelId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.namespace.hash(state);
        self.name.hash(state);
    }
}

impl ModelId {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ModelId {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// A model without namespace (namespacing off).
    pub fn plain(name: impl Into<String>) -> Self {
        ModelId::new(String::new(), name)
    }

    /// A key unique per identifier (names never contain NUL).
    pub(crate) fn key(&self) -> String {
        format!("{}\0{}", self.namespace, self.name)
    }
}

/// `<namespace>::<name>`, or the name alone without namespace (upstream's `str()`).
impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}::{}", self.namespace, self.name)
        }
    }
}

/// An immutable snapshot of every tracked model.
#[derive(Debug, Clone, Default)]
pub struct ModelTable {
    /// A persistent ordered map: cloning it for the next snapshot shares structure, so one
    /// change costs O(log n) instead of copying every entry.
    pub models: imbl::OrdMap<ModelId, Arc<ModelEntry>>,
}

impl ModelTable {
    /// The entry of a model without namespace (namespacing off).
    pub fn get(&self, name: &str) -> Option<&Arc<ModelEntry>> {
        self.models.get(&ModelId::plain(name))
    }

    /// Every tracked model of that name, whatever its namespace.
    pub fn named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a ModelId, &'a Arc<ModelEntry>)> + 'a {
        self.models.iter().filter(move |(id, _)| id.name == name)
    }
}

/// A model registered under a name that differs from its directory name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The repository it was registered with.
    pub repository: PathBuf,
    /// The model directory.
    pub dir: PathBuf,
}

/// The model repository of one server.
pub struct Repository {
    paths: RwLock<Vec<PathBuf>>,
    mappings: RwLock<BTreeMap<String, Mapping>>,
    table: ArcSwap<ModelTable>,
    /// Bumped before every change of the table is published (see [`Repository::generation`]).
    generation: std::sync::atomic::AtomicU64,
    write: Mutex<()>,
    pub(crate) ops: OpLocks,
}

impl Repository {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Repository {
            paths: RwLock::new(paths),
            mappings: RwLock::new(BTreeMap::new()),
            table: ArcSwap::from_pointee(ModelTable::default()),
            generation: std::sync::atomic::AtomicU64::new(0),
            write: Mutex::new(()),
            ops: OpLocks::default(),
        }
    }

    /// The repository paths, in the order they were given or registered.
    pub fn paths(&self) -> Vec<PathBuf> {
        crate::engine::sync::read(&self.paths).clone()
    }

    /// Models registered under mapped names: model name → directory.
    pub fn mappings(&self) -> BTreeMap<String, Mapping> {
        crate::engine::sync::read(&self.mappings).clone()
    }

    /// Add a repository with its name mappings (model name → subdirectory).
    pub fn register(&self, repo: &Path, mapping: &BTreeMap<String, String>) -> Result<()> {
        let mut paths = crate::engine::sync::write(&self.paths);
        let mut maps = crate::engine::sync::write(&self.mappings);
        if paths.iter().any(|p| p == repo) {
            return Err(Error::already_exists(format!(
                "model repository '{}' has already been registered",
                repo.display()
            )));
        }
        for name in mapping.keys() {
            if maps.contains_key(name) {
                return Err(Error::already_exists(format!(
                    "failed to register '{name}', there is a conflicting mapping for '{name}'"
                )));
            }
        }
        for (name, subdir) in mapping {
            validate_model_name(subdir).map_err(|_| {
                Error::invalid_arg(format!(
                    "failed to register '{}', mapped directory '{subdir}' of model '{name}' \
                     must be a directory name inside the repository",
                    repo.display()
                ))
            })?;
        }
        paths.push(repo.to_path_buf());
        for (name, subdir) in mapping {
            maps.insert(
                name.clone(),
                Mapping {
                    repository: repo.to_path_buf(),
                    dir: repo.join(subdir),
                },
            );
        }
        Ok(())
    }

    /// Remove a repository and its name mappings.
    pub fn unregister(&self, repo: &Path) -> Result<()> {
        let mut paths = crate::engine::sync::write(&self.paths);
        let Some(i) = paths.iter().position(|p| p == repo) else {
            return Err(Error::invalid_arg(format!(
                "failed to unregister '{}', repository not found",
                repo.display()
            )));
        };
        paths.remove(i);
        crate::engine::sync::write(&self.mappings).retain(|_, m| m.repository != repo);
        Ok(())
    }

    /// A number that changes whenever the table changes: what was derived from a snapshot taken
    /// after reading generation `g` is current while the generation is still `g`.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The current table: one atomic load, no lock.
    pub fn snapshot(&self) -> Arc<ModelTable> {
        self.table.load_full()
    }

    /// Change the entry of one model (created if missing) and publish the new table.
    ///
    /// What the change displaces (the old table, models dropped from a slot) is dropped after
    /// the lock is released: dropping the last reference to a model never happens under it.
    pub fn update<R>(&self, id: &ModelId, f: impl FnOnce(&mut ModelEntry) -> R) -> R {
        let w = lock(&self.write);
        let current = self.table.load_full();
        let mut next = (*current).clone();
        let mut entry = next
            .models
            .get(id)
            .map(|e| (**e).clone())
            .unwrap_or_default();
        let r = f(&mut entry);
        let displaced = next.models.insert(id.clone(), Arc::new(entry));
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let old = self.table.swap(Arc::new(next));
        drop(w);
        drop((displaced, old, current));
        r
    }

    /// The namespace of the models of a repository: its path with namespacing on, else empty.
    fn namespace(repo: &Path, namespacing: bool) -> String {
        if namespacing {
            repo.to_string_lossy().into_owned()
        } else {
            String::new()
        }
    }

    /// The model directories of every repository, by model (mapped directories under their
    /// mapped name). Without namespacing, a name found in more than one repository maps to all
    /// its directories.
    pub fn scan(&self, namespacing: bool) -> BTreeMap<ModelId, Vec<PathBuf>> {
        let maps = self.mappings();
        let mut out: BTreeMap<ModelId, Vec<PathBuf>> = BTreeMap::new();
        for repo in self.paths() {
            let ns = Self::namespace(&repo, namespacing);
            for (name, dirs) in scan::model_dirs(std::slice::from_ref(&repo)) {
                let dirs: Vec<PathBuf> = dirs
                    .into_iter()
                    .filter(|d| !maps.values().any(|m| &m.dir == d))
                    .collect();
                out.entry(ModelId::new(ns.clone(), name))
                    .or_default()
                    .extend(dirs);
            }
        }
        for (name, m) in maps {
            if m.dir.is_dir() {
                out.entry(ModelId::new(
                    Self::namespace(&m.repository, namespacing),
                    name,
                ))
                .or_default()
                .push(m.dir.clone());
            }
        }
        out.retain(|_, d| !d.is_empty());
        out
    }

    /// The directories a model name refers to, by model: its mapping if it has one, else
    /// `<repo>/<name>` in every repository that has it (a repository whose directory of that
    /// name is mapped to another name does not count). Without namespacing there is at most one
    /// model, with every directory found.
    pub fn locate(&self, name: &str, namespacing: bool) -> BTreeMap<ModelId, Vec<PathBuf>> {
        let maps = self.mappings();
        let mut out: BTreeMap<ModelId, Vec<PathBuf>> = BTreeMap::new();
        if let Some(m) = maps.get(name) {
            if m.dir.is_dir() {
                out.insert(
                    ModelId::new(Self::namespace(&m.repository, namespacing), name),
                    vec![m.dir.clone()],
                );
            }
            return out;
        }
        for repo in self.paths() {
            let dir = repo.join(name);
            if dir.is_dir() && !maps.values().any(|m| m.dir == dir) {
                out.entry(ModelId::new(Self::namespace(&repo, namespacing), name))
                    .or_default()
                    .push(dir);
            }
        }
        out
    }
}

#[cfg(test)]
mod model_id_tests {
    use super::ModelId;

    #[test]
    fn order_and_equality_match_namespace_then_name() {
        let ids = [
            ("", ""),
            ("", "a"),
            ("", "b"),
            ("/r1", ""),
            ("/r1", "a"),
            ("/r2", "a"),
            ("/r2", "ab"),
        ];
        for (i, a) in ids.iter().enumerate() {
            for (j, b) in ids.iter().enumerate() {
                let (x, y) = (ModelId::new(a.0, a.1), ModelId::new(b.0, b.1));
                assert_eq!(x.cmp(&y), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(x == y, i == j, "{a:?} vs {b:?}");
            }
        }
    }
}
