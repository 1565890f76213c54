//! Ensembles in the lifecycle: loading the composing models first (as upstream's dependency
//! graph), finding cycles between ensembles before any lock is taken, and checking an ensemble
//! against the configurations of its loaded composing models (upstream's
//! `ValidateEnsembleConfig`), completing its configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use triton_model_config as mc;
use triton_model_config::pb;
use triton_model_config::pb::model_config::SchedulingChoice;

use super::load_model::LoadFailure;
use super::Server;
use crate::engine::error::{Error, Result};
use crate::engine::model::ModelState;
use crate::engine::repository::overrides::LoadOverrides;
use crate::engine::repository::{config, ModelId};

/// Check every step of ensemble `name` against its composing model's configuration: batch
/// sizes, and that the input and output maps name existing tensors, each required input mapped
/// once. `composing` gives, by step model name, the namespace of the model the step resolved
/// to (empty: namespacing is off) and its configuration. Sets each step's model namespace and
/// the ensemble's decoupled policy (decoupled when any composing model is).
pub fn validate_ensemble(
    name: &str,
    cfg: &mut pb::ModelConfig,
    composing: &BTreeMap<String, (String, Arc<pb::ModelConfig>)>,
) -> Result<()> {
    let max_batch = cfg.max_batch_size;
    let Some(SchedulingChoice::EnsembleScheduling(ens)) = &mut cfg.scheduling_choice else {
        return Ok(());
    };
    let mut decoupled = false;
    for step in &mut ens.step {
        let empty = pb::ModelConfig::default();
        let (namespace, model) = composing
            .get(&step.model_name)
            .map(|(ns, c)| (ns.clone(), c.as_ref()))
            .unwrap_or((String::new(), &empty));
        step.model_namespace = namespace;
        let step_name = &step.model_name;
        if model.max_batch_size != 0 && model.max_batch_size < max_batch {
            return Err(Error::invalid_arg(format!(
                "ensemble {name} allows maximum batch size {max_batch}, but it contains model \
                 {step_name} which only allows maximum batch size to be {}",
                model.max_batch_size
            )));
        }
        let inputs: BTreeSet<&str> = model.input.iter().map(|i| i.name.as_str()).collect();
        for (model_input, tensor) in &step.input_map {
            if !inputs.contains(model_input.as_str()) {
                return Err(Error::invalid_arg(format!(
                    "in ensemble {name}, ensemble tensor {tensor} is mapping to non-existing \
                     input {model_input} in model {step_name}"
                )));
            }
        }
        for input in &model.input {
            let mapped = step.input_map.keys().filter(|k| **k == input.name).count();
            if mapped == 0 && !input.optional {
                return Err(Error::invalid_arg(format!(
                    "in ensemble {name}, input {} in model {step_name} is not mapped to any \
                     ensemble tensors",
                    input.name
                )));
            }
        }
        let outputs: BTreeSet<&str> = model.output.iter().map(|o| o.name.as_str()).collect();
        for (model_output, tensor) in &step.output_map {
            if !outputs.contains(model_output.as_str()) {
                return Err(Error::invalid_arg(format!(
                    "in ensemble {name}, ensemble tensor {tensor} is mapped from non-existing \
                     output {model_output} in model {step_name}"
                )));
            }
        }
        decoupled |= model
            .model_transaction_policy
            .as_ref()
            .is_some_and(|p| p.decoupled);
    }
    cfg.model_transaction_policy = Some(pb::ModelTransactionPolicy { decoupled });
    Ok(())
}

/// The composing models of an ensemble whose configuration was completed by its load (step
/// namespaces set), once each, in step order.
pub(super) fn ensemble_step_ids(cfg: &pb::ModelConfig) -> Vec<ModelId> {
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
pub(super) fn ensemble_steps(cfg: &pb::ModelConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (m, _) in ensemble_step_list(cfg) {
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// (model name, required version) of every step of an ensemble configuration.
pub(super) fn ensemble_step_list(cfg: &pb::ModelConfig) -> Vec<(String, i64)> {
    match &cfg.scheduling_choice {
        Some(SchedulingChoice::EnsembleScheduling(e)) => e
            .step
            .iter()
            .map(|s| (s.model_name.clone(), s.model_version))
            .collect(),
        _ => Vec::new(),
    }
}

impl Server {
    /// A cycle of ensembles reachable from `name` in the configurations on disk, in upstream's
    /// words ("a -> ... -> z -> a"), if there is one.
    pub(super) fn ensemble_cycle(&self, name: &str, cfg: &pb::ModelConfig) -> Option<String> {
        let mut path = vec![name.to_owned()];
        let mut seen = BTreeSet::new();
        self.cycle_from(cfg, &mut path, &mut seen)
    }

    pub(super) fn cycle_from(
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
    pub(super) fn load_composing(
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
}
