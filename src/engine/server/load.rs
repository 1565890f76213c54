//! Load requests: the API entry points that load, reload, register and poll (explicit loads,
//! startup loads and repository polling all end in `load_tracked`, see `load_model.rs`), and
//! finding the model a name means.

use std::collections::BTreeMap;
use std::path::Path;

use super::load_model::LoadFailure;
use super::unload::{in_graph, is_live};
use super::{Server, ServerState};
use crate::engine::error::{Error, Result};
use crate::engine::model::ModelState;
use crate::engine::parameters::Parameter;
use crate::engine::repository::overrides::LoadOverrides;
use crate::engine::repository::{validate_model_name, ModelId, ModelTable};
use crate::engine::types::ModelControlMode;

impl Server {
    pub(super) fn check_explicit_allowed(&self) -> Result<()> {
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
    pub(super) fn load_id_request(&self, id: &ModelId) -> Result<()> {
        self.load_logged(id, true)?;
        self.reload_kept_ensembles(id);
        Ok(())
    }

    /// Load (or reload) one model with no overrides; a failure is logged and returned.
    pub(super) fn load_logged(&self, id: &ModelId, explicit: bool) -> Result<()> {
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
    pub(super) fn reload_kept_ensembles(&self, loaded: &ModelId) {
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
    pub(super) fn ids_to_load(&self, name: &str, overrides: &LoadOverrides) -> Vec<ModelId> {
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
}
