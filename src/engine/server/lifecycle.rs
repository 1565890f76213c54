//! Loading and unloading models.
//!
//! A load polls the model (finds its directory, reads and checks its configuration), loads the
//! composing models first when it is an ensemble, picks versions by the version policy, creates
//! and initializes each version through its backend, and publishes the result. Loads of one model
//! are all or nothing: when a version fails, the versions loaded with it are released again, while
//! versions that were serving before keep serving. An unload marks the versions UNLOADING and
//! finishes in the background (finalizing instances, then the model), ending UNAVAILABLE with
//! reason "unloaded".

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use triton_model_config as mc;
use triton_model_config::pb;
use triton_model_config::pb::model_config::SchedulingChoice;
use triton_model_config::pb::model_version_policy::PolicyChoice;

use super::{Server, ServerState};
use crate::engine::backend::{resolve_backend_library, PreferredGroup};
use crate::engine::error::{Error, Result};
use crate::engine::model::{Model, ModelState, REASON_UNLOADED};
use crate::engine::parameters::Parameter;
use crate::engine::repository::overrides::LoadOverrides;
use crate::engine::repository::{
    config, validate_model_name, version_dirs, Kept, ModelEntry, ModelId, ModelTable, OpGuard,
    OverrideDir, VersionSlot,
};
use crate::engine::types::{InstanceKind, ModelControlMode};

/// The reason the index gives a model found in more than one repository.
pub const DUPLICATE_REASON: &str = "model appears in two or more repositories";
/// The versions a policy selects among those on disk, highest first for `latest`.
pub(super) fn versions_to_load(
    name: &str,
    model_dir: &Path,
    cfg: &pb::ModelConfig,
) -> Result<Vec<i64>> {
    let existing = version_dirs(model_dir)?;
    let policy = cfg
        .version_policy
        .as_ref()
        .and_then(|p| p.policy_choice.clone());
    let chosen: BTreeSet<i64> = match policy {
        Some(PolicyChoice::All(_)) => existing.clone(),
        Some(PolicyChoice::Specific(s)) => {
            let mut out = BTreeSet::new();
            for v in s.versions {
                if existing.contains(&v) {
                    out.insert(v);
                } else {
                    crate::log_error!(
                        "version {v} is specified for model '{name}', but the version directory is not present"
                    );
                }
            }
            out
        }
        Some(PolicyChoice::Latest(l)) => existing
            .iter()
            .rev()
            .take(l.num_versions as usize)
            .copied()
            .collect(),
        None => existing.iter().next_back().copied().into_iter().collect(),
    };
    if chosen.is_empty() {
        return Err(Error::invalid_arg(format!(
            "at least one version must be available under the version policy of model '{name}'"
        )));
    }
    Ok(chosen.into_iter().collect())
}

fn preferred_to_config(groups: &[PreferredGroup]) -> Vec<pb::ModelInstanceGroup> {
    use pb::model_instance_group::Kind;
    groups
        .iter()
        .map(|g| pb::ModelInstanceGroup {
            kind: match g.kind {
                InstanceKind::Auto => Kind::Auto,
                InstanceKind::Cpu => Kind::Cpu,
                InstanceKind::Gpu => Kind::Gpu,
                InstanceKind::Model => Kind::Model,
            } as i32,
            count: i32::try_from(g.count).unwrap_or(i32::MAX),
            gpus: g
                .device_ids
                .iter()
                .map(|&d| i32::try_from(d).unwrap_or(i32::MAX))
                .collect(),
            ..Default::default()
        })
        .collect()
}

/// Why a load did not succeed, in upstream's three kinds.
#[derive(Debug)]
pub(super) enum LoadFailure {
    /// The model could not be polled: not in any repository, in more than one, or its
    /// configuration is unreadable or invalid. A model not tracked before stays untracked.
    Poll(Option<Error>),
    /// An ensemble whose composing models or wiring are not valid: it is not loaded.
    Invalid(Error),
    /// The model is tracked but its load failed (the lifecycle status message).
    Load(Error),
}

impl LoadFailure {
    /// The error a load request for `name` returns for this failure of model `id`.
    fn into_error(self, name: &str, id: &ModelId) -> Error {
        match self {
            LoadFailure::Poll(None) => Error::internal(format!(
                "failed to load '{name}', failed to poll from model repository"
            )),
            LoadFailure::Poll(Some(e)) => Error::internal(format!(
                "failed to load '{name}', failed to poll from model repository: {}",
                e.message()
            )),
            LoadFailure::Invalid(e) | LoadFailure::Load(e) => {
                Error::invalid_arg(format!("load failed for model '{id}': {}\n", e.message()))
            }
        }
    }
}

/// A model's directory and configuration as a poll finds them.
struct Polled {
    dir: PathBuf,
    source: config::ConfigSource,
    files: Option<Arc<OverrideDir>>,
}

