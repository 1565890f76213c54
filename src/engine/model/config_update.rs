//! What the core takes from a configuration a backend proposes (`TRITONBACKEND_ModelSetConfig`).

use triton_model_config as mc;
use triton_model_config::pb;
use triton_model_config::pb::model_config::SchedulingChoice;

use crate::engine::error::{Error, Result};

fn choice_number(c: &Option<SchedulingChoice>) -> u32 {
    match c {
        None => 0,
        Some(SchedulingChoice::DynamicBatching(_)) => 11,
        Some(SchedulingChoice::SequenceBatching(_)) => 13,
        Some(SchedulingChoice::EnsembleScheduling(_)) => 15,
    }
}

/// The current configuration updated with the fields a backend may complete: max_batch_size,
/// inputs, outputs, the scheduling choice when none was set (changing a set one is an error), and
/// the decoupled transaction policy. The result is normalized again.
pub fn apply_backend_update(
    current: &pb::ModelConfig,
    proposed: &pb::ModelConfig,
) -> Result<pb::ModelConfig> {
    let mut cfg = current.clone();
    cfg.max_batch_size = proposed.max_batch_size;
    cfg.input = proposed.input.clone();
    cfg.output = proposed.output.clone();
    if cfg.scheduling_choice.is_none() {
        cfg.scheduling_choice = proposed.scheduling_choice.clone();
    } else if choice_number(&cfg.scheduling_choice) != choice_number(&proposed.scheduling_choice) {
        return Err(Error::internal(format!(
            "Cannot update scheduling choice from {} to {} when auto-completing.",
            choice_number(&cfg.scheduling_choice),
            choice_number(&proposed.scheduling_choice)
        )));
    }
    if let Some(p) = &proposed.model_transaction_policy {
        cfg.model_transaction_policy
            .get_or_insert_with(Default::default)
            .decoupled = p.decoupled;
    }
    mc::normalize_model_config(&mut cfg)?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_completable_fields() {
        let current = pb::ModelConfig {
            name: "m".into(),
            backend: "b".into(),
            ..Default::default()
        };
        let proposed = pb::ModelConfig {
            name: "other".into(),
            backend: "x".into(),
            max_batch_size: 8,
            input: vec![pb::ModelInput {
                name: "IN".into(),
                ..Default::default()
            }],
            model_transaction_policy: Some(pb::ModelTransactionPolicy { decoupled: true }),
            scheduling_choice: Some(SchedulingChoice::DynamicBatching(Default::default())),
            ..Default::default()
        };
        let got = apply_backend_update(&current, &proposed).unwrap();
        assert_eq!(got.name, "m");
        assert_eq!(got.backend, "b");
        assert_eq!(got.max_batch_size, 8);
        assert_eq!(got.input.len(), 1);
        assert!(got.model_transaction_policy.unwrap().decoupled);
        match got.scheduling_choice {
            Some(SchedulingChoice::DynamicBatching(db)) => {
                assert_eq!(db.preferred_batch_size, vec![8])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn changing_scheduling_choice_is_internal_error() {
        let current = pb::ModelConfig {
            scheduling_choice: Some(SchedulingChoice::DynamicBatching(Default::default())),
            ..Default::default()
        };
        let e = apply_backend_update(&current, &pb::ModelConfig::default()).unwrap_err();
        assert_eq!(e.code(), crate::engine::Code::Internal);
    }
}
