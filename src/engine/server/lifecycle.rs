//! Loading and unloading models.
//!
//! A load reads the configuration, picks versions by the version policy, creates and initializes
//! each version through its backend, and publishes the result. Loads of one model are all or
//! nothing: when a version fails, the versions loaded with it are released again, while versions
//! that were serving before keep serving. An unload marks the versions UNLOADING and finishes in
//! the background (finalizing instances, then the model), ending UNAVAILABLE with reason
//! "unloaded".

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use triton_model_config as mc;
use triton_model_config::pb;
use triton_model_config::pb::model_version_policy::PolicyChoice;

use super::{Server, ServerState};
use crate::engine::backend::{resolve_backend_library, PreferredGroup};
use crate::engine::error::{Error, Result};
use crate::engine::model::{Model, ModelState, REASON_UNLOADED};
use crate::engine::repository::{config, validate_model_name, version_dirs, OpGuard};
use crate::engine::types::{InstanceKind, ModelControlMode};

const DUPLICATE_REASON: &str = "model appears in two or more repositories";

/// The versions a policy selects among those on disk, highest first for `latest`.
fn versions_to_load(name: &str, model_dir: &Path, cfg: &pb::ModelConfig) -> Result<Vec<i64>> {
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

impl Server {
    /// Load what the control mode asks for at startup: every model (NONE, POLL) or the startup
    /// models (EXPLICIT; `*` means every model).
    pub(super) fn load_startup_models(&self) -> Result<()> {
        let on_disk: Vec<String> = self.repo.scan().into_keys().collect();
        // With a list of startup models the load error itself is returned; when loading
        // everything, only a summary (as upstream).
        let mut listed = false;
        let names: Vec<String> = match self.control_mode() {
            ModelControlMode::None | ModelControlMode::Poll => on_disk,
            ModelControlMode::Explicit => {
                if self.options.startup_models.iter().any(|m| m == "*") {
                    if self.options.startup_models.len() > 1 {
                        return Err(Error::invalid_arg(
                            "Wildcard model name '*' must be the ONLY startup model if specified at all.",
                        ));
                    }
                    on_disk
                } else {
                    listed = true;
                    self.options.startup_models.clone()
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
                    let Some(name) = names.get(i) else { break };
                    if let Err(e) = self.load_model_inner(name, None) {
                        crate::log_error!("{}", e.message().trim_end());
                        crate::engine::backend::lock(&errors).push((i, e));
                    }
                });
            }
        });
        self.log_model_table();
        let mut errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
        if errors.is_empty() {
            return Ok(());
        }
        if !listed {
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
        let mut rows = vec![(
            "Model".to_owned(),
            "Version".to_owned(),
            "Status".to_owned(),
        )];
        for (name, e) in &table.models {
            if e.versions.is_empty() && !e.reason.is_empty() {
                rows.push((
                    name.clone(),
                    "-".into(),
                    format!("UNAVAILABLE: {}", e.reason),
                ));
            }
            for (v, slot) in &e.versions {
                let status = if slot.reason.is_empty() {
                    slot.state.name().to_owned()
                } else {
                    format!("{}: {}", slot.state.name(), slot.reason)
                };
                rows.push((name.clone(), v.to_string(), status));
            }
        }
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
        let w2 = rows.iter().map(|r| r.2.len()).max().unwrap_or(0);
        let rule = format!(
            "+-{}-+-{}-+-{}-+",
            "-".repeat(w0),
            "-".repeat(w1),
            "-".repeat(w2)
        );
        let mut text = format!("\n{rule}\n");
        for (i, (a, b, c)) in rows.iter().enumerate() {
            text.push_str(&format!("| {a:w0$} | {b:w1$} | {c:w2$} |\n"));
            if i == 0 {
                text.push_str(&format!("{rule}\n"));
            }
        }
        text.push_str(&rule);
        crate::log_info!("{text}");
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
        self.load_model_inner(name, None)
    }

    /// `TRITONSERVER_ServerLoadModelWithParameters` with a `config` override (JSON).
    pub fn load_model_with_config(&self, name: &str, config_json: Option<&str>) -> Result<()> {
        self.check_explicit_allowed()?;
        self.load_model_inner(name, config_json)
    }

    /// `TRITONSERVER_ServerUnloadModel`: start unloading every version of a model. Unloading an
    /// unknown model does nothing.
    pub fn unload_model(&self, name: &str) -> Result<()> {
        self.check_explicit_allowed()?;
        self.unload_model_inner(name, true)
    }

    fn model_dir(&self, name: &str) -> Result<PathBuf> {
        let poll_error = || {
            Error::internal(format!(
                "failed to load '{name}', failed to poll from model repository"
            ))
        };
        let dirs: Vec<PathBuf> = self
            .repo
            .paths()
            .iter()
            .map(|p| p.join(name))
            .filter(|p| p.is_dir())
            .collect();
        match dirs.len() {
            0 => Err(poll_error()),
            1 => Ok(dirs.into_iter().next().unwrap_or_default()),
            _ => {
                self.repo.update(name, |e| {
                    e.reason = DUPLICATE_REASON.into();
                    e.unloaded = false;
                });
                Err(Error::internal(format!(
                    "failed to load '{name}', failed to poll from model repository: {DUPLICATE_REASON}"
                )))
            }
        }
    }

    pub(super) fn load_model_inner(&self, name: &str, config_json: Option<&str>) -> Result<()> {
        validate_model_name(name)?;
        let _op = self.repo.ops.acquire(name);
        let model_dir = self.model_dir(name)?;
        let source = match config::load_config(name, &model_dir, config_json, &self.config_options)
        {
            Ok(s) => s,
            Err(e) => {
                self.record_model_error(name, &e);
                return Err(Error::new(
                    e.code(),
                    format!(
                        "failed to load '{name}', failed to poll from model repository: {}",
                        e.message()
                    ),
                ));
            }
        };
        let versions = match versions_to_load(name, &model_dir, &source.config) {
            Ok(v) => v,
            Err(e) => {
                self.record_model_error(name, &e);
                return Err(Error::invalid_arg(format!(
                    "load failed for model '{name}': {}\n",
                    e.message()
                )));
            }
        };
        let current = self.repo.snapshot().models.get(name).cloned();
        if let Some(cur) = &current {
            let same_versions = cur
                .versions
                .iter()
                .filter(|(_, s)| s.state == ModelState::Ready)
                .map(|(v, _)| *v)
                .eq(versions.iter().copied());
            if cur.source.as_ref() == Some(&source) && same_versions && config_json.is_none() {
                return Ok(());
            }
        }
        // Publish LOADING for versions that are not serving; serving ones keep serving.
        self.repo.update(name, |e| {
            e.reason.clear();
            e.unloaded = false;
            for v in &versions {
                let slot = e.versions.entry(*v).or_insert_with(|| {
                    crate::engine::repository::VersionSlot::new(ModelState::Loading, "", None)
                });
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
            match self.create_version(name, *v, &model_dir, source.config.clone(), source.provided)
            {
                Ok(m) => loaded.push((*v, m)),
                Err(e) => failures.push((*v, e)),
            }
        }
        if failures.is_empty() {
            let wanted: BTreeSet<i64> = versions.iter().copied().collect();
            let mut retired: Vec<Arc<Model>> = Vec::new();
            self.repo.update(name, |e| {
                for (v, m) in &loaded {
                    let slot = e.versions.entry(*v).or_insert_with(|| {
                        crate::engine::repository::VersionSlot::new(ModelState::Ready, "", None)
                    });
                    if let Some(old) = slot.model.replace(m.clone()) {
                        retired.push(old);
                    }
                    slot.state = ModelState::Ready;
                    slot.reason.clear();
                }
                for (v, slot) in e.versions.iter_mut() {
                    if !wanted.contains(v) && slot.state == ModelState::Ready {
                        if let Some(old) = slot.model.take() {
                            retired.push(old);
                        }
                        slot.state = ModelState::Unavailable;
                        slot.reason = REASON_UNLOADED.into();
                    }
                }
                e.source = Some(source.clone());
            });
            for m in retired {
                m.finalize();
            }
            crate::log_info!("successfully loaded '{name}'");
            return Ok(());
        }
        // All or nothing: release what this load created.
        for (_, m) in &loaded {
            m.finalize();
        }
        let mut message = String::new();
        self.repo.update(name, |e| {
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
                let slot = e.versions.entry(*v).or_insert_with(|| {
                    crate::engine::repository::VersionSlot::new(ModelState::Unavailable, "", None)
                });
                if slot.state == ModelState::Ready {
                    // A reload that failed: the serving version stays.
                    continue;
                }
                slot.state = ModelState::Unavailable;
                slot.reason = err.as_status_string();
                slot.model = None;
                message.push_str(&format!(
                    "version {v} is at UNAVAILABLE state: {};",
                    slot.reason
                ));
            }
        });
        if message.is_empty() {
            let (v, err) = &failures[0];
            message = format!("version {v} failed to reload: {}", err.as_status_string());
        }
        crate::log_error!("failed to load '{name}': {message}");
        Err(Error::invalid_arg(format!(
            "load failed for model '{name}': {message}\n"
        )))
    }

    fn record_model_error(&self, name: &str, e: &Error) {
        self.repo.update(name, |entry| {
            if entry
                .versions
                .values()
                .all(|s| s.state != ModelState::Ready)
            {
                entry.reason = e.as_status_string();
                entry.unloaded = false;
                entry.versions.retain(|_, s| {
                    s.state == ModelState::Unavailable && s.reason == REASON_UNLOADED
                });
            }
        });
    }

    /// Create one model version and initialize it and its instances through the backend.
    fn create_version(
        &self,
        name: &str,
        version: i64,
        model_dir: &Path,
        mut cfg: pb::ModelConfig,
        config_provided: bool,
    ) -> Result<Arc<Model>> {
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
            self.weak(),
        );
        model.initialize(config_provided)?;
        Ok(model)
    }

    /// Mark every version of a model UNLOADING and finish the unload in the background (inline
    /// when `background` is false). Versions that had failed to load count as unloaded from now on.
    pub(super) fn unload_model_inner(&self, name: &str, background: bool) -> Result<()> {
        validate_model_name(name)?;
        let op = self.repo.ops.acquire(name);
        let Some(entry) = self.repo.snapshot().models.get(name).cloned() else {
            return Ok(());
        };
        let mut to_finalize: Vec<(i64, Arc<Model>)> = Vec::new();
        self.repo.update(name, |e| {
            if e.versions.is_empty() {
                e.unloaded = true;
            }
            for (v, slot) in e.versions.iter_mut() {
                match (slot.state, slot.model.clone()) {
                    (ModelState::Ready | ModelState::Loading, Some(m)) => {
                        slot.state = ModelState::Unloading;
                        slot.reason.clear();
                        to_finalize.push((*v, m));
                    }
                    _ => {
                        slot.state = ModelState::Unavailable;
                        slot.reason = REASON_UNLOADED.into();
                        slot.model = None;
                    }
                }
            }
            e.source = None;
        });
        drop(entry);
        if to_finalize.is_empty() {
            return Ok(());
        }
        let Some(server) = self.weak_self.upgrade().filter(|_| background) else {
            self.finish_unload(name, to_finalize, op);
            return Ok(());
        };
        self.repo.pending.begin();
        let owned_name = name.to_owned();
        let spawned = std::thread::Builder::new()
            .name(format!("unload-{name}"))
            .spawn(move || {
                server.finish_unload(&owned_name, to_finalize, op);
                server.repo.pending.end();
            });
        if let Err(e) = spawned {
            self.repo.pending.end();
            return Err(Error::internal(format!(
                "failed to start the unload of '{name}': {e}"
            )));
        }
        Ok(())
    }

    fn finish_unload(&self, name: &str, versions: Vec<(i64, Arc<Model>)>, op: OpGuard) {
        for (v, m) in versions {
            m.finalize();
            self.repo.update(name, |e| {
                if let Some(slot) = e.versions.get_mut(&v) {
                    if slot.model.as_ref().is_some_and(|cur| Arc::ptr_eq(cur, &m)) {
                        slot.state = ModelState::Unavailable;
                        slot.reason = REASON_UNLOADED.into();
                        slot.model = None;
                    }
                }
            });
            crate::log_info!("successfully unloaded '{name}' version {v}");
        }
        drop(op);
    }
}