impl Server {
    /// Load what the control mode asks for at startup: every model (NONE, POLL) or the startup
    /// models (EXPLICIT; `*` means every model).
    pub(super) fn load_startup_models(&self) -> Result<()> {
        let scanned = self.repo.scan(self.namespacing());
        let mut failed = false;
        // With a list of startup models the load error itself is returned; when loading
        // everything, only a summary (as upstream).
        let mut listed = false;
        // What to load: a model found by the scan, or a name (every model of that name).
        let names: Vec<std::result::Result<ModelId, String>> = match self.control_mode() {
            ModelControlMode::None | ModelControlMode::Poll => {
                for (id, dirs) in &scanned {
                    if dirs.len() > 1 {
                        crate::log_error!(
                            "failed to poll model '{id}': not unique across all model repositories"
                        );
                        failed = true;
                    }
                }
                scanned
                    .into_iter()
                    .filter(|(_, d)| d.len() == 1)
                    .map(|(id, _)| Ok(id))
                    .collect()
            }
            ModelControlMode::Explicit => {
                if self.options.startup_models.iter().any(|m| m == "*") {
                    if self.options.startup_models.len() > 1 {
                        return Err(Error::invalid_arg(
                            "Wildcard model name '*' must be the ONLY startup model if specified at all.",
                        ));
                    }
                    scanned.into_keys().map(Ok).collect()
                } else {
                    listed = true;
                    self.options
                        .startup_models
                        .iter()
                        .map(|n| Err(n.clone()))
                        .collect()
                }
            }
        };
        let threads =
            (self.options.model_load_thread_count.max(1) as usize).min(names.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let errors: std::sync::Mutex<Vec<(usize, Error)>> = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(target) = names.get(i) else { break };
                    let loaded = match target {
                        Ok(id) => self.load_id_request(id),
                        Err(name) => self.load_request(name, &LoadOverrides::default()),
                    };
                    if let Err(e) = loaded {
                        crate::log_error!("{}", e.message().trim_end());
                        crate::engine::sync::lock(&errors).push((i, e));
                    }
                });
            }
        });
        self.log_model_table();
        let mut errors = crate::engine::sync::into_inner(errors);
        let table = self.repo.snapshot();
        let not_ready = table.models.values().any(|e| {
            e.versions.is_empty() && !e.unloaded
                || e.versions.values().any(|s| s.state != ModelState::Ready)
        });
        if errors.is_empty() && !failed && !not_ready {
            return Ok(());
        }
        if !listed || errors.is_empty() {
            return Err(Error::internal("failed to load all models"));
        }
        errors.sort_by_key(|(i, _)| *i);
        if errors.len() == 1 {
            return Err(errors.remove(0).1);
        }
        let message: String = errors.iter().map(|(_, e)| e.message()).collect();
        Err(Error::invalid_arg(message))
    }

    fn log_model_table(&self) {
        let table = self.repo.snapshot();
        let mut rows: Vec<Vec<String>> = Vec::new();
        for (id, e) in &table.models {
            let name = id.to_string();
            if e.versions.is_empty() && !e.reason.is_empty() {
                rows.push(vec![
                    name.clone(),
                    "-".into(),
                    format!("UNAVAILABLE: {}", e.reason),
                ]);
            }
            for (v, slot) in &e.versions {
                let status = if slot.reason.is_empty() {
                    slot.state.name().to_owned()
                } else {
                    format!("{}: {}", slot.state.name(), slot.reason)
                };
                rows.push(vec![name.clone(), v.to_string(), status]);
            }
        }
        let text = crate::engine::log::format_table(&["Model", "Version", "Status"], &rows);
        crate::engine::log::write_table(file!(), line!(), &text);
    }

    /// The table of server options upstream logs once the server is up.
    pub(super) fn log_options_table(&self) {
        let o = &self.options;
        let mut rows: Vec<Vec<String>> = vec![
            vec!["server_id".into(), o.server_id.clone()],
            vec!["server_version".into(), super::TRITON_VERSION.into()],
            vec!["server_extensions".into(), super::EXTENSIONS.join(" ")],
        ];
        for (i, p) in o.repository_paths.iter().enumerate() {
            rows.push(vec![format!("model_repository_path[{i}]"), p.clone()]);
        }
        let mode = match o.control_mode {
            ModelControlMode::None => "MODE_NONE",
            ModelControlMode::Poll => "MODE_POLL",
            ModelControlMode::Explicit => "MODE_EXPLICIT",
        };
        rows.push(vec!["model_control_mode".into(), mode.into()]);
        for (i, m) in o.startup_models.iter().enumerate() {
            rows.push(vec![format!("startup_models_{i}"), m.clone()]);
        }
        let flag = |b: bool| u8::from(b).to_string();
        rows.push(vec![
            "strict_model_config".into(),
            flag(o.strict_model_config),
        ]);
        rows.push(vec![
            "model_config_name".into(),
            o.model_config_name.clone(),
        ]);
        let rate = if o.rate_limit_exec_count {
            "EXEC_COUNT"
        } else {
            "OFF"
        };
        rows.push(vec!["rate_limit".into(), rate.into()]);
        for (i, (name, count, device)) in o.rate_limit_resources.iter().enumerate() {
            rows.push(vec![
                format!("rate_limit_resource[{i}]"),
                format!("{{name: {name}, count: {count}, device: {device}}}"),
            ]);
        }
        rows.push(vec![
            "pinned_memory_pool_byte_size".into(),
            o.pinned_memory_pool_byte_size.to_string(),
        ]);
        for (gpu, size) in &o.cuda_memory_pool_byte_size {
            rows.push(vec![
                format!("cuda_memory_pool_byte_size{{{gpu}}}"),
                size.to_string(),
            ]);
        }
        rows.push(vec![
            "min_supported_compute_capability".into(),
            format!("{:.1}", o.min_compute_capability),
        ]);
        rows.push(vec!["strict_readiness".into(), flag(o.strict_readiness)]);
        rows.push(vec![
            "exit_timeout".into(),
            self.exit_timeout().as_secs().to_string(),
        ]);
        rows.push(vec!["cache_enabled".into(), flag(self.cache_enabled())]);
        let text = crate::engine::log::format_table(&["Option", "Value"], &rows);
        crate::engine::log::write_table(file!(), line!(), &text);
    }

    fn check_explicit_allowed(&self) -> Result<()> {
        if self.state() != ServerState::Ready {
            return Err(Error::unavailable("Server not ready"));
        }
        if self.control_mode() != ModelControlMode::Explicit {
            return Err(Error::unavailable(
                "explicit model load / unload is not allowed if polling is enabled",
            ));
        }
        Ok(())
    }

    /// `TRITONSERVER_ServerLoadModel`: load (or reload, when its files changed) one model.
    pub fn load_model(&self, name: &str) -> Result<()> {
        self.check_explicit_allowed()?;
        self.load_request(name, &LoadOverrides::default())
    }

    /// `TRITONSERVER_ServerLoadModelWithParameters` with a `config` override (JSON).
    pub fn load_model_with_config(&self, name: &str, config_json: Option<&str>) -> Result<()> {
        self.check_explicit_allowed()?;
        let overrides = LoadOverrides {
            config_json: config_json.map(str::to_owned),
            files: Vec::new(),
        };
        self.load_request(name, &overrides)
    }

    /// `TRITONSERVER_ServerLoadModelWithParameters`: `config` (STRING, a JSON configuration
    /// replacing the model's) and `file:<path>` (BYTES, written into a private model directory;
    /// needs `config`). Parameter errors fail the poll of the model, as upstream.
    pub fn load_model_with_parameters(&self, name: &str, params: &[Parameter]) -> Result<()> {
        self.check_explicit_allowed()?;
        validate_model_name(name)?;
        let overrides = LoadOverrides::from_parameters(params).map_err(|e| {
            crate::log_error!("Poll failed for model directory '{name}': {}", e.message());
            LoadFailure::Poll(Some(e)).into_error(name, &ModelId::plain(name))
        })?;
        self.load_request(name, &overrides)
    }

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

    /// `TRITONSERVER_ServerRegisterModelRepository` (EXPLICIT mode only): add a repository, with
    /// models mapped from subdirectory names to other names (model name → subdirectory).
    pub fn register_model_repository(
        &self,
        path: &str,
        mapping: &BTreeMap<String, String>,
    ) -> Result<()> {
        if self.control_mode() != ModelControlMode::Explicit {
            return Err(Error::unsupported(
                "repository registration is not allowed if model control mode is not EXPLICIT",
            ));
        }
        let repo = Path::new(path);
        if !repo.is_dir() {
            return Err(Error::invalid_arg(format!(
                "failed to register '{path}', repository not found"
            )));
        }
        self.repo.register(repo, mapping)?;
        crate::log_info!("Model repository registered: {path}");
        Ok(())
    }

    /// `TRITONSERVER_ServerUnregisterModelRepository` (EXPLICIT mode only). Models loaded from
    /// it stay loaded.
    pub fn unregister_model_repository(&self, path: &str) -> Result<()> {
        if self.control_mode() != ModelControlMode::Explicit {
            return Err(Error::unsupported(
                "repository unregistration is not allowed if model control mode is not EXPLICIT",
            ));
        }
        self.repo.unregister(Path::new(path))?;
        crate::log_info!("Model repository unregistered: {path}");
        Ok(())
    }

    /// `TRITONSERVER_ServerPollModelRepository` (POLL mode): load models that appeared, reload
    /// the ones whose files changed, unload the ones that disappeared (or now appear in more than
    /// one repository). Failures are logged; a model whose new configuration is broken keeps
    /// serving its loaded versions. Does nothing until the server is ready.
    pub fn poll_repository(&self) -> Result<()> {
        if self.state() != ServerState::Ready {
            return Ok(());
        }
        if self.control_mode() != ModelControlMode::Poll {
            return Err(Error::unavailable("polling is disabled"));
        }
        crate::log_verbose!(1, "Polling model repository");
        let on_disk = self.repo.scan(self.namespacing());
        for (id, dirs) in &on_disk {
            if dirs.len() > 1 {
                crate::log_error!(
                    "failed to poll model '{id}': not unique across all model repositories"
                );
                continue;
            }
            if let Err(e) = self.load_id_request(id) {
                crate::log_error!("{}", e.message().trim_end());
            }
        }
        let table = self.repo.snapshot();
        for (id, entry) in &table.models {
            let gone = on_disk.get(id).is_none_or(|d| d.len() != 1);
            if gone && is_live(entry) {
                if let Err(e) = self.unload_model_inner(id) {
                    crate::log_error!("failed to unload '{id}': {}", e.message());
                }
            }
        }
        Ok(())
    }

    /// Load one model by request (explicit, startup or poll) and turn a failure into upstream's
    /// error.
    ///
    /// With model namespacing, every model of that name is loaded (one per repository that has
    /// it), as upstream; the load errors of each are reported together.
    pub(super) fn load_request(&self, name: &str, overrides: &LoadOverrides) -> Result<()> {
        validate_model_name(name)?;
        let mut load_errors = String::new();
        let mut poll_error = None;
        for id in self.ids_to_load(name, overrides) {
            match self.load_tracked(&id, overrides, true, &mut Vec::new()) {
                Ok(()) => self.reload_kept_ensembles(&id),
                Err(f) => {
                    let poll = matches!(f, LoadFailure::Poll(_));
                    let e = f.into_error(name, &id);
                    crate::log_error!("{}", e.message().trim_end());
                    if poll {
                        poll_error.get_or_insert(e);
                    } else {
                        load_errors.push_str(e.message());
                    }
                }
            }
        }
        match poll_error {
            _ if !load_errors.is_empty() => Err(Error::invalid_arg(load_errors)),
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Load one model found by a repository scan (startup, polling).
    fn load_id_request(&self, id: &ModelId) -> Result<()> {
        self.load_logged(id, true)?;
        self.reload_kept_ensembles(id);
        Ok(())
    }

    /// Load (or reload) one model with no overrides; a failure is logged and returned.
    fn load_logged(&self, id: &ModelId, explicit: bool) -> Result<()> {
        self.load_tracked(id, &LoadOverrides::default(), explicit, &mut Vec::new())
            .map_err(|f| {
                let e = f.into_error(&id.name, id);
                crate::log_error!("{}", e.message().trim_end());
                e
            })
    }

    /// After `loaded` loaded: load again the ensembles that were unloaded because a model they
    /// use was unloaded, once every model they use has a READY version (as upstream's
    /// dependency graph re-checks the models downstream of a loaded one), and then those that
    /// use them. A failure is logged and leaves that ensemble UNAVAILABLE with its reason.
    fn reload_kept_ensembles(&self, loaded: &ModelId) {
        let mut work = vec![loaded.clone()];
        while let Some(dep) = work.pop() {
            let table = self.repo.snapshot();
            let has_ready = |id: &ModelId| {
                table
                    .models
                    .get(id)
                    .is_some_and(|e| e.versions.values().any(|s| s.state == ModelState::Ready))
            };
            let due: Vec<(ModelId, bool)> = table
                .models
                .iter()
                .filter_map(|(id, e)| {
                    let k = e.kept.as_ref()?;
                    (k.uses.contains(&dep) && k.uses.iter().all(has_ready))
                        .then(|| (id.clone(), k.explicit))
                })
                .collect();
            for (id, explicit) in due {
                self.repo.update(&id, |e| e.kept = None);
                crate::log_info!("loading '{id}' again: the models it uses are available");
                if self.load_logged(&id, explicit).is_ok() {
                    work.push(id);
                }
            }
        }
    }

    /// Whether model namespacing is on.
    pub(super) fn namespacing(&self) -> bool {
        self.options.model_namespacing
    }

    /// The models a load of `name` polls. Without namespacing, the one model of that name.
    /// With namespacing, the model of that name in each repository that has it; models with
    /// override files have no namespace, as upstream.
    fn ids_to_load(&self, name: &str, overrides: &LoadOverrides) -> Vec<ModelId> {
        if !self.namespacing() || !overrides.files.is_empty() {
            return vec![ModelId::plain(name)];
        }
        let found: Vec<ModelId> = self.repo.locate(name, true).into_keys().collect();
        if found.is_empty() {
            // Not in any repository: the poll reports it.
            vec![ModelId::plain(name)]
        } else {
            found
        }
    }

    /// The model a by-name call means (upstream's `FindModelIdentifier`). Without namespacing,
    /// the model of that name; with namespacing, the one model of that name the lifecycle
    /// tracks (loaded, loading or failed, not unloaded), an error when there are none or more.
    pub(super) fn resolve(&self, table: &ModelTable, name: &str) -> Result<ModelId> {
        if !self.namespacing() {
            return Ok(ModelId::plain(name));
        }
        let mut known = false;
        let mut ids: Vec<&ModelId> = Vec::new();
        for (id, entry) in table.named(name) {
            known = true;
            if in_graph(entry) {
                ids.push(id);
            }
        }
        match ids.len() {
            1 => Ok(ids[0].clone()),
            0 if known => Err(Error::not_found(format!(
                "Identifier of model '{name}' is not found in global map"
            ))),
            0 => Err(Error::invalid_arg(format!(
                "Request for unknown model: '{name}' is not found"
            ))),
            n => Err(Error::invalid_arg(format!(
                "There are {n} identifiers of model '{name}' in global map, model namespace must \
                 be provided to resolve ambiguity."
            ))),
        }
    }

    /// Find the model's directory and read its configuration.
    fn poll_model(
        &self,
        id: &ModelId,
        overrides: &LoadOverrides,
    ) -> std::result::Result<Polled, LoadFailure> {
        let name = id.name.as_str();
        let poll_err = |e: Error| {
            crate::log_error!("Poll failed for model directory '{name}': {}", e.message());
            LoadFailure::Poll(Some(e))
        };
        if !overrides.files.is_empty() {
            let json = overrides.config_json.as_deref().unwrap_or_default();
            let raw = mc::from_json(json).map_err(|e| {
                poll_err(Error::invalid_arg(format!(
                    "Invalid config override: {}",
                    e.message
                )))
            })?;
            let files = Arc::new(OverrideDir::create(overrides, &raw).map_err(poll_err)?);
            let dir = files.path().to_path_buf();
            let source = config::load_config(name, &dir, Some(json), &self.config_options, false)
                .map_err(poll_err)?;
            return Ok(Polled {
                dir,
                source,
                files: Some(files),
            });
        }
        let mut dirs = self
            .repo
            .locate(name, self.namespacing())
            .remove(id)
            .unwrap_or_default();
        let dir = match dirs.len() {
            0 => {
                crate::log_error!(
                    "failed to poll model '{name}': model not found in any model repository."
                );
                return Err(LoadFailure::Poll(None));
            }
            1 => dirs.remove(0),
            _ => {
                return Err(poll_err(Error::invalid_arg(format!(
                    "model '{name}' is not unique across all model repositories: {DUPLICATE_REASON}"
                ))))
            }
        };
        let mapped = self.repo.mappings().contains_key(name);
        let source = config::load_config(
            name,
            &dir,
            overrides.config_json.as_deref(),
            &self.config_options,
            mapped,
        )
        .map_err(poll_err)?;
        Ok(Polled {
            dir,
            source,
            files: None,
        })
    }

    /// Load (or reload, or leave alone when nothing changed) one model; ensembles load their
    /// composing models first. `explicit` marks a model named by a request rather than reached
    /// through an ensemble; `chain` holds the ensembles being loaded, to find cycles.
    pub(super) fn load_tracked(
        &self,
        id: &ModelId,
        overrides: &LoadOverrides,
        explicit: bool,
        chain: &mut Vec<String>,
    ) -> std::result::Result<(), LoadFailure> {
        let name = id.name.as_str();
        let _op = self.repo.ops.acquire(&id.key());
        let mut polled = self.poll_model(id, overrides)?;
        if polled.source.config.platform == mc::names::ENSEMBLE_PLATFORM {
            // Ensembles that use each other, loaded from two threads at once, would each hold
            // their own operation lock and wait for the other's: find the cycle from the
            // configurations before taking any composing model's lock.
            if chain.is_empty() {
                if let Some(cycle) = self.ensemble_cycle(name, &polled.source.config) {
                    let e = Error::invalid_arg(format!(
                        "circular dependency between ensembles: {cycle}"
                    ));
                    crate::log_error!("{}", e.as_status_string());
                    return Err(LoadFailure::Invalid(e));
                }
            }
            chain.push(name.to_owned());
            let checked = self.load_composing(id, &mut polled.source.config, chain);
            chain.pop();
            if let Err(e) = checked {
                crate::log_error!("{}", e.as_status_string());
                if self
                    .repo
                    .snapshot()
                    .models
                    .get(id)
                    .is_some_and(|e| is_live(e))
                {
                    drop(_op);
                    let _ = self.unload_model_inner(id);
                }
                return Err(LoadFailure::Invalid(e));
            }
        }
        let Polled { dir, source, files } = polled;
        let versions = match versions_to_load(name, &dir, &source.config) {
            Ok(v) => v,
            // Repository agents may provide the versions (plugins.rs).
            Err(_)
                if !crate::engine::repoagent::AgentModelList::configured(&source.config)
                    .is_empty() =>
            {
                Vec::new()
            }
            Err(e) => {
                self.repo.update(id, |entry| {
                    entry.reason = e.as_status_string();
                    entry.unloaded = false;
                    entry.explicit |= explicit;
                });
                return Err(LoadFailure::Load(e));
            }
        };
        let current = self.repo.snapshot().models.get(id).cloned();
        if let Some(cur) = &current {
            let same_versions = cur
                .versions
                .iter()
                .filter(|(_, s)| s.state == ModelState::Ready)
                .map(|(v, _)| *v)
                .eq(versions.iter().copied());
            if cur.source.as_ref() == Some(&source)
                && same_versions
                && overrides.is_empty()
                && !cur.overridden
            {
                if explicit && !cur.explicit {
                    self.repo.update(id, |e| e.explicit = true);
                }
                return Ok(());
            }
        }
        // Repository agents (plugins.rs): LOAD may point the model at other files.
        let super::plugins::AgentOutcome {
            dir,
            versions,
            agents,
        } = self.agents_load(id, dir, &source.config, versions, explicit)?;
        // Publish LOADING for versions that are not serving; serving ones keep serving.
        self.repo.update(id, |e| {
            e.reason.clear();
            e.unloaded = false;
            for v in &versions {
                let slot = e
                    .versions
                    .entry(*v)
                    .or_insert_with(|| VersionSlot::new(ModelState::Loading, "", None));
                if slot.state != ModelState::Ready {
                    slot.state = ModelState::Loading;
                    slot.reason.clear();
                    slot.model = None;
                }
            }
        });
        let mut loaded: Vec<(i64, Arc<Model>)> = Vec::new();
        let mut failures: Vec<(i64, Error)> = Vec::new();
        for v in &versions {
            // `--model-load-retry-count`: a failed version is tried again that many times.
            let mut attempt = 0;
            let created = loop {
                match self.create_version(
                    id,
                    name,
                    *v,
                    &dir,
                    source.config.clone(),
                    source.provided,
                ) {
                    Err(e) if attempt < self.options.model_load_retry_count => {
                        attempt += 1;
                        crate::log_warn!(
                            "failed to load '{name}' version {v} (attempt {attempt} of {}): {}; retrying",
                            self.options.model_load_retry_count + 1,
                            e.message()
                        );
                    }
                    other => break other,
                }
            };
            match created {
                Ok(m) => loaded.push((*v, m)),
                Err(e) => {
                    crate::log_error!(
                        "failed to load '{name}' version {v}: {}",
                        e.as_status_string()
                    );
                    failures.push((*v, e))
                }
            }
        }
        if failures.is_empty() {
            let wanted: BTreeSet<i64> = versions.iter().copied().collect();
            let mut retired: Vec<Arc<Model>> = Vec::new();
            self.repo.update(id, |e| {
                for (v, m) in &loaded {
                    let slot = e
                        .versions
                        .entry(*v)
                        .or_insert_with(|| VersionSlot::new(ModelState::Ready, "", None));
                    if let Some(old) = slot.model.replace(m.clone()) {
                        retired.push(old);
                    }
                    slot.state = ModelState::Ready;
                    slot.reason.clear();
                    slot.files = files.clone();
                    slot.agents = agents.clone();
                }
                for (v, slot) in e.versions.iter_mut() {
                    if !wanted.contains(v) && slot.state == ModelState::Ready {
                        if let Some(old) = slot.model.take() {
                            retired.push(old);
                        }
                        slot.mark_unavailable(REASON_UNLOADED);
                    }
                }
                e.source = Some(source.clone());
                e.explicit |= explicit;
                e.overridden = !overrides.is_empty();
            });
            // The versions replaced keep serving the requests they accepted and are finalized
            // in the background once those are released: a reload never waits for them.
            for m in retired {
                let (id, v) = (id.clone(), m.version());
                m.when_finalized(move || {
                    crate::log_info!("successfully unloaded '{id}' version {v}");
                });
                m.retire();
            }
            Self::agents_load_done(&agents, true);
            crate::log_info!("successfully loaded '{id}'");
            if self.state() == ServerState::Exiting {
                // A load racing a stop that missed the stop's list of models: unload it here.
                drop(_op);
                let _ = self.unload_model_inner(id);
            }
            return Ok(());
        }
        // All or nothing: release what this load created.
        for (_, m) in &loaded {
            m.discard();
        }
        Self::agents_load_done(&agents, false);
        let mut message = String::new();
        self.repo.update(id, |e| {
            e.explicit |= explicit;
            for (v, m) in &loaded {
                if let Some(slot) = e.versions.get_mut(v) {
                    if slot.model.as_ref().is_none_or(|cur| !Arc::ptr_eq(cur, m))
                        && slot.state != ModelState::Ready
                    {
                        slot.state = ModelState::Unavailable;
                        slot.reason = REASON_UNLOADED.into();
                    }
                }
            }
            for (v, err) in &failures {
                e.fail_version(*v, err.as_status_string(), &mut message);
            }
        });
        if message.is_empty() {
            let (v, err) = &failures[0];
            message = format!("version {v} failed to reload: {}", err.as_status_string());
        }
        Err(LoadFailure::Load(Error::invalid_arg(message)))
    }

    /// A cycle of ensembles reachable from `name` in the configurations on disk, in upstream's
    /// words ("a -> ... -> z -> a"), if there is one.
    fn ensemble_cycle(&self, name: &str, cfg: &pb::ModelConfig) -> Option<String> {
        let mut path = vec![name.to_owned()];
        let mut seen = BTreeSet::new();
        self.cycle_from(cfg, &mut path, &mut seen)
    }

    fn cycle_from(
        &self,
        cfg: &pb::ModelConfig,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> Option<String> {
        for step in ensemble_steps(cfg) {
            if path.contains(&step) {
                let last = path.last().map(String::as_str).unwrap_or_default();
                return Some(format!("{step} -> ... -> {last} -> {step}"));
            }
            if !seen.insert(step.clone()) {
                continue;
            }
            // Every model of that name (one per repository with namespacing): a step may
            // resolve to any of them. Unreadable configurations are the load's to report.
            for dirs in self.repo.locate(&step, self.namespacing()).into_values() {
                for dir in dirs {
                    let Ok(src) =
                        config::load_config(&step, &dir, None, &self.config_options, false)
                    else {
                        continue;
                    };
                    if src.config.platform != mc::names::ENSEMBLE_PLATFORM {
                        continue;
                    }
                    path.push(step.clone());
                    let found = self.cycle_from(&src.config, path, seen);
                    path.pop();
                    if found.is_some() {
                        return found;
                    }
                }
            }
        }
        None
    }

    /// Load the composing models of ensemble `id` and check it against them, as upstream's
    /// dependency graph does; completes `cfg` (step namespaces, decoupled policy). A step names
    /// a model: the one in the ensemble's own namespace, else the only one of that name (with
    /// namespacing, every model of that name is loaded first, as upstream polls them all).
    fn load_composing(
        &self,
        id: &ModelId,
        cfg: &mut pb::ModelConfig,
        chain: &mut Vec<String>,
    ) -> Result<()> {
        let name = &id.name;
        let steps: Vec<String> = ensemble_steps(cfg);
        let mut missing: BTreeSet<String> = BTreeSet::new();
        type Outcome = std::result::Result<(), LoadFailure>;
        let mut outcomes: BTreeMap<ModelId, Outcome> = BTreeMap::new();
        let mut chosen: BTreeMap<String, ModelId> = BTreeMap::new();
        for step in &steps {
            if chosen.contains_key(step) || missing.contains(step) {
                continue;
            }
            if let Some(pos) = chain.iter().position(|c| c == step) {
                let start = &chain[pos];
                return Err(Error::invalid_arg(format!(
                    "circular dependency between ensembles: {start} -> ... -> {name} -> {start}"
                )));
            }
            let mut polled: Vec<ModelId> = Vec::new();
            for step_id in self.ids_to_load(step, &LoadOverrides::default()) {
                let r = self.load_tracked(&step_id, &LoadOverrides::default(), false, chain);
                if !matches!(r, Err(LoadFailure::Poll(_))) {
                    polled.push(step_id.clone());
                }
                outcomes.insert(step_id, r);
            }
            let preferred = ModelId::new(id.namespace.clone(), step.clone());
            if polled.contains(&preferred) {
                chosen.insert(step.clone(), preferred);
            } else if polled.len() == 1 {
                chosen.insert(step.clone(), polled.remove(0));
            } else {
                missing.insert(step.clone());
            }
        }
        if !missing.is_empty() {
            let list: Vec<&str> = missing.iter().map(String::as_str).collect();
            return Err(Error::invalid_arg(format!(
                "ensemble {id} contains models that are not available or ambiguous: {}",
                list.join(", ")
            )));
        }
        let table = self.repo.snapshot();
        let mut composing: BTreeMap<String, (String, Arc<pb::ModelConfig>)> = BTreeMap::new();
        for (model_name, version) in ensemble_step_list(cfg) {
            let Some(step_id) = chosen.get(&model_name) else {
                continue;
            };
            let outcome = outcomes.get(step_id);
            if let Some(Err(LoadFailure::Invalid(e))) = outcome {
                return Err(Error::invalid_arg(format!(
                    "ensemble '{id}' depends on '{step_id}' which is not valid. Model \
                     '{step_id}' failed with error: {}",
                    e.message()
                )));
            }
            let ready: BTreeSet<i64> = table
                .models
                .get(step_id)
                .map(|e| {
                    e.versions
                        .iter()
                        .filter(|(_, s)| s.state == ModelState::Ready)
                        .map(|(v, _)| *v)
                        .collect()
                })
                .unwrap_or_default();
            if ready.is_empty() {
                return Err(match outcome {
                    Some(Err(LoadFailure::Load(e))) => Error::invalid_arg(format!(
                        "ensemble '{id}' depends on '{step_id}' which has no loaded \
                         version. Model '{step_id}' loading failed with error: {}",
                        e.message()
                    )),
                    _ => Error::invalid_arg(format!(
                        "ensemble '{id}' depends on '{step_id}' which has no loaded version."
                    )),
                });
            }
            if version != -1 && !ready.contains(&version) {
                return Err(Error::invalid_arg(format!(
                    "ensemble '{id}' depends on '{step_id}' whose required version \
                     {version} is not loaded."
                )));
            }
            if !composing.contains_key(&model_name) {
                let picked = table
                    .models
                    .get(step_id)
                    .and_then(|e| e.pick(-1))
                    .and_then(|(_, s)| s.model.clone());
                if let Some(m) = picked {
                    composing.insert(model_name.clone(), (step_id.namespace.clone(), m.config()));
                }
            }
        }
        super::ensemble::validate_ensemble(name, cfg, &composing)
    }

    /// Unload a model and the ensembles that use it; with `dependents`, also the composing
    /// models of an ensemble that nothing else needs and that were not loaded by request. With
    /// namespacing, every model of that name the lifecycle tracks is unloaded, as upstream.
    fn unload_with_dependents(&self, name: &str, dependents: bool) -> Result<()> {
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

    fn unload_id_with_dependents(&self, id: &ModelId, dependents: bool) -> Result<()> {
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

    /// Create one model version and initialize it and its instances through the backend
    /// (ensembles have no backend).
    fn create_version(
        &self,
        id: &ModelId,
        name: &str,
        version: i64,
        model_dir: &Path,
        mut cfg: pb::ModelConfig,
        config_provided: bool,
    ) -> Result<Arc<Model>> {
        if cfg.platform == mc::names::ENSEMBLE_PLATFORM {
            let model = Model::new(
                name,
                version,
                model_dir,
                cfg,
                !self.options.strict_model_config,
                None,
                self.model_context(id),
            );
            model.initialize(config_provided)?;
            return Ok(model);
        }
        if cfg.backend.is_empty() {
            return Err(Error::invalid_arg(format!(
                "must specify 'backend' for '{}'",
                cfg.name
            )));
        }
        let lib = resolve_backend_library(
            name,
            &cfg.backend,
            &cfg.runtime,
            model_dir,
            version,
            Path::new(&self.options.backend_dir),
        )?;
        if let Some(rt) = &lib.runtime {
            cfg.runtime = rt.clone();
        }
        let backend_name = cfg.backend.clone();
        let backend = self.backends.get_or_create(&backend_name, &lib)?;
        let preferred = preferred_to_config(&backend.attributes().preferred_groups());
        mc::normalize_instance_group(&mut cfg, &preferred)?;
        mc::validate_instance_group(&cfg)?;
        let model = Model::new(
            name,
            version,
            model_dir,
            cfg,
            !self.options.strict_model_config,
            Some(backend),
            self.model_context(id),
        );
        model.initialize(config_provided)?;
        Ok(model)
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
    fn version_unloaded(&self, id: &ModelId, v: i64, model: &std::sync::Weak<Model>, late: bool) {
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

/// One unload in progress: it holds the model's operation lock until its versions are all
/// finalized or the exit timeout passes.
struct UnloadTicket {
    op: std::sync::Mutex<Option<OpGuard>>,
    remaining: std::sync::atomic::AtomicUsize,
}

impl UnloadTicket {
    fn one_done(&self) {
        if self
            .remaining
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            self.release();
        }
    }
    fn is_done(&self) -> bool {
        self.remaining.load(std::sync::atomic::Ordering::Acquire) == 0
    }
    fn release(&self) {
        let op = crate::engine::sync::lock(&self.op).take();
        drop(op);
    }
}

/// Whether a tracked model still counts as loaded (or loading, or failed): anything but
/// "unloaded".
fn is_live(e: &ModelEntry) -> bool {
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

/// The composing models of an ensemble whose configuration was completed by its load (step
/// namespaces set), once each, in step order.
fn ensemble_step_ids(cfg: &pb::ModelConfig) -> Vec<ModelId> {
    let mut out: Vec<ModelId> = Vec::new();
    if let Some(SchedulingChoice::EnsembleScheduling(e)) = &cfg.scheduling_choice {
        for s in &e.step {
            let id = ModelId::new(s.model_namespace.clone(), s.model_name.clone());
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

/// The composing model names of an ensemble configuration, once each, in step order.
fn ensemble_steps(cfg: &pb::ModelConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (m, _) in ensemble_step_list(cfg) {
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// (model name, required version) of every step of an ensemble configuration.
fn ensemble_step_list(cfg: &pb::ModelConfig) -> Vec<(String, i64)> {
    match &cfg.scheduling_choice {
        Some(SchedulingChoice::EnsembleScheduling(e)) => e
            .step
            .iter()
            .map(|s| (s.model_name.clone(), s.model_version))
            .collect(),
        _ => Vec::new(),
    }
}
