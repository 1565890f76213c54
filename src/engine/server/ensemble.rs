//! Checking an ensemble against the configurations of its loaded composing models (upstream's
//! `ValidateEnsembleConfig`), and completing its configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use triton_model_config::pb;
use triton_model_config::pb::model_config::SchedulingChoice;

use crate::engine::error::{Error, Result};

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
