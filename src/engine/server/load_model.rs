//! Loading one model: a poll finds its directory and reads and checks its configuration, an
//! ensemble loads its composing models first (`ensemble.rs`), the version policy picks the
//! versions, each is created and initialized through its backend, and the result is published.
//! Loads of one model are all or nothing: when a version fails, the versions loaded with it are
//! released again, while versions that were serving before keep serving. A reload retires the
//! versions it replaces without waiting for them.

use crate::engine::model::ModelContext;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Weak;

use triton_model_config as mc;
use triton_model_config::pb;
use triton_model_config::pb::model_version_policy::PolicyChoice;

use super::unload::is_live;
use super::{Server, ServerState};
use crate::engine::backend::{resolve_backend_library, PreferredGroup};
use crate::engine::error::{Error, Result};
use crate::engine::model::{Model, ModelState, REASON_UNLOADED};
use crate::engine::repository::overrides::LoadOverrides;
use crate::engine::repository::{config, version_dirs, ModelId, OverrideDir, VersionSlot};
use crate::engine::types::InstanceKind;

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

pub(super) fn preferred_to_config(groups: &[PreferredGroup]) -> Vec<pb::ModelInstanceGroup> {
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
    pub(super) fn into_error(self, name: &str, id: &ModelId) -> Error {
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
pub(super) struct Polled {
    dir: PathBuf,
    source: config::ConfigSource,
    files: Option<Arc<OverrideDir>>,
}

impl Server {
    /// Find the model's directory and read its configuration.
    pub(super) fn poll_model(
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

    /// Create one model version and initialize it and its instances through the backend
    /// (ensembles have no backend).
    pub(super) fn create_version(
        &self,
        id: &ModelId,
        name: &str,
        version: i64,
        model_dir: &Path,
        mut cfg: pb::ModelConfig,
        config_provided: bool,
    ) -> Result<Arc<Model>> {
        let create = |cfg, backend| {
            let model = Model::new(
                name,
                version,
                model_dir,
                cfg,
                !self.options.strict_model_config,
                backend,
                self.model_context(id),
            );
            model.initialize(config_provided)?;
            Ok(model)
        };
        if cfg.platform == mc::names::ENSEMBLE_PLATFORM {
            return create(cfg, None);
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
        create(cfg, Some(backend))
    }
}

impl Server {
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
            scheduler: self.options.scheduler.clone(),
        }
    }

    /// A version failed at runtime: UNAVAILABLE with the reason (it keeps its model, so an
    /// unload still retires and finalizes it).
    pub(super) fn version_faulted(&self, id: &ModelId, model: &Model, reason: &str) {
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
}
